"""API keys: shown once, stored as a hash, revocable, expiring, with a coarse last-used time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from guardian_common.auth import Role
from guardian_common.errors import BadRequest, NotFound, Unauthenticated
from guardian_gateway.keys import tokens
from guardian_gateway.keys.schemas import KeyIn
from guardian_gateway.keys.service import KeyService, bootstrap_key


def test_a_generated_key_carries_its_id_and_a_secret_whose_hash_is_what_is_kept() -> None:
    new = tokens.generate()
    assert new.key.startswith(f"gdk_{new.key_id}_")
    parsed = tokens.parse(new.key)
    assert parsed is not None
    assert parsed.key_id == new.key_id
    assert new.secret_hash == tokens.hash_secret(parsed.secret)
    assert parsed.secret not in new.secret_hash
    assert tokens.secret_matches(parsed.secret, new.secret_hash)
    assert not tokens.secret_matches(parsed.secret + "x", new.secret_hash)


def test_the_display_prefix_shows_the_id_and_only_four_characters_of_the_secret() -> None:
    new = tokens.generate()
    secret = new.key.split("_", 2)[2]
    assert new.prefix == f"gdk_{new.key_id}_{secret[:4]}"
    assert len(secret) >= 32


def test_keys_are_all_different() -> None:
    keys = [tokens.generate() for _ in range(20)]
    assert len({k.key_id for k in keys}) == 20
    assert len({k.secret_hash for k in keys}) == 20


@pytest.mark.parametrize(
    "key",
    ["", "gdk_", "gk1.abc.def", "gdk_0123456789abcdef", "gdk_0123456789ABCDEF_" + "a" * 43, "gdk_0123_" + "a" * 43],
)
def test_malformed_keys_do_not_parse(key: str) -> None:
    assert tokens.parse(key) is None


async def refusal(service: KeyService, key: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        await service.authenticate(key)
    assert info.value.status == 401
    return info.value.code


async def row(pool: asyncpg.Pool, key_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return dict(await conn.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id))


async def test_a_created_key_authenticates_as_its_role_and_only_its_hash_is_stored(
    pool: asyncpg.Pool, clock: Any
) -> None:
    service = KeyService(pool, clock)
    created = await service.create(KeyIn(name="ci", role=Role.EDITOR), created_by="root")
    principal = await service.authenticate(created.key)
    assert (principal.key_id, principal.role, principal.name) == (created.id, Role.EDITOR, "ci")
    stored = await row(pool, created.id)
    assert created.key not in {str(v) for v in stored.values()}
    assert stored["secret_hash"] == tokens.hash_secret(created.key.split("_", 2)[2])
    assert stored["created_by"] == "root"
    listed = await service.all()
    assert [k.id for k in listed] == [created.id]
    assert "key" not in listed[0].model_dump()


async def test_a_wrong_or_unknown_key_is_refused(pool: asyncpg.Pool, clock: Any) -> None:
    service = KeyService(pool, clock)
    created = await service.create(KeyIn(name="ci", role=Role.ADMIN), created_by="root")
    assert await refusal(service, created.key[:-1] + ("A" if created.key[-1] != "A" else "B")) == "invalid_api_key"
    assert await refusal(service, tokens.generate().key) == "invalid_api_key"
    assert await refusal(service, "not-a-key") == "invalid_api_key"


async def test_a_revoked_key_is_refused_and_keeps_its_first_revocation_time(pool: asyncpg.Pool, clock: Any) -> None:
    service = KeyService(pool, clock)
    created = await service.create(KeyIn(name="laptop", role=Role.AUDITOR), created_by="root")
    revoked = await service.revoke(created.id)
    assert revoked.revoked_at == clock.now
    assert await refusal(service, created.key) == "revoked_api_key"
    clock.advance(hours=1)
    again = await service.revoke(created.id)
    assert again.revoked_at == revoked.revoked_at
    with pytest.raises(NotFound):
        await service.revoke("0123456789abcdef")


async def test_a_key_works_until_its_expiry_then_is_refused(pool: asyncpg.Pool, clock: Any) -> None:
    service = KeyService(pool, clock)
    expiry = clock.now + timedelta(days=1)
    created = await service.create(KeyIn(name="temp", role=Role.EDITOR, expires_at=expiry), created_by="root")
    clock.now = expiry - timedelta(seconds=1)
    assert (await service.authenticate(created.key)).role is Role.EDITOR
    clock.now = expiry
    assert await refusal(service, created.key) == "expired_api_key"


async def test_an_expiry_in_the_past_is_refused_and_a_naive_one_is_read_as_utc(pool: asyncpg.Pool, clock: Any) -> None:
    service = KeyService(pool, clock)
    with pytest.raises(BadRequest) as info:
        await service.create(KeyIn(name="x", role=Role.ADMIN, expires_at=clock.now), created_by="root")
    assert info.value.code == "invalid_expiry"
    naive = (clock.now + timedelta(hours=2)).replace(tzinfo=None)
    created = await service.create(KeyIn(name="x", role=Role.ADMIN, expires_at=naive), created_by="root")
    assert created.expires_at == clock.now + timedelta(hours=2)


async def test_last_used_is_recorded_at_most_once_a_minute(pool: asyncpg.Pool, clock: Any) -> None:
    service = KeyService(pool, clock)
    created = await service.create(KeyIn(name="busy", role=Role.AUDITOR), created_by="root")
    assert (await row(pool, created.id))["last_used_at"] is None
    first = clock.now
    await service.authenticate(created.key)
    assert (await row(pool, created.id))["last_used_at"] == first
    clock.advance(seconds=59)
    await service.authenticate(created.key)
    assert (await row(pool, created.id))["last_used_at"] == first
    clock.advance(seconds=1)
    await service.authenticate(created.key)
    assert (await row(pool, created.id))["last_used_at"] == first + timedelta(seconds=60)


async def test_bootstrap_creates_a_working_admin_key_in_a_database_the_gateway_never_touched(
    fresh_database: str,
) -> None:
    created = await bootstrap_key(fresh_database, "first-admin")
    assert created.role is Role.ADMIN
    assert created.created_by == "bootstrap"
    conn = await asyncpg.connect(fresh_database)
    try:
        stored = await conn.fetchrow("SELECT name, role, secret_hash FROM gateway.api_keys WHERE id = $1", created.id)
    finally:
        await conn.close()
    assert stored is not None
    assert (stored["name"], stored["role"]) == ("first-admin", "admin")
    assert stored["secret_hash"] == tokens.hash_secret(created.key.split("_", 2)[2])
    assert created.created_at <= datetime.now(UTC)
