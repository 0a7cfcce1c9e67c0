-- Webhook subscriptions, their deliveries (one per subscription and domain event) and every attempt.
-- The signing secret is kept as given to the subscriber (whsec_...): signing needs the secret itself,
-- so unlike API keys it cannot be stored as a hash; the API shows it only when it is created.
CREATE TABLE webhook_subscriptions (
    id                   text PRIMARY KEY,
    url                  text NOT NULL,
    event_types          text[] NOT NULL,
    secret               text NOT NULL,
    description          text NOT NULL DEFAULT '',
    enabled              boolean NOT NULL,
    created_by           text NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    disabled_at          timestamptz,
    disabled_reason      text,
    -- Since when every attempt has failed (NULL after a success), and how many attempts in a row.
    failing_since        timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0
);

CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    subscription_id  text NOT NULL
        CONSTRAINT webhook_deliveries_subscription_fkey REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- The domain event's id, sent as webhook-id on every attempt (a ping has an id of its own).
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    kind             text NOT NULL CONSTRAINT webhook_deliveries_kind_check CHECK (kind IN ('event', 'ping')),
    body             text NOT NULL,
    status           text NOT NULL
        CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    -- Attempts since the delivery was (re)scheduled: the position in the retry schedule.
    round_attempts   integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    -- Set when a worker claims the delivery; a worker that lost its claim does not overwrite the state.
    lease_token      text,
    created_at       timestamptz NOT NULL,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    CONSTRAINT webhook_deliveries_subscription_event_key UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, created_at DESC);

CREATE TABLE webhook_attempts (
    id               bigserial PRIMARY KEY,
    delivery_id      text NOT NULL
        CONSTRAINT webhook_attempts_delivery_fkey REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    attempted_at     timestamptz NOT NULL,
    succeeded        boolean NOT NULL,
    status_code      integer,
    error            text,
    duration_ms      integer NOT NULL,
    response_excerpt text
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
