-- Evidence items, their immutable versions, one review per version, tombstones of deleted items,
-- and the outbox their events leave through.

CREATE TABLE items (
    item_id       text PRIMARY KEY,
    title         text NOT NULL CONSTRAINT items_title_not_blank CHECK (length(btrim(title)) > 0),
    description   text NOT NULL DEFAULT '',
    evidence_type text NOT NULL CONSTRAINT items_evidence_type_known CHECK (evidence_type IN (
        'policy', 'procedure', 'training_record', 'vendor_assessment', 'access_review',
        'screenshot', 'minutes', 'report', 'other')),
    owner         text NOT NULL CONSTRAINT items_owner_not_blank CHECK (length(btrim(owner)) > 0),
    control_ids   text[] NOT NULL CONSTRAINT items_control_ids_not_empty CHECK (cardinality(control_ids) > 0),
    frequency     text NOT NULL CONSTRAINT items_frequency_known CHECK (frequency IN (
        'continuous', 'daily', 'weekly', 'monthly', 'quarterly', 'annual')),
    period_label  text,
    period_start  date,
    period_end    date,
    -- Set by an admin when the item backs a reported (locked) audit period: no deletion until then.
    locked_until  date,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT items_period_ordered CHECK (period_start IS NULL OR period_end IS NULL OR period_start <= period_end)
);
CREATE INDEX items_control_ids_idx ON items USING gin (control_ids);
CREATE INDEX items_created_at_idx ON items (created_at DESC);

CREATE TABLE versions (
    item_id         text NOT NULL REFERENCES items (item_id) ON DELETE CASCADE,
    version         integer NOT NULL CONSTRAINT versions_version_positive CHECK (version > 0),
    backend         text NOT NULL,
    storage_key     text NOT NULL CONSTRAINT versions_storage_key_unique UNIQUE,
    filename        text NOT NULL,
    media_type      text NOT NULL,
    size_bytes      bigint NOT NULL CONSTRAINT versions_size_positive CHECK (size_bytes > 0),
    sha256          text NOT NULL CONSTRAINT versions_sha256_hex CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by     text NOT NULL,
    uploaded_by_key text NOT NULL,
    uploaded_at     timestamptz NOT NULL,
    PRIMARY KEY (item_id, version)
);

CREATE TABLE reviews (
    item_id      text NOT NULL,
    version      integer NOT NULL,
    decision     text NOT NULL CONSTRAINT reviews_decision_known CHECK (decision IN ('accepted', 'rejected')),
    comment      text NOT NULL CONSTRAINT reviews_comment_not_blank CHECK (length(btrim(comment)) > 0),
    reviewer     text NOT NULL,
    reviewer_key text NOT NULL,
    reviewed_at  timestamptz NOT NULL,
    -- Accepted versions only: from when and until when the version counts.
    valid_from   timestamptz,
    valid_until  timestamptz,
    PRIMARY KEY (item_id, version),
    FOREIGN KEY (item_id, version) REFERENCES versions (item_id, version) ON DELETE CASCADE,
    CONSTRAINT reviews_validity_iff_accepted CHECK (
        (decision = 'accepted') = (valid_from IS NOT NULL AND valid_until IS NOT NULL))
);

-- Versions and reviews are history: rows may be removed with their deleted item, never changed.
CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER versions_immutable BEFORE UPDATE ON versions FOR EACH ROW EXECUTE FUNCTION refuse_update();
CREATE TRIGGER reviews_immutable BEFORE UPDATE ON reviews FOR EACH ROW EXECUTE FUNCTION refuse_update();

-- What remains of a deleted item: who deleted it, when, why, and what it held (hashes included).
CREATE TABLE tombstones (
    item_id    text PRIMARY KEY,
    deleted_by text NOT NULL,
    deleted_by_key text NOT NULL,
    deleted_at timestamptz NOT NULL,
    reason     text NOT NULL CONSTRAINT tombstones_reason_not_blank CHECK (length(btrim(reason)) > 0),
    item       jsonb NOT NULL
);

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_type   text NOT NULL,
    dedupe_key   text NOT NULL CONSTRAINT outbox_dedupe_key UNIQUE,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
