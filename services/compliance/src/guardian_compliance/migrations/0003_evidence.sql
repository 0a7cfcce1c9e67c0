-- What compliance knows about evidence items, as told by the evidence service's domain events.
-- One row per item holding the state carried by the newest event applied; `occurred_at` (and the
-- outbox number inside `last_event_id` for events of the same instant) decides what is newer, so
-- a redelivered or out-of-order event never moves an item back. A deleted item keeps its row with
-- `counts` false and status 'deleted'.
CREATE TABLE evidence_items (
    item_id          text PRIMARY KEY,
    title            text NOT NULL,
    evidence_type    text NOT NULL,
    owner            text,
    control_ids      text[] NOT NULL DEFAULT '{}',
    status           text NOT NULL,
    counts           boolean NOT NULL,
    accepted_version integer,
    latest_version   integer,
    valid_until      timestamptz,
    period           jsonb NOT NULL DEFAULT '{}',
    updated_at       timestamptz NOT NULL,
    last_event_id    text NOT NULL,
    occurred_at      timestamptz NOT NULL
);
CREATE INDEX evidence_items_controls ON evidence_items USING GIN (control_ids);
