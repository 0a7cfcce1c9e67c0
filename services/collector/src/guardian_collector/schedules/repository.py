"""Every query on schedules and their runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from guardian_collector.schedules.schemas import RunOut, ScheduleOut

_COLUMNS = (
    "schedule_id, name, cron, timezone, regions, services, enabled, next_run_at, created_by, created_at, updated_at"
)


def _out(row: asyncpg.Record, runs: list[RunOut] | None = None) -> ScheduleOut:
    data = dict(row)
    data["regions"] = list(data["regions"]) if data["regions"] is not None else None
    data["services"] = list(data["services"]) if data["services"] is not None else None
    return ScheduleOut(**data, recent_runs=runs or [])


class ScheduleRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(self, values: dict[str, Any]) -> bool:
        try:
            async with self.conn.transaction():
                await self.conn.execute(
                    "INSERT INTO schedules (schedule_id, name, cron, timezone, regions, services, enabled,"
                    " next_run_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    values["schedule_id"],
                    values["name"],
                    values["cron"],
                    values["timezone"],
                    values["regions"],
                    values["services"],
                    values["enabled"],
                    values["next_run_at"],
                    values["created_by"],
                )
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def update(self, schedule_id: str, values: dict[str, Any]) -> None:
        await self.conn.execute(
            "UPDATE schedules SET cron = $2, timezone = $3, regions = $4, services = $5, enabled = $6,"
            " next_run_at = $7, updated_at = now() WHERE schedule_id = $1",
            schedule_id,
            values["cron"],
            values["timezone"],
            values["regions"],
            values["services"],
            values["enabled"],
            values["next_run_at"],
        )

    async def delete(self, schedule_id: str) -> bool:
        return (
            await self.conn.fetchval("DELETE FROM schedules WHERE schedule_id = $1 RETURNING 1", schedule_id)
            is not None
        )

    async def count(self) -> int:
        value: int = await self.conn.fetchval("SELECT count(*) FROM schedules")
        return value

    async def get(self, schedule_id: str, *, runs: int = 10) -> ScheduleOut | None:
        row = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM schedules WHERE schedule_id = $1", schedule_id)
        if row is None:
            return None
        recent = await self.conn.fetch(
            "SELECT due_at, fired_at, scan_id, outcome, detail FROM schedule_runs WHERE schedule_id = $1"
            " ORDER BY due_at DESC LIMIT $2",
            schedule_id,
            runs,
        )
        return _out(row, [RunOut(**dict(r)) for r in recent])

    async def all(self) -> list[ScheduleOut]:
        rows = await self.conn.fetch(f"SELECT {_COLUMNS} FROM schedules ORDER BY name")
        return [_out(r) for r in rows]

    async def claim_due(self, now: datetime) -> list[asyncpg.Record]:
        """Due schedules, locked for this transaction; other replicas skip them."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM schedules WHERE enabled AND next_run_at <= $1"
            " ORDER BY next_run_at FOR UPDATE SKIP LOCKED",
            now,
        )
        return rows

    async def record_firing(self, schedule_id: str, due_at: datetime, fired_at: datetime) -> bool:
        value = await self.conn.fetchval(
            "INSERT INTO schedule_runs (schedule_id, due_at, fired_at, outcome) VALUES ($1, $2, $3, 'firing')"
            " ON CONFLICT DO NOTHING RETURNING 1",
            schedule_id,
            due_at,
            fired_at,
        )
        return value is not None

    async def advance(self, schedule_id: str, next_run_at: datetime) -> None:
        await self.conn.execute(
            "UPDATE schedules SET next_run_at = $2 WHERE schedule_id = $1", schedule_id, next_run_at
        )

    async def record_outcome(
        self, schedule_id: str, due_at: datetime, outcome: str, scan_id: str | None, detail: str | None
    ) -> None:
        await self.conn.execute(
            "UPDATE schedule_runs SET outcome = $3, scan_id = $4, detail = $5 WHERE schedule_id = $1 AND due_at = $2",
            schedule_id,
            due_at,
            outcome,
            scan_id,
            detail,
        )
