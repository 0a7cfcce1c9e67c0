-- The accounts registry: every AWS account Guardian scans, with the role it assumes there.
-- Nothing is deleted: an account closed in AWS Organizations, or retired by a person, keeps its row
-- (state 'retired', with the reason) so its history still has a name.
CREATE TABLE accounts (
    account_id            text PRIMARY KEY CHECK (account_id ~ '^[0-9]{12}$'),
    name                  text NOT NULL,
    -- NULL: the collector's own credentials reach this account (the account it runs in).
    role_arn              text,
    external_id           text,
    environment           text,
    tags                  jsonb NOT NULL DEFAULT '{}',
    -- NULL: every region enabled in the account, discovered at scan time.
    regions               text[],
    exclude_regions       text[] NOT NULL DEFAULT '{}',
    services              text[],
    exclude_services      text[] NOT NULL DEFAULT '{}',
    source                text NOT NULL CHECK (source IN ('manual', 'organizations')),
    management_account_id text,
    org_status            text,
    state                 text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
    retired_reason        text,
    retired_at            timestamptz,
    created_by            text,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX accounts_active ON accounts (environment) WHERE state = 'active';

-- Append-only: every registration, change, retirement and reactivation of an account.
CREATE TABLE account_events (
    id         bigserial PRIMARY KEY,
    account_id text NOT NULL,
    action     text NOT NULL,
    actor      text,
    detail     jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL
);
CREATE INDEX account_events_account ON account_events (account_id, at);
