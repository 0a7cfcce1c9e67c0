"""Opening, resolving and ending browser sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from guardian_common import audit, db
from guardian_common.auth import Principal, Role
from guardian_common.errors import Unauthenticated
from guardian_gateway.clock import Clock, utcnow
from guardian_gateway.database import OUTBOX
from guardian_gateway.keys.repository import KeyRepository
from guardian_gateway.keys.service import KeyService
from guardian_gateway.sessions.cookies import csrf_token_for, hash_id, new_secret
from guardian_gateway.sessions.repository import OidcLoginRepository, SessionRepository

# Like a key's last-used time, activity is written at most once a minute per session: the idle
# timeout is then exact to within a minute, and reading pages does not write on every request.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    lifetime: timedelta
    idle: timedelta


# How long a browser has between leaving for the identity provider and coming back.
OIDC_LOGIN_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class PendingOidcLogin:
    nonce: str
    code_verifier: str
    next_path: str


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    csrf_token: str
    principal: Principal
    expires_at: datetime

    def max_age(self, now: datetime) -> int:
        return max(1, int((self.expires_at - now).total_seconds()))


def session_reference(id_hash: str) -> str:
    """How a session is named in audit entries: part of its hash, never the cookie value."""
    return id_hash[:16]


@dataclass
class SessionService:
    pool: asyncpg.Pool
    policy: SessionPolicy
    csrf_secret: str
    clock: Clock = utcnow

    def csrf_token(self, session_id: str) -> str:
        return csrf_token_for(self.csrf_secret, session_id)

    async def open_with_key(self, key: str) -> OpenedSession:
        """Sign in with an API key: the key must be valid now, and the session never outlives it."""
        principal = await KeyService(self.pool, self.clock).authenticate(key)
        async with self.pool.acquire() as conn:
            row = await KeyRepository(conn).get(principal.key_id)
        key_expiry: datetime | None = row["expires_at"] if row is not None else None
        return await self._open(principal, source="api_key", key_id=principal.key_id, not_after=key_expiry)

    async def open_for_identity(self, principal: Principal) -> OpenedSession:
        """Sign in someone the identity provider vouched for, with the role their claims mapped to."""
        return await self._open(principal, source="oidc", key_id=None, not_after=None)

    async def _open(
        self, principal: Principal, *, source: str, key_id: str | None, not_after: datetime | None
    ) -> OpenedSession:
        now = self.clock()
        expires_at = now + self.policy.lifetime
        if not_after is not None:
            expires_at = min(expires_at, not_after)
        session_id = new_secret()
        id_hash = hash_id(session_id)
        async with db.transaction(self.pool) as conn:
            await SessionRepository(conn).insert(
                id_hash=id_hash,
                source=source,
                key_id=key_id,
                subject=principal.key_id,
                role=principal.role.value,
                name=principal.name,
                now=now,
                expires_at=expires_at,
            )
            await audit.record(
                conn,
                OUTBOX,
                actor=principal,
                action="session.started",
                target_type="session",
                target_id=session_reference(id_hash),
                before=None,
                after={"source": source, "role": principal.role.value, "expires_at": expires_at.isoformat()},
                at=now,
            )
        return OpenedSession(session_id, self.csrf_token(session_id), principal, expires_at)

    async def resolve(self, session_id: str) -> Principal:
        """The principal of an open session, or 401; a session found over its limits is ended here."""
        id_hash = hash_id(session_id)
        now = self.clock()
        async with self.pool.acquire() as conn:
            repo = SessionRepository(conn)
            row = await repo.get_with_key(id_hash)
            if row is None:
                raise Unauthenticated("The session is not known; sign in again.", code="invalid_session")
            if row["ended_at"] is not None:
                raise Unauthenticated("The session has ended; sign in again.", code="session_ended")
            reason = _end_reason(row, now, self.policy.idle)
            if reason is not None:
                await repo.end(id_hash, now, reason)
                raise Unauthenticated(
                    f"The session has ended ({reason.replace('_', ' ')}); sign in again.", code="session_ended"
                )
            if now - row["last_seen_at"] >= LAST_SEEN_RESOLUTION:
                await repo.touch(id_hash, now)
        return Principal(key_id=row["subject"], role=Role(row["role"]), name=row["name"])

    async def end(self, session_id: str, principal: Principal) -> None:
        """Sign out: the session stops working on every replica at once."""
        id_hash = hash_id(session_id)
        now = self.clock()
        async with db.transaction(self.pool) as conn:
            if await SessionRepository(conn).end(id_hash, now, "signed_out"):
                await audit.record(
                    conn,
                    OUTBOX,
                    actor=principal,
                    action="session.ended",
                    target_type="session",
                    target_id=session_reference(id_hash),
                    before={"open": True},
                    after={"open": False, "reason": "signed_out"},
                    at=now,
                )

    async def begin_oidc_login(self, *, state: str, nonce: str, code_verifier: str, next_path: str) -> None:
        now = self.clock()
        async with db.transaction(self.pool) as conn:
            await OidcLoginRepository(conn).insert(
                state_hash=hash_id(state),
                nonce=nonce,
                code_verifier=code_verifier,
                next_path=next_path,
                now=now,
                expires_at=now + OIDC_LOGIN_WINDOW,
            )

    async def take_oidc_login(self, state: str) -> PendingOidcLogin | None:
        async with db.transaction(self.pool) as conn:
            row = await OidcLoginRepository(conn).take(hash_id(state), self.clock())
        if row is None:
            return None
        return PendingOidcLogin(row["nonce"], row["code_verifier"], row["next_path"])

    async def sweep(self, keep: timedelta = timedelta(days=1)) -> int:
        """Drop sessions that ended or expired more than ``keep`` ago."""
        async with self.pool.acquire() as conn:
            forgotten = await SessionRepository(conn).forget_ended_before(self.clock() - keep)
            return forgotten + await OidcLoginRepository(conn).forget_expired(self.clock())


def _end_reason(row: asyncpg.Record, now: datetime, idle: timedelta) -> str | None:
    if row["expires_at"] <= now:
        return "expired"
    if now - row["last_seen_at"] >= idle:
        return "idle"
    if row["source"] == "api_key":
        if row["key_found"] is None:
            return "key_deleted"
        if row["key_revoked_at"] is not None:
            return "key_revoked"
        if row["key_expires_at"] is not None and row["key_expires_at"] <= now:
            return "key_expired"
    return None
