"""Every query on subscriptions and stored framework results."""

from __future__ import annotations

from datetime import datetime

import asyncpg


class PostureRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def subscriptions(self) -> dict[str, datetime]:
        rows = await self.conn.fetch("SELECT framework_id, subscribed_at FROM subscriptions")
        return {r["framework_id"]: r["subscribed_at"] for r in rows}

    async def subscribe(self, framework_id: str, by: str | None) -> bool:
        value = await self.conn.fetchval(
            "INSERT INTO subscriptions (framework_id, subscribed_by) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            framework_id,
            by,
        )
        return value is not None

    async def unsubscribe(self, framework_id: str) -> bool:
        value = await self.conn.fetchval("DELETE FROM subscriptions WHERE framework_id = $1 RETURNING 1", framework_id)
        return value is not None

    async def store(
        self,
        *,
        scan_id: str,
        framework_id: str,
        framework_version: str,
        library_version: str,
        catalogue_version: str | None,
        computed_at: datetime,
        readiness: object,
        requirements: object,
        controls: object,
    ) -> None:
        # Append-only: a result, once stored for a scan, is never rewritten.
        await self.conn.execute(
            "INSERT INTO framework_results (scan_id, framework_id, framework_version, library_version,"
            " catalogue_version, computed_at, readiness, requirements, controls)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            scan_id,
            framework_id,
            framework_version,
            library_version,
            catalogue_version,
            computed_at,
            readiness,
            requirements,
            controls,
        )

    async def latest(self, framework_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT r.*, s.account_id, s.regions, s.services, s.partial, s.state AS scan_state, s.finalised_at"
            " FROM framework_results r JOIN scans s USING (scan_id)"
            " WHERE r.framework_id = $1 ORDER BY r.computed_at DESC LIMIT 1",
            framework_id,
        )
        return row

    async def for_scan(self, scan_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT framework_id, readiness FROM framework_results WHERE scan_id = $1", scan_id
        )
        return rows
