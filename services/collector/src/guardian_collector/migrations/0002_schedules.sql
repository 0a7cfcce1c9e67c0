-- Scheduled scans. A schedule fires once per due time whatever the number of collector replicas:
-- the due row is claimed with FOR UPDATE SKIP LOCKED and each firing is a unique (schedule, due_at).
CREATE TABLE schedules (
    schedule_id  text PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    cron         text NOT NULL,
    timezone     text NOT NULL DEFAULT 'UTC',
    regions      text[],
    services     text[],
    enabled      boolean NOT NULL DEFAULT true,
    next_run_at  timestamptz NOT NULL,
    created_by   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled;

CREATE TABLE schedule_runs (
    schedule_id text NOT NULL REFERENCES schedules (schedule_id) ON DELETE CASCADE,
    due_at      timestamptz NOT NULL,
    fired_at    timestamptz NOT NULL,
    scan_id     text,
    outcome     text NOT NULL,
    detail      text,
    PRIMARY KEY (schedule_id, due_at)
);
