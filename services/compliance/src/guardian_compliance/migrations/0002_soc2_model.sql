-- The SOC 2 model: scopes with their audit periods, the editable control matrix, risk acceptances,
-- domain events leaving through an outbox, and stored results per scope with their versions.

-- A scope: categories in the report, the system boundary, carve-outs, complementary user-entity
-- controls and not-applicable marks. `version` grows with every edit; scope_versions keeps each one.
CREATE TABLE scopes (
    scope_id                 text PRIMARY KEY,
    name                     text NOT NULL,
    categories               text[] NOT NULL,
    account_ids              text[] NOT NULL DEFAULT '{}',
    regions                  text[] NOT NULL DEFAULT '{}',
    tag_filters              jsonb NOT NULL DEFAULT '{}',
    subservice_organisations jsonb NOT NULL DEFAULT '[]',
    user_entity_controls     jsonb NOT NULL DEFAULT '[]',
    not_applicable           jsonb NOT NULL DEFAULT '[]',
    version                  integer NOT NULL DEFAULT 1,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    CONSTRAINT scopes_security_required CHECK ('security' = ANY(categories))
);

-- Append-only: who changed which scope when, and what it looked like before and after.
CREATE TABLE scope_versions (
    scope_id   text NOT NULL REFERENCES scopes (scope_id),
    version    integer NOT NULL,
    change     text NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL,
    before     jsonb,
    after      jsonb NOT NULL,
    CONSTRAINT scope_versions_pkey PRIMARY KEY (scope_id, version)
);

CREATE TABLE audit_periods (
    period_id   text PRIMARY KEY,
    scope_id    text NOT NULL REFERENCES scopes (scope_id),
    name        text NOT NULL,
    start_date  date NOT NULL,
    end_date    date NOT NULL,
    report_type text NOT NULL CHECK (report_type IN ('type1', 'type2')),
    locked_at   timestamptz,
    locked_by   text,
    created_at  timestamptz NOT NULL,
    CONSTRAINT audit_periods_dates CHECK (end_date >= start_date)
);
CREATE INDEX audit_periods_scope ON audit_periods (scope_id, start_date);

-- The control matrix: the current definition of each control, and every version it has had.
CREATE TABLE controls (
    control_id  text PRIMARY KEY,
    title       text NOT NULL,
    description text NOT NULL,
    owner       text NOT NULL,
    frequency   text NOT NULL,
    mappings    jsonb NOT NULL,
    checks      text[] NOT NULL DEFAULT '{}',
    evidence    jsonb NOT NULL DEFAULT '[]',
    state       text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
    version     integer NOT NULL,
    origin      text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE control_versions (
    control_id text NOT NULL REFERENCES controls (control_id),
    version    integer NOT NULL,
    change     text NOT NULL,
    definition jsonb NOT NULL,
    state      text NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL,
    note       text,
    CONSTRAINT control_versions_pkey PRIMARY KEY (control_id, version)
);

-- Risk acceptances ("exceptions" in the interface). A decision is recorded once; history is in
-- acceptance_events. In force: approved and starts_at <= now < expires_at.
CREATE TABLE acceptances (
    acceptance_id        text PRIMARY KEY,
    control_id           text,
    check_id             text,
    arn_pattern          text,
    account_id           text,
    region               text,
    tag_key              text,
    tag_value            text,
    justification        text NOT NULL CHECK (length(btrim(justification)) > 0),
    compensating_control text NOT NULL CHECK (length(btrim(compensating_control)) > 0),
    requested_by         text NOT NULL,
    requested_at         timestamptz NOT NULL,
    starts_at            timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    state                text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by           text,
    decided_at           timestamptz,
    decision_note        text,
    CONSTRAINT acceptances_selector CHECK (
        num_nonnulls(control_id, check_id, arn_pattern, account_id, region, tag_key) > 0),
    CONSTRAINT acceptances_window CHECK (expires_at > starts_at),
    CONSTRAINT acceptances_other_approver CHECK (decided_by IS NULL OR state <> 'approved'
        OR decided_by <> requested_by)
);
CREATE INDEX acceptances_in_force ON acceptances (expires_at) WHERE state = 'approved';

CREATE TABLE acceptance_events (
    id            bigserial PRIMARY KEY,
    acceptance_id text NOT NULL REFERENCES acceptances (acceptance_id),
    action        text NOT NULL,
    actor         text NOT NULL,
    at            timestamptz NOT NULL,
    note          text
);

-- Domain events, written in the transaction of the change that caused them and relayed to NATS.
-- dedupe_key makes "emit once" a unique-key fact (expiry and warnings are detected by polling).
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

-- Append-only: the posture of each subscribed framework for each scope at each final scan, with
-- every version that produced it (framework, controls, checks, scope, acceptances in force).
CREATE TABLE scope_results (
    scan_id           text NOT NULL,
    framework_id      text NOT NULL,
    scope_id          text NOT NULL,
    scope_version     integer NOT NULL,
    framework_version text NOT NULL,
    library_version   text NOT NULL,
    catalogue_version text,
    versions          jsonb NOT NULL,
    computed_at       timestamptz NOT NULL,
    readiness         jsonb NOT NULL,
    requirements      jsonb NOT NULL,
    controls          jsonb NOT NULL,
    deviations        jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT scope_results_pkey PRIMARY KEY (scan_id, framework_id, scope_id)
);
CREATE INDEX scope_results_latest ON scope_results (framework_id, scope_id, computed_at DESC);

ALTER TABLE framework_results ADD COLUMN versions jsonb;
