-- The gateway's domain events (audit entries for keys, webhook changes), written in the transaction
-- of the change and relayed to NATS; same shape as every service's outbox (guardian_common.outbox).
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_type   text NOT NULL,
    dedupe_key   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz,
    CONSTRAINT outbox_dedupe_key UNIQUE (dedupe_key)
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
