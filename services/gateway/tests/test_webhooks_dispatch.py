"""The dispatcher on a real JetStream: domain events relayed from an outbox reach the subscriber, and a
dispatcher stopped and started again (a deploy, a crash) loses nothing and sends nothing twice."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest
from nats.js import JetStreamContext
from webhooks_support import MovableClock, Receiver, verify_now

from guardian_common import bus, db
from guardian_common.auth import Principal, Role
from guardian_common.outbox import Outbox
from guardian_gateway.database import SCHEMA
from guardian_gateway.webhooks.config import WebhookConfig
from guardian_gateway.webhooks.runtime import Webhooks
from guardian_gateway.webhooks.schemas import WebhookIn
from guardian_testkit.resources import delete_streams

ADMIN = Principal(key_id="k-admin", role=Role.ADMIN, name="ops")
CONFIG = WebhookConfig(
    allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), poll_seconds=0.05, durable="gateway-webhooks-test"
)
COMPLIANCE = Outbox("compliance")
WAIT_SECONDS = 60.0


@pytest.fixture
async def wpool(gateway_database: str) -> AsyncIterator[asyncpg.Pool]:
    created = await db.create_pool(gateway_database, SCHEMA, max_size=5)
    try:
        async with created.acquire() as conn:
            await conn.execute("TRUNCATE webhook_subscriptions, outbox RESTART IDENTITY CASCADE")
        yield created
    finally:
        await created.close()


@pytest.fixture
async def jetstream(nats_url: str) -> AsyncIterator[tuple[JetStreamContext, bus.Subjects]]:
    prefix = f"wh{uuid.uuid4().hex[:10]}"
    nc = await bus.connect(nats_url, "webhook-dispatch-test")
    js = nc.jetstream()
    subjects = bus.Subjects(prefix)
    await bus.ensure_streams(js, subjects)
    try:
        yield js, subjects
    finally:
        await nc.close()
        await delete_streams(nats_url, prefix)


async def emit(pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, clock: MovableClock, n: int) -> str:
    """One scope change through an outbox and its relay, as compliance emits it; its event id."""
    async with db.transaction(pool) as conn:
        await COMPLIANCE.emit(conn, "scope.changed", f"scope:default:{n}", {"scope_id": "default", "n": n}, clock())
        outbox_id = await conn.fetchval("SELECT id FROM outbox WHERE dedupe_key = $1", f"scope:default:{n}")
    await COMPLIANCE.relay_once(pool, js, subjects)
    return COMPLIANCE.message_id(outbox_id)


async def until_received(receiver: Receiver, ids: set[str]) -> None:
    async def wait() -> None:
        while True:
            if ids <= {r.headers["webhook-id"] for r in receiver.received}:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), WAIT_SECONDS)


async def test_a_restarted_dispatcher_loses_nothing_and_repeats_nothing(
    wpool: asyncpg.Pool, jetstream: tuple[JetStreamContext, bus.Subjects]
) -> None:
    js, subjects = jetstream
    clock = MovableClock()
    async with Receiver() as receiver:
        first = Webhooks.build(wpool, CONFIG, clock)
        created = await first.service.create(WebhookIn(url=f"{receiver.url}/in", event_types=["scope.*"]), ADMIN)
        await first.start(js, subjects)
        before = {await emit(wpool, js, subjects, clock, n) for n in range(3)}
        await until_received(receiver, before)
        await first.stop()

        # Events published while no dispatcher runs wait in the stream for the durable consumer.
        during = {await emit(wpool, js, subjects, clock, n) for n in range(3, 6)}
        assert not during & {r.headers["webhook-id"] for r in receiver.received}

        second = Webhooks.build(wpool, replace(CONFIG), clock)
        await second.start(js, subjects)
        try:
            await until_received(receiver, before | during)
            # A relay repeating an event after JetStream's duplicate window: same event id, new message.
            replayed = next(iter(before))
            body = (
                f'{{"event_id": "{replayed}", "event_type": "scope.changed", "schema_version": 1,'
                f' "source": "compliance", "occurred_at": "{clock().isoformat()}", "data": {{}}}}'
            )
            await js.publish(subjects.domain("scope.changed"), body.encode(), headers={"Nats-Msg-Id": "replay-1"})
            assert second.consumer is not None

            async def drained() -> None:
                assert second.consumer is not None
                while True:
                    if await second.consumer.lag() == 0:
                        return
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(drained(), WAIT_SECONDS)
            await asyncio.wait_for(second.worker.run_once(), WAIT_SECONDS)
        finally:
            await second.stop()

    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert sorted(ids) == sorted(before | during), "each event once, none lost"
    assert all(verify_now(created.secret, r)["type"] == "scope.changed" for r in receiver.received)
    rows = await wpool.fetch("SELECT event_id, status, attempts FROM webhook_deliveries ORDER BY event_id")
    assert {r["event_id"] for r in rows} == before | during
    assert {(r["status"], r["attempts"]) for r in rows} == {("delivered", 1)}
