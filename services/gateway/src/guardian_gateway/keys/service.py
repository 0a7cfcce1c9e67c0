"""Creating, listing, revoking and verifying API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from guardian_common import audit, db
from guardian_common.auth import Principal, Role
from guardian_common.errors import BadRequest, NotFound, Unauthenticated
from guardian_gateway.clock import Clock, aware, utcnow
from guardian_gateway.database import MIGRATIONS, OUTBOX, SCHEMA
from guardian_gateway.keys import tokens
from guardian_gateway.keys.repository import KeyRepository
from guardian_gateway.keys.schemas import KeyCreated, KeyIn, KeyOut

# last_used_at is a hint for people reviewing keys, not an access log: one write a minute per key
# is precise enough and keeps authentication from writing on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _out(row: asyncpg.Record) -> KeyOut:
    return KeyOut(**{name: row[name] for name in KeyOut.model_fields})


async def create_key(
    conn: asyncpg.Connection, body: KeyIn, created_by: str, clock: Clock = utcnow, actor: Principal | None = None
) -> KeyCreated:
    now = clock()
    expires_at = aware(body.expires_at) if body.expires_at is not None else None
    if expires_at is not None and expires_at <= now:
        raise BadRequest("expires_at must be in the future.", code="invalid_expiry")
    new = tokens.generate()
    row = await KeyRepository(conn).insert(
        key_id=new.key_id,
        name=body.name,
        role=body.role.value,
        secret_hash=new.secret_hash,
        prefix=new.prefix,
        created_by=created_by,
        created_at=now,
        expires_at=expires_at,
    )
    out = _out(row)
    await audit.record(
        conn,
        OUTBOX,
        actor=actor,
        action="key.created",
        target_type="api_key",
        target_id=out.id,
        before=None,
        after=out.model_dump(mode="json"),
        at=now,
    )
    return KeyCreated(**out.model_dump(), key=new.key)


@dataclass
class KeyService:
    pool: asyncpg.Pool
    clock: Clock = utcnow

    async def create(self, body: KeyIn, created_by: str, actor: Principal | None = None) -> KeyCreated:
        async with db.transaction(self.pool) as conn:
            return await create_key(conn, body, created_by, self.clock, actor)

    async def all(self) -> list[KeyOut]:
        async with self.pool.acquire() as conn:
            return [_out(row) for row in await KeyRepository(conn).all()]

    async def revoke(self, key_id: str, actor: Principal | None = None) -> KeyOut:
        async with db.transaction(self.pool) as conn:
            repo = KeyRepository(conn)
            before = await repo.get(key_id)
            now = self.clock()
            row = await repo.revoke(key_id, now)
            if before is not None and row is not None and before["revoked_at"] is None:
                await audit.record(
                    conn,
                    OUTBOX,
                    actor=actor,
                    action="key.revoked",
                    target_type="api_key",
                    target_id=key_id,
                    before=_out(before).model_dump(mode="json"),
                    after=_out(row).model_dump(mode="json"),
                    at=now,
                )
        if row is None:
            raise NotFound(f"No API key has the id {key_id!r}.", code="key_not_found")
        return _out(row)

    async def authenticate(self, key: str) -> Principal:
        parsed = tokens.parse(key)
        if parsed is None:
            raise Unauthenticated("The API key is malformed.", code="invalid_api_key")
        now = self.clock()
        async with self.pool.acquire() as conn:
            repo = KeyRepository(conn)
            row = await repo.get(parsed.key_id)
            if row is None or not tokens.secret_matches(parsed.secret, row["secret_hash"]):
                raise Unauthenticated("The API key is not valid for this deployment.", code="invalid_api_key")
            if row["revoked_at"] is not None:
                raise Unauthenticated("The API key has been revoked.", code="revoked_api_key")
            if row["expires_at"] is not None and row["expires_at"] <= now:
                raise Unauthenticated("The API key has expired.", code="expired_api_key")
            last_used = row["last_used_at"]
            if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
                await repo.touch(parsed.key_id, now, LAST_USED_RESOLUTION)
        return Principal(key_id=row["id"], role=Role(row["role"]), name=row["name"])


async def bootstrap_key(
    database_url: str, name: str, role: Role = Role.ADMIN, *, create_database: bool = False
) -> KeyCreated:
    """Create a key straight in the database: how the first admin key comes to exist.

    Applies the gateway's migrations first, so it works before the gateway has ever started.
    """
    if create_database:
        await db.ensure_database(database_url)
    await db.migrate(database_url, SCHEMA, MIGRATIONS)
    pool = await db.create_pool(database_url, SCHEMA, max_size=1)
    try:
        async with db.transaction(pool) as conn:
            return await create_key(conn, KeyIn(name=name, role=role), created_by="bootstrap")
    finally:
        await pool.close()
