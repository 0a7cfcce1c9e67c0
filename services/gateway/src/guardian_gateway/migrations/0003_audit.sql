-- The central audit chain: every service's audit entries (audit.recorded events from their outboxes),
-- appended in order, each carrying the hash of the one before it. seq has no gaps: appends are
-- serialised by an advisory lock and seq is the previous seq plus one.
CREATE TABLE audit_log (
    seq          bigint PRIMARY KEY,
    entry_id     text NOT NULL,
    source       text NOT NULL,
    actor        jsonb NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text NOT NULL,
    before       jsonb,
    after        jsonb,
    at           timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    prev_hash    text NOT NULL,
    hash         text NOT NULL,
    CONSTRAINT audit_log_entry_id UNIQUE (entry_id),
    CONSTRAINT audit_log_seq_positive CHECK (seq > 0)
);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target_id, seq);
CREATE INDEX audit_log_actor ON audit_log ((actor ->> 'id'), seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only by construction: the application never updates or deletes an entry. The hash chain
-- (and the exported heads) catch whoever disables these triggers; they stop accidents.
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Which chain heads were exported, and where: so the scheduled export (on any replica) writes each
-- head once, and an operator can see when the last one left.
CREATE TABLE audit_head_exports (
    seq          bigint NOT NULL,
    destination  text NOT NULL,
    hash         text NOT NULL,
    exported_at  timestamptz NOT NULL,
    CONSTRAINT audit_head_exports_pkey PRIMARY KEY (destination, seq)
);
