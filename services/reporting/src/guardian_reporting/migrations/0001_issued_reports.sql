-- Append-only register of every report and auditor package this deployment issued: for which scope,
-- framework and window, in which format, by whom, and the SHA-256 of exactly what was handed out, so a
-- report shown later can be matched to its issue.
CREATE TABLE issued_reports (
    id           bigserial PRIMARY KEY,
    scope_id     text NOT NULL,
    framework_id text NOT NULL,
    period       text,
    at_time      timestamptz,
    format       text NOT NULL,
    table_name   text,
    filename     text NOT NULL,
    sha256       text NOT NULL,
    size_bytes   bigint NOT NULL,
    generated_by text NOT NULL,
    generated_at timestamptz NOT NULL
);
CREATE INDEX issued_reports_scope ON issued_reports (scope_id, generated_at DESC);
CREATE INDEX issued_reports_sha256 ON issued_reports (sha256);
