"""Every query on the sessions and oidc_logins tables."""

from __future__ import annotations

from datetime import datetime

import asyncpg

_SESSION_COLUMNS = (
    "s.id_hash, s.source, s.key_id, s.subject, s.role, s.name, s.created_at, s.last_seen_at, s.expires_at,"
    " s.ended_at, s.ended_reason"
)


class SessionRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(
        self,
        *,
        id_hash: str,
        source: str,
        key_id: str | None,
        subject: str,
        role: str,
        name: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO sessions (id_hash, source, key_id, subject, role, name, created_at, last_seen_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            id_hash,
            source,
            key_id,
            subject,
            role,
            name,
            now,
            expires_at,
        )

    async def get_with_key(self, id_hash: str) -> asyncpg.Record | None:
        """The session and the state of its key (revoked, expired), if it was made from one."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {_SESSION_COLUMNS}, k.id AS key_found, k.revoked_at AS key_revoked_at,"
            " k.expires_at AS key_expires_at"
            " FROM sessions s LEFT JOIN api_keys k ON k.id = s.key_id WHERE s.id_hash = $1",
            id_hash,
        )
        return row

    async def end(self, id_hash: str, at: datetime, reason: str) -> bool:
        """End an open session; False when it had ended already (the first end and reason stay)."""
        result: str = await self.conn.execute(
            "UPDATE sessions SET ended_at = $2, ended_reason = $3 WHERE id_hash = $1 AND ended_at IS NULL",
            id_hash,
            at,
            reason,
        )
        return result.split()[-1] != "0"

    async def touch(self, id_hash: str, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2", id_hash, at
        )

    async def forget_ended_before(self, before: datetime) -> int:
        result: str = await self.conn.execute(
            "DELETE FROM sessions WHERE expires_at < $1 OR (ended_at IS NOT NULL AND ended_at < $1)", before
        )
        return int(result.split()[-1])


class OidcLoginRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert(
        self,
        *,
        state_hash: str,
        nonce: str,
        code_verifier: str,
        next_path: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO oidc_logins (state_hash, nonce, code_verifier, next_path, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            state_hash,
            nonce,
            code_verifier,
            next_path,
            now,
            expires_at,
        )

    async def take(self, state_hash: str, now: datetime) -> asyncpg.Record | None:
        """Consume a pending login: a state works once, and not after it expired."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING nonce, code_verifier, next_path, expires_at",
            state_hash,
        )
        if row is None or row["expires_at"] <= now:
            return None
        return row

    async def forget_expired(self, now: datetime) -> int:
        result: str = await self.conn.execute("DELETE FROM oidc_logins WHERE expires_at <= $1", now)
        return int(result.split()[-1])
