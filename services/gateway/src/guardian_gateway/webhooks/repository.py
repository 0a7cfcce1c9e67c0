"""Every query on the webhook tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

SUBSCRIPTION_COLUMNS = (
    "id, url, event_types, secret, description, enabled, created_by, created_at, updated_at,"
    " disabled_at, disabled_reason, failing_since, consecutive_failures"
)
DELIVERY_COLUMNS = (
    "id, subscription_id, event_id, event_type, kind, body, status, attempts, round_attempts, next_attempt_at,"
    " lease_token, created_at, last_attempt_at, last_status_code, last_error, delivered_at"
)
_D = ", ".join(f"d.{c.strip()}" for c in DELIVERY_COLUMNS.split(","))
# Columns a PATCH may set; anything else is refused before it reaches SQL.
EDITABLE = frozenset({"url", "event_types", "description", "enabled"})


@dataclass(frozen=True)
class NewDelivery:
    id: str
    subscription_id: str
    event_id: str
    event_type: str
    kind: str
    body: str


class SubscriptionRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(
        self,
        *,
        subscription_id: str,
        url: str,
        event_types: list[str],
        secret: str,
        description: str,
        enabled: bool,
        created_by: str,
        at: datetime,
    ) -> asyncpg.Record:
        row: asyncpg.Record = await self.conn.fetchrow(
            "INSERT INTO webhook_subscriptions"
            " (id, url, event_types, secret, description, enabled, created_by, created_at, updated_at)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {SUBSCRIPTION_COLUMNS}",
            subscription_id,
            url,
            event_types,
            secret,
            description,
            enabled,
            created_by,
            at,
        )
        return row

    async def get(self, subscription_id: str, *, lock: bool = False) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1" + (" FOR UPDATE" if lock else ""),
            subscription_id,
        )
        return row

    async def all(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY created_at, id"
        )
        return rows

    async def enabled(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT id, event_types, created_at FROM webhook_subscriptions WHERE enabled ORDER BY id"
        )
        return rows

    async def update(self, subscription_id: str, values: dict[str, Any], at: datetime) -> asyncpg.Record | None:
        unknown = set(values) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        assignments = [f"{name} = ${i}" for i, name in enumerate(values, start=3)]
        if values.get("enabled") is True:
            # Switched on again: the failure history that disabled it no longer counts.
            assignments += [
                "disabled_at = NULL",
                "disabled_reason = NULL",
                "failing_since = NULL",
                "consecutive_failures = 0",
            ]
        elif values.get("enabled") is False:
            assignments += ["disabled_at = COALESCE(disabled_at, $2)", "disabled_reason = 'disabled by an admin'"]
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"UPDATE webhook_subscriptions SET updated_at = $2, {', '.join(assignments)}"
            f" WHERE id = $1 RETURNING {SUBSCRIPTION_COLUMNS}",
            subscription_id,
            at,
            *values.values(),
        )
        return row

    async def set_secret(self, subscription_id: str, secret: str, at: datetime) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "UPDATE webhook_subscriptions SET secret = $2, updated_at = $3"
            f" WHERE id = $1 RETURNING {SUBSCRIPTION_COLUMNS}",
            subscription_id,
            secret,
            at,
        )
        return row

    async def delete(self, subscription_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"DELETE FROM webhook_subscriptions WHERE id = $1 RETURNING {SUBSCRIPTION_COLUMNS}", subscription_id
        )
        return row

    async def succeeded(self, subscription_id: str) -> None:
        await self.conn.execute(
            "UPDATE webhook_subscriptions SET failing_since = NULL, consecutive_failures = 0"
            " WHERE id = $1 AND (failing_since IS NOT NULL OR consecutive_failures <> 0)",
            subscription_id,
        )

    async def failed(self, subscription_id: str, at: datetime) -> asyncpg.Record | None:
        """Count one more failed attempt; the row as it is now."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "UPDATE webhook_subscriptions SET failing_since = COALESCE(failing_since, $2),"
            " consecutive_failures = consecutive_failures + 1"
            f" WHERE id = $1 RETURNING {SUBSCRIPTION_COLUMNS}",
            subscription_id,
            at,
        )
        return row

    async def disable(self, subscription_id: str, at: datetime, reason: str) -> asyncpg.Record | None:
        """Switch off an enabled subscription; None when it was not enabled (already done elsewhere)."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "UPDATE webhook_subscriptions SET enabled = false, disabled_at = $2, disabled_reason = $3, updated_at = $2"
            f" WHERE id = $1 AND enabled RETURNING {SUBSCRIPTION_COLUMNS}",
            subscription_id,
            at,
            reason,
        )
        return row


class DeliveryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(self, deliveries: list[NewDelivery], at: datetime) -> int:
        """Insert the deliveries not already there (same subscription and event); how many were new."""
        if not deliveries:
            return 0
        rows = await self.conn.fetch(
            "INSERT INTO webhook_deliveries"
            " (id, subscription_id, event_id, event_type, kind, body, status, next_attempt_at, created_at)"
            " SELECT i, s, e, t, k, b, 'pending', $7, $7"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
            " AS u(i, s, e, t, k, b)"
            " ON CONFLICT (subscription_id, event_id) DO NOTHING RETURNING id",
            [d.id for d in deliveries],
            [d.subscription_id for d in deliveries],
            [d.event_id for d in deliveries],
            [d.event_type for d in deliveries],
            [d.kind for d in deliveries],
            [d.body for d in deliveries],
            at,
        )
        return len(rows)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int, token: str) -> list[asyncpg.Record]:
        """Take up to ``limit`` due deliveries of enabled subscriptions, with their target and secret.

        Claiming moves ``next_attempt_at`` to the end of the lease: a worker that dies mid-attempt
        leaves the delivery due again once the lease ends, and no other worker takes it before.
        """
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "WITH due AS ("
            "  SELECT d.id FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id"
            "  WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND s.enabled"
            "  ORDER BY d.next_attempt_at, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED"
            "), claimed AS ("
            "  UPDATE webhook_deliveries d SET next_attempt_at = $2, lease_token = $4 FROM due WHERE d.id = due.id"
            f"  RETURNING {_D}"
            ") SELECT c.*, s.url, s.secret FROM claimed c JOIN webhook_subscriptions s ON s.id = c.subscription_id"
            " ORDER BY c.id",
            now,
            lease_until,
            limit,
            token,
        )
        return rows

    async def claim(self, delivery_id: str, lease_until: datetime, token: str) -> asyncpg.Record | None:
        """Take one delivery now, whatever its state (a ping, a manual redelivery)."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "WITH claimed AS ("
            "  UPDATE webhook_deliveries d SET next_attempt_at = $2, lease_token = $3, status = 'pending'"
            f"  WHERE d.id = $1 RETURNING {_D}"
            ") SELECT c.*, s.url, s.secret FROM claimed c JOIN webhook_subscriptions s ON s.id = c.subscription_id",
            delivery_id,
            lease_until,
            token,
        )
        return row

    async def restart(self, delivery_id: str, now: datetime) -> None:
        """A manual redelivery starts the retry schedule again."""
        await self.conn.execute(
            "UPDATE webhook_deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = $2,"
            " delivered_at = NULL WHERE id = $1",
            delivery_id,
            now,
        )

    async def lock(self, delivery_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 FOR UPDATE", delivery_id
        )
        return row

    async def add_attempt(
        self,
        *,
        delivery_id: str,
        attempt: int,
        at: datetime,
        succeeded: bool,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        response_excerpt: str | None,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO webhook_attempts"
            " (delivery_id, attempt, attempted_at, succeeded, status_code, error, duration_ms, response_excerpt)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            delivery_id,
            attempt,
            at,
            succeeded,
            status_code,
            error,
            duration_ms,
            response_excerpt,
        )

    async def settle(
        self,
        delivery_id: str,
        *,
        status: str,
        attempts: int,
        round_attempts: int,
        next_attempt_at: datetime,
        at: datetime,
        status_code: int | None,
        error: str | None,
    ) -> None:
        await self.conn.execute(
            "UPDATE webhook_deliveries SET status = $2, attempts = $3, round_attempts = $4, next_attempt_at = $5,"
            " last_attempt_at = $6, last_status_code = $7, last_error = $8, lease_token = NULL,"
            " delivered_at = CASE WHEN $2::text = 'delivered' THEN $6::timestamptz END"
            " WHERE id = $1",
            delivery_id,
            status,
            attempts,
            round_attempts,
            next_attempt_at,
            at,
            status_code,
            error,
        )

    async def forget_settled_before(self, cutoff: datetime) -> int:
        """Drop settled deliveries (their attempts go with them) last touched before ``cutoff``."""
        result: str = await self.conn.execute(
            "DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed')"
            " AND COALESCE(last_attempt_at, created_at) < $1",
            cutoff,
        )
        return int(result.split()[-1])

    async def of_subscription(self, subscription_id: str, status: str | None, limit: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries"
            " WHERE subscription_id = $1 AND ($2::text IS NULL OR status = $2)"
            " ORDER BY created_at DESC, id DESC LIMIT $3",
            subscription_id,
            status,
            limit,
        )
        return rows

    async def get(self, subscription_id: str, delivery_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND subscription_id = $2",
            delivery_id,
            subscription_id,
        )
        return row

    async def attempts(self, delivery_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT attempt, attempted_at, succeeded, status_code, error, duration_ms, response_excerpt"
            " FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id",
            delivery_id,
        )
        return rows
