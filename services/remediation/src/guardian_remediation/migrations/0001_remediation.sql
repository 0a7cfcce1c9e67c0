-- The Action Centre: plans (one action, its parameters, the resources it fixes), approvals of a
-- plan's content hash, executions and their per-resource results, verifications; and the outbox.

CREATE TABLE plans (
    plan_id          text PRIMARY KEY,
    action_id        text NOT NULL,
    action_version   integer NOT NULL,
    parameters       jsonb NOT NULL,
    check_id         text NOT NULL,
    selection        jsonb NOT NULL,
    state            text NOT NULL CHECK (state IN ('proposed', 'approved', 'rejected', 'executing', 'executed',
                                                    'verifying', 'verified', 'verification_failed')),
    content_hash     text NOT NULL,
    requested_by     jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    verification_scan_id text,
    verification     jsonb
);
CREATE INDEX plans_created ON plans (created_at DESC);

-- One row per resource of a plan: what was read, the exact calls, the expected result.
CREATE TABLE plan_items (
    plan_id          text NOT NULL REFERENCES plans (plan_id),
    position         integer NOT NULL,
    resource_arn     text NOT NULL,
    resource_name    text NOT NULL,
    resource_type    text NOT NULL,
    account_id       text NOT NULL,
    region           text NOT NULL,
    disposition      text NOT NULL CHECK (disposition IN ('fix', 'already_compliant', 'manual', 'unreadable')),
    state_before     jsonb,
    state_hash       text,
    calls            jsonb NOT NULL,
    steps            jsonb NOT NULL,
    expected         text NOT NULL,
    warnings         jsonb NOT NULL,
    PRIMARY KEY (plan_id, position),
    UNIQUE (plan_id, resource_arn)
);

CREATE TABLE approvals (
    approval_id      text PRIMARY KEY,
    plan_id          text NOT NULL REFERENCES plans (plan_id),
    decision         text NOT NULL CHECK (decision IN ('approved', 'rejected')),
    content_hash     text NOT NULL,
    decided_by       jsonb NOT NULL,
    self_approved    boolean NOT NULL DEFAULT false,
    reason           text,
    decided_at       timestamptz NOT NULL,
    expires_at       timestamptz
);
-- A plan is decided once.
CREATE UNIQUE INDEX approvals_one_per_plan ON approvals (plan_id);

CREATE TABLE executions (
    execution_id     text PRIMARY KEY,
    plan_id          text NOT NULL UNIQUE REFERENCES plans (plan_id),
    approval_id      text NOT NULL REFERENCES approvals (approval_id),
    executed_by      jsonb NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    summary          jsonb
);

CREATE TABLE results (
    execution_id     text NOT NULL REFERENCES executions (execution_id),
    position         integer NOT NULL,
    resource_arn     text NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('fixed', 'already_compliant', 'skipped_changed', 'manual',
                                                      'unreadable', 'failed')),
    detail           text NOT NULL,
    calls_made       jsonb NOT NULL,
    state_after      jsonb,
    at               timestamptz NOT NULL,
    PRIMARY KEY (execution_id, position)
);

CREATE TABLE verifications (
    plan_id          text NOT NULL REFERENCES plans (plan_id),
    resource_arn     text NOT NULL,
    check_id         text NOT NULL,
    status           text NOT NULL,
    reason           text NOT NULL,
    scan_id          text NOT NULL,
    at               timestamptz NOT NULL,
    PRIMARY KEY (plan_id, resource_arn, check_id)
);

-- Domain events and audit entries leave through the outbox (guardian_common.outbox.OUTBOX_DDL).
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
