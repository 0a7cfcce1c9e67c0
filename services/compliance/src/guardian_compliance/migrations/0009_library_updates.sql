-- Bundled control library updates reaching a matrix the company has already imported and edited.
--
-- library_state: the bundled library version compliance last compared the matrix with.
-- library_baselines: per control, the bundled definition the company last took or decided on; what
--   a newer library adds is measured against it, so an addition is proposed once, not again after
--   the company removed it or dismissed it.
-- library_updates: the reviewable notes for controls the company edited ("library update
--   available"), accepted or dismissed by an editor; a newer note on the same control supersedes
--   an open older one.
CREATE TABLE library_state (
    library    text PRIMARY KEY,
    version    text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE library_baselines (
    control_id      text PRIMARY KEY REFERENCES controls (control_id),
    library_version text NOT NULL,
    definition      jsonb NOT NULL
);

-- Controls imported before this migration: their first bundled version is their baseline.
INSERT INTO library_baselines (control_id, library_version, definition)
SELECT control_id, 'initial', definition FROM control_versions
WHERE version = 1 AND change = 'import' AND changed_by = 'guardian-default';

CREATE TABLE library_updates (
    update_id       text PRIMARY KEY,
    control_id      text NOT NULL REFERENCES controls (control_id),
    library_version text NOT NULL,
    additions       jsonb NOT NULL,
    bundled         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'accepted', 'dismissed', 'superseded')),
    created_at      timestamptz NOT NULL,
    decided_by      text,
    decided_at      timestamptz,
    note            text,
    CONSTRAINT library_updates_once UNIQUE (control_id, library_version)
);
CREATE INDEX library_updates_open ON library_updates (control_id) WHERE state = 'open';
