"""Every query on the collector's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from guardian_collector.scans.schemas import CollectionErrorOut, ScanOut, UnitOut


class ScanRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(self, scan: dict[str, Any]) -> bool:
        """False when a scan of the same scope is already running."""
        try:
            # A savepoint, so the caller's transaction survives the unique-key refusal.
            async with self.conn.transaction():
                await self.conn.execute(
                    "INSERT INTO scans (scan_id, account_id, regions, services, scope_key, state, requested_by,"
                    " started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $7)",
                    scan["scan_id"],
                    scan["account_id"],
                    scan["regions"],
                    scan["services"],
                    scan["scope_key"],
                    scan["requested_by"],
                    scan["started_at"],
                )
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def running_for_scope(self, scope_key: str) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT scan_id FROM scans WHERE scope_key = $1 AND state = 'running'", scope_key
        )
        return value

    async def abandon_stale(self, scope_key: str, older_than: datetime) -> None:
        await self.conn.execute(
            "UPDATE scans SET state = 'abandoned', completed_at = now(), error = 'the scan runner stopped'"
            " WHERE scope_key = $1 AND state = 'running' AND heartbeat_at < $2",
            scope_key,
            older_than,
        )

    async def add_units(self, scan_id: str, units: list[tuple[str, str]]) -> None:
        await self.conn.executemany(
            "INSERT INTO scan_units (scan_id, region, service, status) VALUES ($1, $2, $3, 'pending')"
            " ON CONFLICT DO NOTHING",
            [(scan_id, r, s) for r, s in units],
        )

    async def finish_unit(
        self,
        scan_id: str,
        region: str,
        service: str,
        status: str,
        snapshots: int,
        errors: int,
        first: str | None,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO scan_units (scan_id, region, service, status, snapshots, errors, first_error, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (scan_id, region, service) DO UPDATE"
            " SET status = EXCLUDED.status, snapshots = EXCLUDED.snapshots, errors = EXCLUDED.errors,"
            " first_error = EXCLUDED.first_error, updated_at = now()",
            scan_id,
            region,
            service,
            status,
            snapshots,
            errors,
            first,
        )

    async def add_errors(self, scan_id: str, rows: list[tuple[int, str, str, str, str, str, str | None]]) -> None:
        await self.conn.executemany(
            "INSERT INTO collection_errors (scan_id, n, region, service, operation, error_code, message,"
            " resource_arn) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            [(scan_id, *row) for row in rows],
        )

    async def heartbeat(self, scan_id: str, published: int) -> None:
        await self.conn.execute(
            "UPDATE scans SET heartbeat_at = now(), published = $2 WHERE scan_id = $1", scan_id, published
        )

    async def finish(self, scan_id: str, state: str, published: int, error: str | None) -> None:
        await self.conn.execute(
            "UPDATE scans SET state = $2, completed_at = now(), heartbeat_at = now(), published = $3, error = $4"
            " WHERE scan_id = $1",
            scan_id,
            state,
            published,
            error,
        )

    async def get(self, scan_id: str) -> ScanOut | None:
        row = await self.conn.fetchrow("SELECT * FROM scans WHERE scan_id = $1", scan_id)
        if row is None:
            return None
        units = await self.conn.fetch(
            "SELECT region, service, status, snapshots, errors, first_error FROM scan_units"
            " WHERE scan_id = $1 ORDER BY region, service",
            scan_id,
        )
        return _scan(row, [UnitOut(**dict(u)) for u in units])

    async def recent(self, limit: int) -> list[ScanOut]:
        rows = await self.conn.fetch("SELECT * FROM scans ORDER BY started_at DESC LIMIT $1", limit)
        return [_scan(r, []) for r in rows]

    async def errors(self, scan_id: str) -> list[CollectionErrorOut]:
        rows = await self.conn.fetch(
            "SELECT region, service, operation, error_code, message, resource_arn FROM collection_errors"
            " WHERE scan_id = $1 ORDER BY n",
            scan_id,
        )
        return [CollectionErrorOut(**dict(r)) for r in rows]


def _scan(row: asyncpg.Record, units: list[UnitOut]) -> ScanOut:
    return ScanOut(
        scan_id=row["scan_id"],
        account_id=row["account_id"],
        regions=list(row["regions"]),
        services=list(row["services"]),
        state=row["state"],
        requested_by=row["requested_by"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        published=row["published"],
        error=row["error"],
        units=units,
        targeted=str(row["scope_key"]).startswith("targeted|"),
    )
