"""Every query on bundled library updates: the version last compared, baselines and update notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

LIBRARY = "guardian"
# One library sync at a time, whatever the number of replicas starting together.
SYNC_LOCK = 0x6C69_6272_6172_7921


class LibraryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock(self) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)", SYNC_LOCK)

    async def compared_version(self) -> str | None:
        version: str | None = await self.conn.fetchval("SELECT version FROM library_state WHERE library = $1", LIBRARY)
        return version

    async def set_compared_version(self, version: str, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO library_state (library, version, updated_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (library) DO UPDATE SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
            LIBRARY,
            version,
            at,
        )

    async def baselines(self) -> dict[str, dict[str, Any]]:
        rows = await self.conn.fetch("SELECT control_id, definition FROM library_baselines")
        return {r["control_id"]: r["definition"] for r in rows}

    async def set_baseline(self, control_id: str, version: str, definition: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO library_baselines (control_id, library_version, definition) VALUES ($1, $2, $3)"
            " ON CONFLICT (control_id) DO UPDATE SET library_version = EXCLUDED.library_version,"
            " definition = EXCLUDED.definition",
            control_id,
            version,
            definition,
        )

    async def first_versions(self) -> dict[str, dict[str, Any]]:
        """Each control's version 1 definition (the baseline of a bundled control that has none)."""
        rows = await self.conn.fetch("SELECT control_id, definition FROM control_versions WHERE version = 1")
        return {r["control_id"]: r["definition"] for r in rows}

    async def authors(self) -> dict[str, set[str]]:
        """Who changed each control, over all its versions."""
        rows = await self.conn.fetch(
            "SELECT control_id, array_agg(DISTINCT changed_by) AS authors FROM control_versions GROUP BY control_id"
        )
        return {r["control_id"]: set(r["authors"]) for r in rows}

    async def add_update(
        self,
        update_id: str,
        control_id: str,
        version: str,
        additions: dict[str, Any],
        bundled: dict[str, Any],
        at: datetime,
        removals: dict[str, Any] | None = None,
    ) -> bool:
        """A new open note; an open older note on the control is superseded. False if this version's note exists."""
        inserted = await self.conn.fetchval(
            "INSERT INTO library_updates"
            " (update_id, control_id, library_version, additions, bundled, created_at, removals)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (control_id, library_version) DO NOTHING RETURNING 1",
            update_id,
            control_id,
            version,
            additions,
            bundled,
            at,
            removals or {"checks": [], "requirements": [], "evidence": []},
        )
        if inserted is None:
            return False
        await self.conn.execute(
            "UPDATE library_updates SET state = 'superseded', decided_by = $3, decided_at = $4,"
            " note = 'a newer library update replaces it' WHERE control_id = $1 AND state = 'open' AND update_id <> $2",
            control_id,
            update_id,
            "guardian (library update)",
            at,
        )
        return True

    async def get(self, update_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
        lock = " FOR UPDATE" if for_update else ""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT * FROM library_updates WHERE update_id = $1{lock}", update_id
        )
        return row

    async def list(self, state: str | None, control_id: str | None) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM library_updates WHERE ($1::text IS NULL OR state = $1)"
            " AND ($2::text IS NULL OR control_id = $2) ORDER BY created_at DESC, control_id",
            state,
            control_id,
        )
        return rows

    async def decide(self, update_id: str, state: str, by: str, at: datetime, note: str | None) -> None:
        await self.conn.execute(
            "UPDATE library_updates SET state = $2, decided_by = $3, decided_at = $4, note = $5"
            " WHERE update_id = $1 AND state = 'open'",
            update_id,
            state,
            by,
            at,
            note,
        )
