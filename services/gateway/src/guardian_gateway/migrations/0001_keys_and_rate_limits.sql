-- API keys are owned by the gateway. Only the SHA-256 of a key's secret part is kept: the key itself
-- is shown once, when it is created.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'editor', 'auditor')),
    secret_hash  text NOT NULL,
    prefix       text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- Fixed-window request counters shared by every gateway replica: one row per key and window.
CREATE TABLE rate_limit_windows (
    key_id       text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL,
    CONSTRAINT rate_limit_windows_pkey PRIMARY KEY (key_id, window_start)
);
CREATE INDEX rate_limit_windows_window_start ON rate_limit_windows (window_start);
