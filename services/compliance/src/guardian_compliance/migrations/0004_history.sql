-- Continuous-monitoring history (issue 5). Everything here is append-only and written at a scan's
-- finalisation, stamped with the compliance clock's time of that finalisation (`at`): one clock for
-- every history question (coverage, deviations, trends, drift), whatever the collector's clock said.

-- Each finalised scan (final or incomplete) as history sees it.
CREATE TABLE history_scans (
    scan_id    text PRIMARY KEY,
    account_id text NOT NULL,
    at         timestamptz NOT NULL,
    state      text NOT NULL,
    partial    boolean NOT NULL
);
CREATE INDEX history_scans_account_at ON history_scans (account_id, at);
CREATE INDEX history_scans_at ON history_scans (at);

-- Each collection unit of a finalised scan; `complete` only when the collector read it completely
-- and every snapshot of it was evaluated. Only complete units make time "monitored".
CREATE TABLE history_units (
    scan_id    text NOT NULL,
    account_id text NOT NULL,
    region     text NOT NULL,
    service    text NOT NULL,
    at         timestamptz NOT NULL,
    complete   boolean NOT NULL,
    status     text NOT NULL,
    CONSTRAINT history_units_pkey PRIMARY KEY (scan_id, region, service)
);
CREATE INDEX history_units_unit_at ON history_units (account_id, region, service, at);

-- Readiness and counts per scope and framework at each finalised scan.
CREATE TABLE history_readiness (
    scope_id     text NOT NULL,
    framework_id text NOT NULL,
    scan_id      text NOT NULL,
    at           timestamptz NOT NULL,
    score        double precision,
    passing      integer NOT NULL,
    applicable   integer NOT NULL,
    by_category  jsonb NOT NULL,
    counts       jsonb NOT NULL,
    CONSTRAINT history_readiness_pkey PRIMARY KEY (scope_id, framework_id, scan_id)
);
CREATE INDEX history_readiness_at ON history_readiness (scope_id, framework_id, at);

-- Each control's and requirement's status per scope and framework at each finalised scan.
CREATE TABLE history_statuses (
    scope_id     text NOT NULL,
    framework_id text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('control', 'requirement')),
    item_id      text NOT NULL,
    scan_id      text NOT NULL,
    at           timestamptz NOT NULL,
    status       text NOT NULL,
    CONSTRAINT history_statuses_pkey PRIMARY KEY (scope_id, framework_id, kind, item_id, scan_id)
);
CREATE INDEX history_statuses_item_at ON history_statuses (scope_id, framework_id, kind, item_id, at);
CREATE INDEX history_statuses_scan ON history_statuses (scan_id);

-- Failure intervals of findings: opened when a (check, resource) turns FAIL, closed when it passes
-- again or its resource leaves a complete collection. ERROR never closes one: not knowing is not
-- a fix. `reopened` marks an interval that follows an earlier closed one of the same finding.
CREATE TABLE finding_intervals (
    id            bigserial PRIMARY KEY,
    check_id      text NOT NULL,
    resource_arn  text NOT NULL,
    resource_type text NOT NULL,
    account_id    text NOT NULL,
    region        text NOT NULL,
    severity      text NOT NULL,
    opened_at     timestamptz NOT NULL,
    opened_scan   text NOT NULL,
    closed_at     timestamptz,
    closed_scan   text,
    closed_as     text,
    reopened      boolean NOT NULL DEFAULT false
);
-- At most one open interval per finding.
CREATE UNIQUE INDEX finding_intervals_open ON finding_intervals (check_id, resource_arn) WHERE closed_at IS NULL;
CREATE INDEX finding_intervals_check_time ON finding_intervals (check_id, opened_at);
CREATE INDEX finding_intervals_opened_scan ON finding_intervals (opened_scan);
CREATE INDEX finding_intervals_closed_scan ON finding_intervals (closed_scan) WHERE closed_scan IS NOT NULL;
CREATE INDEX finding_intervals_arn ON finding_intervals (resource_arn, check_id);

-- Population and drift lookups: configurations by scan, a scan's evaluations by collection unit
-- (a population reads one unit's resources from its newest complete scan).
CREATE INDEX resource_configs_scan ON resource_configs (scan_id);
CREATE INDEX evaluations_unit ON evaluations (scan_id, collection_region, service);
CREATE INDEX finding_events_scan ON finding_events (scan_id, resource_arn);
