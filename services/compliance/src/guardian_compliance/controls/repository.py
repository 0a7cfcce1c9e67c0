"""Every query on the control matrix and its version history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


def definition_of(row: asyncpg.Record) -> dict[str, Any]:
    """A stored control in the shape of the control library files."""
    return {
        "id": row["control_id"],
        "title": row["title"],
        "description": row["description"],
        "owner": row["owner"],
        "frequency": row["frequency"],
        "requirements": row["mappings"],
        "checks": list(row["checks"]),
        "evidence": row["evidence"],
    }


class ControlRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, control_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
        lock = " FOR UPDATE" if for_update else ""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT * FROM controls WHERE control_id = $1{lock}", control_id
        )
        return row

    async def all(self, *, include_retired: bool = True) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM controls WHERE $1 OR state = 'active' ORDER BY control_id", include_retired
        )
        return rows

    async def ids(self) -> set[str]:
        rows = await self.conn.fetch("SELECT control_id FROM controls")
        return {r["control_id"] for r in rows}

    async def insert(
        self, definition: dict[str, Any], *, origin: str, by: str, at: datetime, change: str, note: str | None
    ) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO controls (control_id, title, description, owner, frequency, mappings, checks, evidence,"
            " state, version, origin, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', 1, $9, $10, $10)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            definition["id"],
            definition["title"],
            definition["description"],
            definition["owner"],
            definition["frequency"],
            definition["requirements"],
            definition["checks"],
            definition["evidence"],
            origin,
            at,
        )
        if inserted is None:
            return False
        await self._version(definition["id"], 1, change, definition, "active", by, at, note)
        return True

    async def update(self, definition: dict[str, Any], *, by: str, at: datetime, change: str, note: str | None) -> int:
        version: int = await self.conn.fetchval(
            "UPDATE controls SET title = $2, description = $3, owner = $4, frequency = $5, mappings = $6,"
            " checks = $7, evidence = $8, version = version + 1, updated_at = $9"
            " WHERE control_id = $1 RETURNING version",
            definition["id"],
            definition["title"],
            definition["description"],
            definition["owner"],
            definition["frequency"],
            definition["requirements"],
            definition["checks"],
            definition["evidence"],
            at,
        )
        await self._version(definition["id"], version, change, definition, "active", by, at, note)
        return version

    async def retire(self, definition: dict[str, Any], *, by: str, at: datetime, note: str | None) -> int:
        version: int = await self.conn.fetchval(
            "UPDATE controls SET state = 'retired', version = version + 1, updated_at = $2"
            " WHERE control_id = $1 RETURNING version",
            definition["id"],
            at,
        )
        await self._version(definition["id"], version, "retire", definition, "retired", by, at, note)
        return version

    async def versions(self, control_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM control_versions WHERE control_id = $1 ORDER BY version", control_id
        )
        return rows

    async def _version(
        self,
        control_id: str,
        version: int,
        change: str,
        definition: dict[str, Any],
        state: str,
        by: str,
        at: datetime,
        note: str | None,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO control_versions (control_id, version, change, definition, state, changed_by, changed_at,"
            " note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            control_id,
            version,
            change,
            definition,
            state,
            by,
            at,
            note,
        )
