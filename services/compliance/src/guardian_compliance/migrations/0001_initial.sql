-- Check catalogues as the evaluator published them; each version kept (results name theirs).
CREATE TABLE catalogues (
    catalogue_version text PRIMARY KEY,
    received_at       timestamptz NOT NULL DEFAULT now(),
    checks            jsonb NOT NULL
);

-- Scans as compliance sees them: from ScanStarted to final (or incomplete).
CREATE TABLE scans (
    scan_id          text PRIMARY KEY,
    account_id       text,
    regions          text[] NOT NULL DEFAULT '{}',
    services         text[] NOT NULL DEFAULT '{}',
    started_at       timestamptz,
    collected_at     timestamptz,
    total_snapshots  integer,
    evaluated        integer NOT NULL DEFAULT 0,
    state            text NOT NULL DEFAULT 'collecting'
                     CHECK (state IN ('collecting', 'evaluating', 'final', 'incomplete')),
    partial          boolean NOT NULL DEFAULT false,
    missing          jsonb,
    finalised_at     timestamptz,
    catalogue_version text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scans_open ON scans (created_at) WHERE state IN ('collecting', 'evaluating');
CREATE INDEX scans_final ON scans (finalised_at DESC) WHERE state IN ('final', 'incomplete');

CREATE TABLE scan_units (
    scan_id     text NOT NULL,
    region      text NOT NULL,
    service     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('complete', 'partial', 'failed')),
    snapshots   integer NOT NULL,
    errors      integer NOT NULL,
    first_error text,
    PRIMARY KEY (scan_id, region, service)
);

CREATE TABLE collection_errors (
    event_id     text PRIMARY KEY,
    scan_id      text NOT NULL,
    account_id   text NOT NULL,
    region       text NOT NULL,
    service      text NOT NULL,
    operation    text NOT NULL,
    error_code   text NOT NULL,
    message      text NOT NULL,
    resource_arn text,
    observed_at  timestamptz NOT NULL
);
CREATE INDEX collection_errors_scan ON collection_errors (scan_id);

-- One row per (scan, seq): the unique key that makes a redelivered evaluation a no-op.
CREATE TABLE evaluations (
    scan_id           text NOT NULL,
    seq               integer NOT NULL,
    arn               text,
    resource_type     text,
    account_id        text,
    region            text,
    collection_region text,
    service           text,
    observed_at       timestamptz,
    source            text NOT NULL CHECK (source IN ('evaluator', 'dead_letter', 'deadline')),
    catalogue_version text,
    PRIMARY KEY (scan_id, seq)
);
CREATE INDEX evaluations_arn ON evaluations (scan_id, arn);

-- Append-only: every verdict of every scan.
CREATE TABLE scan_results (
    scan_id       text NOT NULL,
    check_id      text NOT NULL,
    resource_arn  text NOT NULL,
    check_version integer NOT NULL,
    status        text NOT NULL,
    severity      text NOT NULL,
    reason        text NOT NULL,
    PRIMARY KEY (scan_id, check_id, resource_arn)
);

-- The current verdict per (check, resource); applied only when newer than what is stored.
CREATE TABLE findings (
    check_id          text NOT NULL,
    resource_arn      text NOT NULL,
    resource_type     text NOT NULL,
    resource_name     text NOT NULL,
    account_id        text NOT NULL,
    region            text NOT NULL,
    collection_region text NOT NULL,
    service           text NOT NULL,
    status            text NOT NULL CHECK (status IN ('PASS', 'FAIL', 'ERROR')),
    severity          text NOT NULL,
    reason            text NOT NULL,
    evidence          jsonb NOT NULL DEFAULT '{}',
    check_version     integer NOT NULL,
    observed_at       timestamptz NOT NULL,
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    status_since      timestamptz NOT NULL,
    last_scan_id      text NOT NULL,
    state             text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'stale', 'closed')),
    closed_at         timestamptz,
    closed_reason     text,
    PRIMARY KEY (check_id, resource_arn)
);
CREATE INDEX findings_status ON findings (status) WHERE state <> 'closed';
CREATE INDEX findings_unit ON findings (account_id, collection_region, service) WHERE state <> 'closed';
CREATE INDEX findings_type ON findings (resource_type);

-- Append-only: each change of a finding's status (open, resolved, reopened, closed).
CREATE TABLE finding_events (
    id           bigserial PRIMARY KEY,
    check_id     text NOT NULL,
    resource_arn text NOT NULL,
    scan_id      text NOT NULL,
    old_status   text,
    new_status   text NOT NULL,
    reason       text NOT NULL,
    at           timestamptz NOT NULL
);
CREATE INDEX finding_events_key ON finding_events (check_id, resource_arn, at);

-- Inventory: resources with their latest normalised configuration, and every configuration seen.
CREATE TABLE resources (
    arn               text PRIMARY KEY,
    resource_type     text NOT NULL,
    name              text NOT NULL,
    account_id        text NOT NULL,
    region            text NOT NULL,
    collection_region text NOT NULL,
    service           text NOT NULL,
    tags              jsonb NOT NULL DEFAULT '{}',
    config_hash       text NOT NULL,
    configuration     jsonb NOT NULL,
    observed_at       timestamptz NOT NULL,
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    last_scan_id      text NOT NULL,
    state             text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'stale', 'closed')),
    closed_at         timestamptz
);
CREATE INDEX resources_unit ON resources (account_id, collection_region, service) WHERE state <> 'closed';

CREATE TABLE resource_configs (
    arn           text NOT NULL,
    config_hash   text NOT NULL,
    observed_at   timestamptz NOT NULL,
    scan_id       text NOT NULL,
    configuration jsonb NOT NULL,
    PRIMARY KEY (arn, observed_at)
);

CREATE TABLE dead_letters (
    event_id         text PRIMARY KEY,
    consumer         text NOT NULL,
    source_subject   text NOT NULL,
    reason           text NOT NULL,
    scan_id          text,
    seq              integer,
    arn              text,
    resource_type    text,
    dead_lettered_at timestamptz NOT NULL,
    payload_excerpt  text NOT NULL DEFAULT ''
);

CREATE TABLE subscriptions (
    framework_id  text PRIMARY KEY,
    subscribed_at timestamptz NOT NULL DEFAULT now(),
    subscribed_by text
);

-- Append-only: the posture of each subscribed framework at each final scan, with the versions
-- of checks, mappings and framework that produced it.
CREATE TABLE framework_results (
    scan_id           text NOT NULL,
    framework_id      text NOT NULL,
    framework_version text NOT NULL,
    library_version   text NOT NULL,
    catalogue_version text,
    computed_at       timestamptz NOT NULL,
    readiness         jsonb NOT NULL,
    requirements      jsonb NOT NULL,
    controls          jsonb NOT NULL,
    PRIMARY KEY (scan_id, framework_id)
);
CREATE INDEX framework_results_latest ON framework_results (framework_id, computed_at DESC);
