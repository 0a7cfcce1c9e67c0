"""Every query on subscriptions and stored framework results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
        versions: dict[str, Any] | None = None,
    ) -> None:
        # Append-only: a result, once stored for a scan, is never rewritten.
        await self.conn.execute(
            "INSERT INTO framework_results (scan_id, framework_id, framework_version, library_version,"
            " catalogue_version, computed_at, readiness, requirements, controls, versions)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            scan_id,
            framework_id,
            framework_version,
            library_version,
            catalogue_version,
            computed_at,
            readiness,
            requirements,
            controls,
            versions,
        )

    async def store_scoped(
        self,
        *,
        scan_id: str,
        framework_id: str,
        scope_id: str,
        scope_version: int,
        computed_at: datetime,
        versions: dict[str, Any],
        deviations: list[dict[str, Any]],
        readiness: object,
        requirements: object,
        controls: object,
    ) -> None:
        # Append-only, like framework_results: later edits of controls or scopes never touch it.
        await self.conn.execute(
            "INSERT INTO scope_results (scan_id, framework_id, scope_id, scope_version, framework_version,"
            " library_version, catalogue_version, versions, computed_at, readiness, requirements, controls,"
            " deviations) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
            scan_id,
            framework_id,
            scope_id,
            scope_version,
            versions["framework"],
            versions["control_library"],
            versions["check_catalogue"],
            versions,
            computed_at,
            readiness,
            requirements,
            controls,
            deviations,
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

    async def scoped_history(self, framework_id: str, scope_id: str, limit: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT r.scan_id, r.scope_version, r.versions, r.computed_at, r.readiness, s.account_id,"
            " s.state AS scan_state, s.partial FROM scope_results r JOIN scans s USING (scan_id)"
            " WHERE r.framework_id = $1 AND r.scope_id = $2 ORDER BY r.computed_at DESC, r.scan_id LIMIT $3",
            framework_id,
            scope_id,
            limit,
        )
        return rows

    async def scoped_result(self, framework_id: str, scope_id: str, scan_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT r.*, s.account_id, s.regions, s.partial, s.state AS scan_state, s.finalised_at"
            " FROM scope_results r JOIN scans s USING (scan_id)"
            " WHERE r.framework_id = $1 AND r.scope_id = $2 AND r.scan_id = $3",
            framework_id,
            scope_id,
            scan_id,
        )
        return row
