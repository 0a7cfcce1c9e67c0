CREATE TABLE scans (
    scan_id        text PRIMARY KEY,
    account_id     text NOT NULL,
    regions        text[] NOT NULL,
    services       text[] NOT NULL,
    scope_key      text NOT NULL,
    state          text NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'abandoned')),
    requested_by   text,
    started_at     timestamptz NOT NULL,
    completed_at   timestamptz,
    heartbeat_at   timestamptz NOT NULL,
    published      integer NOT NULL DEFAULT 0,
    error          text
);
-- One running scan per scope (DESIGN.md): a second request for the same scope is refused.
CREATE UNIQUE INDEX scans_one_running_per_scope ON scans (scope_key) WHERE state = 'running';
CREATE INDEX scans_started ON scans (started_at DESC);

CREATE TABLE scan_units (
    scan_id     text NOT NULL REFERENCES scans (scan_id),
    region      text NOT NULL,
    service     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'complete', 'partial', 'failed')),
    snapshots   integer NOT NULL DEFAULT 0,
    errors      integer NOT NULL DEFAULT 0,
    first_error text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scan_id, region, service)
);

CREATE TABLE collection_errors (
    scan_id      text NOT NULL REFERENCES scans (scan_id),
    n            integer NOT NULL,
    region       text NOT NULL,
    service      text NOT NULL,
    operation    text NOT NULL,
    error_code   text NOT NULL,
    message      text NOT NULL,
    resource_arn text,
    PRIMARY KEY (scan_id, n)
);
