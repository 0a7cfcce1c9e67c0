-- Accounts as the scans announce them (name and environment from the collector's registry), so a
-- scope can select accounts by environment ("production only") and posture can be broken down per
-- account and per environment.
CREATE TABLE accounts (
    account_id  text PRIMARY KEY,
    name        text,
    environment text,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
CREATE INDEX accounts_environment ON accounts (environment);

-- A scope's boundary may name account environments; empty selects accounts of any environment.
ALTER TABLE scopes ADD COLUMN environments text[] NOT NULL DEFAULT '{}';
