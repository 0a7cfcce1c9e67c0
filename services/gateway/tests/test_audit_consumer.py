"""From a change to the chain over real NATS: the gateway's own key changes leave through its outbox
as audit.recorded events, its durable consumer chains them; a duplicate appends once, a rolled-back
change never arrives, a malformed event is dead-lettered and the chain stays intact."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext

from guardian_common import bus, db
from guardian_common.auth import Principal, Role
from guardian_gateway.audit.consumer import DURABLE, build_consumer
from guardian_gateway.audit.repository import Filters
from guardian_gateway.audit.service import AuditService
from guardian_gateway.database import MIGRATIONS, OUTBOX, SCHEMA
from guardian_gateway.keys.schemas import KeyIn
from guardian_gateway.keys.service import KeyService, create_key
from guardian_testkit.resources import delete_streams

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
ADMIN = Principal(key_id="0123456789abcdef", role=Role.ADMIN, name="alice")


class Rollback(Exception):
    """Raised inside a transaction to undo it."""


@pytest.fixture
async def audit_pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(fresh_database, SCHEMA, MIGRATIONS)
    created = await db.create_pool(fresh_database, SCHEMA, max_size=4)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
async def bus_(nats_url: str) -> AsyncIterator[tuple[JetStreamContext, bus.Subjects]]:
    subjects = bus.Subjects(f"t{uuid.uuid4().hex[:10]}")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await bus.ensure_streams(js, subjects)
    try:
        yield js, subjects
    finally:
        await nc.close()
        await delete_streams(nats_url, subjects.prefix)


async def all_entries(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    page = await AuditService(pool).page(Filters(), 0, 1000)
    return [item.model_dump(mode="json") for item in page.items]


async def chained(pool: asyncpg.Pool, count: int) -> None:
    """Wait until the chain holds ``count`` entries (the consumer works in the background)."""
    for _ in range(300):
        if len(await all_entries(pool)) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the chain never reached {count} entries")


async def test_key_changes_reach_the_chain_once_with_actor_before_and_after(
    audit_pool: asyncpg.Pool, bus_: tuple[JetStreamContext, bus.Subjects]
) -> None:
    js, subjects = bus_
    keys = KeyService(audit_pool, lambda: NOW)
    created = await keys.create(KeyIn(name="ci", role=Role.EDITOR), created_by="alice", actor=ADMIN)
    await keys.revoke(created.id, actor=ADMIN)
    await keys.revoke(created.id, actor=ADMIN)  # already revoked: no change, no entry

    async def create_then_fail() -> None:
        async with db.transaction(audit_pool) as conn:
            await create_key(conn, KeyIn(name="never", role=Role.ADMIN), "alice", lambda: NOW, ADMIN)
            raise Rollback

    with pytest.raises(Rollback):
        await create_then_fail()

    assert await OUTBOX.relay_once(audit_pool, js, subjects) == 2
    # The same event published again under another message id (a relay outliving the duplicate window).
    async with audit_pool.acquire() as conn:
        first = await conn.fetchrow("SELECT event_type, payload FROM outbox ORDER BY id LIMIT 1")
    body = {"event_id": "gateway:outbox:replayed", **first["payload"]}
    await js.publish(subjects.domain("audit.recorded"), json.dumps(body).encode(), headers={"Nats-Msg-Id": "again"})
    await js.publish(subjects.domain("audit.recorded"), b'{"not": "an audit event"}', headers={"Nats-Msg-Id": "bad"})

    consumer = build_consumer(js, subjects, audit_pool, lambda: NOW, batch_size=10)
    await consumer.start()
    try:
        await chained(audit_pool, 2)
        # Everything published has been handled once the consumer has nothing left to do.
        for _ in range(300):
            if await consumer.lag() == 0:
                break
            await asyncio.sleep(0.1)
        assert await consumer.lag() == 0
    finally:
        await consumer.stop()

    entries = await all_entries(audit_pool)
    assert [e["action"] for e in entries] == ["key.created", "key.revoked"]
    made, revoked = entries
    assert made["actor"] == {"id": ADMIN.key_id, "role": "admin", "name": "alice"}
    assert made["target"] == {"type": "api_key", "id": created.id}
    assert made["before"] is None
    assert made["after"]["name"] == "ci"
    assert "secret_hash" not in made["after"]
    assert "key" not in made["after"]
    assert made["source"] == "gateway"
    assert revoked["before"]["revoked_at"] is None
    assert revoked["after"]["revoked_at"] is not None
    assert all(e["target"]["id"] != "never" and e["after"].get("name") != "never" for e in entries)
    assert (await AuditService(audit_pool).verify()).intact

    letters = await js.pull_subscribe(subjects.dlq(DURABLE), stream=subjects.stream("DLQ"))
    dead = await letters.fetch(1, timeout=5)
    assert json.loads(dead[0].data)["consumer"] == DURABLE
