"""Every query on the api_keys table."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

_COLUMNS = "id, name, role, secret_hash, prefix, created_by, created_at, expires_at, revoked_at, last_used_at"


class KeyRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(
        self,
        *,
        key_id: str,
        name: str,
        role: str,
        secret_hash: str,
        prefix: str,
        created_by: str,
        created_at: datetime,
        expires_at: datetime | None,
    ) -> asyncpg.Record:
        row: asyncpg.Record = await self.conn.fetchrow(
            f"INSERT INTO api_keys (id, name, role, secret_hash, prefix, created_by, created_at, expires_at)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}",
            key_id,
            name,
            role,
            secret_hash,
            prefix,
            created_by,
            created_at,
            expires_at,
        )
        return row

    async def get(self, key_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)
        return row

    async def all(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id")
        return rows

    async def revoke(self, key_id: str, at: datetime) -> asyncpg.Record | None:
        """Mark the key revoked; a key revoked earlier keeps its first revocation time."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING {_COLUMNS}",
            key_id,
            at,
        )
        return row

    async def touch(self, key_id: str, at: datetime, every: timedelta) -> None:
        """Record use, unless another request (on any replica) recorded it less than ``every`` ago."""
        await self.conn.execute(
            "UPDATE api_keys SET last_used_at = $2"
            " WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - $3::interval)",
            key_id,
            at,
            every,
        )
