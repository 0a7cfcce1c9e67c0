-- Each evidence item's versions as compliance learns them from the evidence service's events:
-- when a version was uploaded, accepted (the review time) or rejected, the validity its acceptance
-- gave it, when a newer accepted version superseded it and when its item was deleted. The item's
-- type, controls and period stay in evidence_items (one row per item, newest state).
--
-- Rows are merged, never overwritten: review facts are immutable in the evidence service, so each
-- column keeps the first value learnt (accepted_at the earliest, see below) and a redelivered or
-- out-of-order event changes nothing. superseded_at is recomputed from the item's accepted rows.
--
-- accepted_at is exact (accepted_at_exact) when an event carried the review time; an event that only
-- reports a version as the item's accepted one gives an upper bound (the acceptance happened no
-- later than that event), so occurrence coverage is never judged earlier than it happened.
CREATE TABLE evidence_versions (
    item_id           text NOT NULL,
    version           integer NOT NULL CONSTRAINT evidence_versions_version_positive CHECK (version > 0),
    uploaded_at       timestamptz,
    accepted_at       timestamptz,
    accepted_at_exact boolean NOT NULL DEFAULT false,
    rejected_at       timestamptz,
    valid_from        timestamptz,
    valid_until       timestamptz,
    superseded_at     timestamptz,
    deleted_at        timestamptz,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (item_id, version),
    CONSTRAINT evidence_versions_one_decision CHECK (accepted_at IS NULL OR rejected_at IS NULL)
);
CREATE INDEX evidence_versions_accepted ON evidence_versions (item_id) WHERE accepted_at IS NOT NULL;

-- Acceptances known before this table existed: the newest event reported them, so its time is
-- their upper bound.
INSERT INTO evidence_versions (item_id, version, accepted_at, valid_until, deleted_at, updated_at)
SELECT item_id, accepted_version, occurred_at, valid_until,
       CASE WHEN status = 'deleted' THEN occurred_at END, updated_at
FROM evidence_items
WHERE accepted_version IS NOT NULL;
