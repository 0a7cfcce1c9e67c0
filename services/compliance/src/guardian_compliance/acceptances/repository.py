"""Every query on risk acceptances and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from guardian_compliance.acceptances.matching import Rule


class AcceptanceRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(self, acceptance_id: str, values: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO acceptances (acceptance_id, control_id, check_id, arn_pattern, account_id, region, tag_key,"
            " tag_value, justification, compensating_control, requested_by, requested_at, starts_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            acceptance_id,
            values["control_id"],
            values["check_id"],
            values["arn_pattern"],
            values["account_id"],
            values["region"],
            values["tag_key"],
            values["tag_value"],
            values["justification"],
            values["compensating_control"],
            values["requested_by"],
            values["requested_at"],
            values["starts_at"],
            values["expires_at"],
        )

    async def get(self, acceptance_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
        lock = " FOR UPDATE" if for_update else ""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT * FROM acceptances WHERE acceptance_id = $1{lock}", acceptance_id
        )
        return row

    async def all(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch("SELECT * FROM acceptances ORDER BY requested_at DESC")
        return rows

    async def decide(self, acceptance_id: str, state: str, by: str, at: datetime, note: str | None) -> None:
        await self.conn.execute(
            "UPDATE acceptances SET state = $2, decided_by = $3, decided_at = $4, decision_note = $5"
            " WHERE acceptance_id = $1 AND state = 'pending'",
            acceptance_id,
            state,
            by,
            at,
            note,
        )

    async def revoke(self, acceptance_id: str, state: str, by: str, at: datetime, reason: str) -> None:
        await self.conn.execute(
            "UPDATE acceptances SET state = $2, revoked_by = $3, revoked_at = $4, revocation_reason = $5"
            " WHERE acceptance_id = $1 AND state = 'approved' AND revoked_at IS NULL",
            acceptance_id,
            state,
            by,
            at,
            reason,
        )

    async def record(self, acceptance_id: str, action: str, actor: str, at: datetime, note: str | None) -> None:
        await self.conn.execute(
            "INSERT INTO acceptance_events (acceptance_id, action, actor, at, note) VALUES ($1, $2, $3, $4, $5)",
            acceptance_id,
            action,
            actor,
            at,
            note,
        )

    async def events(self, acceptance_ids: list[str]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM acceptance_events WHERE acceptance_id = ANY($1::text[]) ORDER BY id", acceptance_ids
        )
        return rows

    async def approved_rules(self, now: datetime) -> list[Rule]:
        """Approved acceptances in force at ``now``."""
        rows = await self.conn.fetch(
            "SELECT * FROM acceptances WHERE state = 'approved' AND starts_at <= $1 AND expires_at > $1"
            " AND (revoked_at IS NULL OR revoked_at > $1)",
            now,
        )
        return [Rule.of(r) for r in rows]

    async def expired_since(self, now: datetime) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM acceptances a WHERE state = 'approved' AND revoked_at IS NULL AND expires_at <= $1"
            " AND NOT EXISTS"
            " (SELECT 1 FROM outbox o WHERE o.dedupe_key = 'acceptance:' || a.acceptance_id || ':expired')",
            now,
        )
        return rows

    async def expiring_within(self, now: datetime, until: datetime) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM acceptances a WHERE state = 'approved' AND revoked_at IS NULL"
            " AND expires_at > $1 AND expires_at <= $2"
            " AND NOT EXISTS"
            " (SELECT 1 FROM outbox o WHERE o.dedupe_key = 'acceptance:' || a.acceptance_id || ':expiring')",
            now,
            until,
        )
        return rows
