-- Browser sessions. The cookie carries a random session id; only its SHA-256 is kept here, so a
-- read of this table cannot be replayed as a cookie. A session made from an API key points at the
-- key, and ends when the key is revoked or expires; one made through OpenID Connect carries the
-- role the provider's claims mapped to, fixed for the session's life.
CREATE TABLE sessions (
    id_hash      text PRIMARY KEY,
    source       text NOT NULL CONSTRAINT sessions_source_check CHECK (source IN ('api_key', 'oidc')),
    -- No foreign key: keys are revoked, never deleted, and a session whose key row is gone is
    -- refused anyway (the join finds no key), so nothing needs the constraint's coupling.
    key_id       text,
    subject      text NOT NULL,
    role         text NOT NULL CONSTRAINT sessions_role_check CHECK (role IN ('admin', 'editor', 'auditor')),
    name         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    ended_reason text,
    CONSTRAINT sessions_key_check CHECK ((source = 'api_key') = (key_id IS NOT NULL))
);
CREATE INDEX sessions_open_by_key ON sessions (key_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- OpenID Connect logins between the redirect to the provider and its callback: single use, short
-- lived. The state is also kept in a cookie of the browser that started the login, so a callback
-- URL made for someone else's login does not sign this browser in.
CREATE TABLE oidc_logins (
    state_hash    text PRIMARY KEY,
    nonce         text NOT NULL,
    code_verifier text NOT NULL,
    next_path     text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX oidc_logins_expires_at ON oidc_logins (expires_at);
