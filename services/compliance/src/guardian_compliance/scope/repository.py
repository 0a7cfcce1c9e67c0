"""Every query on scopes, their versions and audit periods."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

SCOPE_COLUMNS = (
    "name",
    "categories",
    "account_ids",
    "regions",
    "tag_filters",
    "subservice_organisations",
    "user_entity_controls",
    "not_applicable",
    "environments",
)
# Every scope row also carries the accounts its environments select (NULL when it names none).
SELECT_SCOPES = (
    "SELECT s.*, CASE WHEN cardinality(s.environments) = 0 THEN NULL ELSE ARRAY("
    "SELECT a.account_id FROM accounts a WHERE a.environment = ANY(s.environments) ORDER BY a.account_id"
    ") END AS environment_accounts FROM scopes s"
)


class ScopeRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, scope_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
        lock = " FOR UPDATE" if for_update else ""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"{SELECT_SCOPES} WHERE s.scope_id = $1{lock.replace('UPDATE', 'UPDATE OF s')}", scope_id
        )
        return row

    async def all(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(f"{SELECT_SCOPES} ORDER BY s.scope_id")
        return rows

    async def insert(self, scope_id: str, values: dict[str, Any], at: datetime) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO scopes (scope_id, name, categories, account_ids, regions, tag_filters,"
            " subservice_organisations, user_entity_controls, not_applicable, environments, version, created_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11) ON CONFLICT DO NOTHING"
            " RETURNING 1",
            scope_id,
            *(values[c] for c in SCOPE_COLUMNS),
            at,
        )
        return inserted is not None

    async def update(self, scope_id: str, values: dict[str, Any], at: datetime) -> int:
        version: int = await self.conn.fetchval(
            "UPDATE scopes SET name = $2, categories = $3, account_ids = $4, regions = $5, tag_filters = $6,"
            " subservice_organisations = $7, user_entity_controls = $8, not_applicable = $9, environments = $10,"
            " version = version + 1, updated_at = $11 WHERE scope_id = $1 RETURNING version",
            scope_id,
            *(values[c] for c in SCOPE_COLUMNS),
            at,
        )
        return version

    async def bump(self, scope_id: str, at: datetime) -> int:
        """A change that lives outside the scope row (a period) still makes a new scope version."""
        version: int = await self.conn.fetchval(
            "UPDATE scopes SET version = version + 1, updated_at = $2 WHERE scope_id = $1 RETURNING version",
            scope_id,
            at,
        )
        return version

    async def record_version(
        self,
        scope_id: str,
        version: int,
        change: str,
        by: str,
        at: datetime,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        await self.conn.execute(
            "INSERT INTO scope_versions (scope_id, version, change, changed_by, changed_at, before, after)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            scope_id,
            version,
            change,
            by,
            at,
            before,
            after,
        )

    async def versions(self, scope_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM scope_versions WHERE scope_id = $1 ORDER BY version", scope_id
        )
        return rows

    # Periods -----------------------------------------------------------------------------------

    async def periods(self, scope_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM audit_periods WHERE scope_id = $1 ORDER BY start_date, period_id", scope_id
        )
        return rows

    async def period(self, scope_id: str, period_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
        lock = " FOR UPDATE" if for_update else ""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT * FROM audit_periods WHERE scope_id = $1 AND period_id = $2{lock}", scope_id, period_id
        )
        return row

    async def insert_period(
        self, period_id: str, scope_id: str, name: str, start: date, end: date, report_type: str, at: datetime
    ) -> None:
        await self.conn.execute(
            "INSERT INTO audit_periods (period_id, scope_id, name, start_date, end_date, report_type, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            period_id,
            scope_id,
            name,
            start,
            end,
            report_type,
            at,
        )

    async def update_period(self, period_id: str, name: str, start: date, end: date, report_type: str) -> None:
        await self.conn.execute(
            "UPDATE audit_periods SET name = $2, start_date = $3, end_date = $4, report_type = $5"
            " WHERE period_id = $1 AND locked_at IS NULL",
            period_id,
            name,
            start,
            end,
            report_type,
        )

    async def delete_period(self, period_id: str) -> None:
        await self.conn.execute("DELETE FROM audit_periods WHERE period_id = $1 AND locked_at IS NULL", period_id)

    async def lock_period(self, period_id: str, by: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE audit_periods SET locked_at = $2, locked_by = $3 WHERE period_id = $1 AND locked_at IS NULL",
            period_id,
            at,
            by,
        )
