"""Webhook deliveries against a loopback receiver, with a clock the tests move through hours and days.

Domain events go in through the fan-out (as the consumer hands them over); the worker's ``run_once``
sends whatever is due at the clock's time. The receiver is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from webhooks_support import MovableClock, Receiver, answer_with, signature_valid, verify_now

from guardian_common import db
from guardian_common.auth import Principal, Role
from guardian_gateway.database import SCHEMA
from guardian_gateway.webhooks.config import RETRY_DELAYS, WebhookConfig
from guardian_gateway.webhooks.consumer import DomainEvent, fan_out
from guardian_gateway.webhooks.metrics import WEBHOOK_DELIVERIES, WEBHOOK_FAILURES
from guardian_gateway.webhooks.repository import DeliveryRepository
from guardian_gateway.webhooks.runtime import Webhooks
from guardian_gateway.webhooks.schemas import WebhookCreated, WebhookIn, WebhookPatch
from guardian_testkit.moto import free_port

ADMIN = Principal(key_id="k-admin", role=Role.ADMIN, name="ops")
LOOPBACK = WebhookConfig(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))


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
def wclock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def hooks(wpool: asyncpg.Pool, wclock: MovableClock) -> AsyncIterator[Webhooks]:
    built = Webhooks.build(wpool, LOOPBACK, wclock)
    try:
        yield built
    finally:
        await built.sender.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


class Events:
    """Domain events as compliance's outbox relays them, numbered like its outbox ids."""

    def __init__(self, pool: asyncpg.Pool, clock: MovableClock) -> None:
        self.pool = pool
        self.clock = clock
        self.next_id = 1

    async def publish(self, event_type: str, **data: Any) -> DomainEvent:
        event = DomainEvent(
            event_id=f"compliance:outbox:{self.next_id}",
            event_type=event_type,
            source="compliance",
            occurred_at=self.clock(),
            data=data,
        )
        self.next_id += 1
        async with db.transaction(self.pool) as conn:
            await fan_out(conn, [event], self.clock())
        return event


@pytest.fixture
def events(wpool: asyncpg.Pool, wclock: MovableClock) -> Events:
    return Events(wpool, wclock)


async def subscribe(hooks: Webhooks, url: str, *patterns: str) -> WebhookCreated:
    return await hooks.service.create(WebhookIn(url=url, event_types=list(patterns) or ["*"]), ADMIN)


async def run_until(hooks: Webhooks, pool: asyncpg.Pool, clock: MovableClock, until: datetime) -> int:
    """Move the clock from one due attempt to the next, sending each, up to ``until``; attempts made."""
    made = 0
    while True:
        due = await pool.fetchval(
            "SELECT min(d.next_attempt_at) FROM webhook_deliveries d"
            " JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.status = 'pending' AND s.enabled"
        )
        if due is None or due > until:
            clock.now = max(clock.now, until)
            return made
        clock.now = max(clock.now, due)
        made += await hooks.worker.run_once()


async def only_delivery(pool: asyncpg.Pool, event_id: str) -> dict[str, Any]:
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries WHERE event_id = $1", event_id)
    assert row is not None
    return dict(row)


async def outbox(pool: asyncpg.Pool, event_type: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id", event_type)
    return [dict(r["payload"]) for r in rows]


async def test_an_event_reaches_its_subscriber_signed_so_the_library_verifies_it(
    hooks: Webhooks, wpool: asyncpg.Pool, events: Events, receiver: Receiver
) -> None:
    created = await subscribe(hooks, f"{receiver.url}/hook", "scope.*")
    changed = await events.publish("scope.changed", scope_id="default", version=2)
    await events.publish("control.created", control_id="ACME-1")
    delivered_before = WEBHOOK_DELIVERIES.labels(outcome="delivered")._value.get()

    assert await hooks.worker.run_once() == 1
    assert WEBHOOK_DELIVERIES.labels(outcome="delivered")._value.get() == delivered_before + 1
    [request] = receiver.received
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["webhook-id"] == changed.event_id
    assert request.headers["content-type"] == "application/json"
    payload = verify_now(created.secret, request)
    assert payload["type"] == "scope.changed"
    assert payload["id"] == changed.event_id
    assert payload["data"] == {"scope_id": "default", "version": 2}
    assert payload["timestamp"] == changed.occurred_at.isoformat()

    detail = await hooks.service.delivery(created.id, (await only_delivery(wpool, changed.event_id))["id"])
    assert (detail.status, detail.attempts, detail.last_status_code) == ("delivered", 1, 204)
    assert [(a.attempt, a.succeeded, a.status_code) for a in detail.attempt_log] == [(1, True, 204)]
    assert detail.attempt_log[0].duration_ms >= 0
    assert await hooks.worker.run_once() == 0


async def test_a_receiver_failing_for_hours_gets_each_event_later_with_the_same_webhook_id(
    hooks: Webhooks, wpool: asyncpg.Pool, wclock: MovableClock, events: Events, receiver: Receiver
) -> None:
    receiver.answer = answer_with(503)
    created = await subscribe(hooks, f"{receiver.url}/hook", "*")
    started = wclock()
    first = await events.publish("acceptance.expiring", acceptance_id="a1")
    wclock.advance(minutes=20)
    second = await events.publish("scope.changed", scope_id="default")
    failures_before = WEBHOOK_FAILURES._value.get()

    await run_until(hooks, wpool, wclock, started + timedelta(hours=9))
    assert receiver.received, "the worker kept trying while the receiver was down"
    assert {r.headers["webhook-id"] for r in receiver.received} == {first.event_id, second.event_id}
    assert WEBHOOK_FAILURES._value.get() - failures_before == len(receiver.received)
    for event in (first, second):
        delivery = await only_delivery(wpool, event.event_id)
        assert delivery["status"] == "pending"
        assert delivery["attempts"] == 6  # 5 s, 5 min, 30 min, 2 h and 5 h after the first

    receiver.answer = answer_with(200)
    await run_until(hooks, wpool, wclock, started + timedelta(hours=22))
    for event in (first, second):
        sent = [r for r in receiver.received if r.headers["webhook-id"] == event.event_id]
        assert len(sent) == 7
        assert len({r.body for r in sent}) == 1, "every attempt carries the same body"
        assert all(signature_valid(created.secret, r) for r in sent)
        stamps = [int(r.headers["webhook-timestamp"]) for r in sent]
        assert stamps == sorted(stamps)
        assert stamps[-1] - stamps[0] >= 8 * 3600
        delivery = await only_delivery(wpool, event.event_id)
        assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 7, 200)
    detail = await hooks.service.delivery(created.id, (await only_delivery(wpool, first.event_id))["id"])
    assert [a.status_code for a in detail.attempt_log] == [503] * 6 + [200]
    assert all("503" in (a.error or "") for a in detail.attempt_log[:-1])
    subscription = await hooks.service.get(created.id)
    assert (subscription.enabled, subscription.failing_since, subscription.consecutive_failures) == (True, None, 0)


async def test_a_delivery_failing_for_more_than_a_day_is_given_up_after_its_last_retry(
    hooks: Webhooks, wpool: asyncpg.Pool, wclock: MovableClock, events: Events, receiver: Receiver
) -> None:
    receiver.answer = answer_with(500)
    await subscribe(hooks, f"{receiver.url}/hook", "scope.changed")
    event = await events.publish("scope.changed", scope_id="default")
    await run_until(hooks, wpool, wclock, wclock() + timedelta(days=2))

    assert len(receiver.received) == len(RETRY_DELAYS) + 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert stamps[-1] - stamps[0] >= 24 * 3600
    delivery = await only_delivery(wpool, event.event_id)
    assert (delivery["status"], delivery["attempts"]) == ("failed", len(RETRY_DELAYS) + 1)
    assert await hooks.worker.run_once() == 0


async def test_redirects_are_not_followed(
    hooks: Webhooks, wpool: asyncpg.Pool, events: Events, receiver: Receiver
) -> None:
    receiver.answer = lambda r: (302, {"location": f"{receiver.url}/elsewhere"}) if r.path == "/hook" else (200, {})
    await subscribe(hooks, f"{receiver.url}/hook", "*")
    event = await events.publish("scope.changed", scope_id="default")
    await hooks.worker.run_once()

    assert [r.path for r in receiver.received] == ["/hook"]
    assert receiver.on("/elsewhere") == []
    delivery = await only_delivery(wpool, event.event_id)
    assert (delivery["status"], delivery["last_status_code"]) == ("pending", 302)
    assert "redirects are not followed" in delivery["last_error"]


async def test_a_target_that_resolves_to_a_private_address_at_send_time_is_refused_without_a_request(
    wpool: asyncpg.Pool, wclock: MovableClock, events: Events
) -> None:
    names = {"hooks.example.test": ["93.184.216.34"]}

    async def resolve(host: str, port: int) -> list[str]:
        return names[host]

    strict = Webhooks.build(wpool, WebhookConfig(), wclock, resolve)
    try:
        await subscribe(strict, "http://hooks.example.test/in", "*")
        names["hooks.example.test"] = ["127.0.0.1"]  # the name now points inside (DNS rebinding)
        event = await events.publish("scope.changed", scope_id="default")
        assert await strict.worker.run_once() == 1
        delivery = await only_delivery(wpool, event.event_id)
        assert delivery["status"] == "pending"
        assert delivery["last_status_code"] is None
        assert delivery["last_error"].startswith("target refused")
        assert "127.0.0.1 is a loopback address" in delivery["last_error"]
    finally:
        await strict.sender.close()


async def test_persistent_failure_disables_the_subscription_with_an_event_and_loses_nothing(
    hooks: Webhooks, wpool: asyncpg.Pool, wclock: MovableClock, events: Events, receiver: Receiver
) -> None:
    receiver.answer = answer_with(500)
    created = await subscribe(hooks, f"{receiver.url}/hook", "scope.*")
    started = wclock()
    published = []
    while (await hooks.service.get(created.id)).enabled:
        assert wclock() - started < timedelta(days=5), "the subscription should have been disabled by now"
        published.append(await events.publish("scope.changed", scope_id="default", n=len(published)))
        await run_until(hooks, wpool, wclock, wclock() + timedelta(hours=12))

    disabled = await hooks.service.get(created.id)
    assert disabled.disabled_at is not None
    assert disabled.disabled_at - started >= LOOPBACK.disable_after
    assert disabled.disabled_reason is not None
    assert disabled.disabled_reason.startswith("every attempt failed for 72 hours")
    [announced] = await outbox(wpool, "webhook.disabled")
    assert announced["data"]["webhook_id"] == created.id
    assert announced["data"]["url"] == f"{receiver.url}/hook"
    entries = [e for e in await outbox(wpool, "audit.recorded") if e["data"]["action"] == "webhook.disabled"]
    assert len(entries) == 1
    assert entries[0]["data"]["actor"]["id"] == "system"
    assert entries[0]["data"]["before"]["enabled"] is True
    assert entries[0]["data"]["after"]["enabled"] is False

    # Disabled: nothing more is sent, nothing new is queued, and what was pending stays pending.
    seen = len(receiver.received)
    await events.publish("scope.changed", scope_id="while-disabled")
    await run_until(hooks, wpool, wclock, wclock() + timedelta(days=1))
    assert len(receiver.received) == seen
    pending = await wpool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
    assert pending > 0

    # Switched on again once the receiver is fixed: every pending delivery goes out.
    receiver.answer = answer_with(204)
    enabled = await hooks.service.update(created.id, WebhookPatch(enabled=True), ADMIN)
    assert (enabled.enabled, enabled.failing_since, enabled.disabled_reason) == (True, None, None)
    await run_until(hooks, wpool, wclock, wclock() + timedelta(minutes=1))
    assert await wpool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'") == 0
    delivered = {r.headers["webhook-id"] for r in receiver.received[seen:]}
    unsettled = await wpool.fetch("SELECT event_id FROM webhook_deliveries WHERE status = 'delivered'")
    assert delivered == {r["event_id"] for r in unsettled}
    assert "compliance:outbox:" + str(len(published) + 1) not in delivered  # published while disabled


async def test_a_ping_is_sent_at_once_and_a_redelivery_repeats_the_same_webhook_id(
    hooks: Webhooks, wpool: asyncpg.Pool, events: Events, receiver: Receiver
) -> None:
    created = await subscribe(hooks, f"{receiver.url}/hook", "*")
    ping = await hooks.service.ping(created.id, ADMIN)
    assert (ping.kind, ping.status, ping.attempts, ping.event_type) == ("ping", "delivered", 1, "webhook.ping")
    [pinged] = receiver.received
    assert verify_now(created.secret, pinged)["data"] == {"webhook_id": created.id}

    event = await events.publish("scope.changed", scope_id="default")
    await hooks.worker.run_once()
    delivery = await only_delivery(wpool, event.event_id)
    again = await hooks.service.redeliver(created.id, delivery["id"], ADMIN)
    assert (again.status, again.attempts) == ("delivered", 2)
    sent = [r for r in receiver.received if r.headers["webhook-id"] == event.event_id]
    assert len(sent) == 2
    assert sent[0].body == sent[1].body
    assert all(verify_now(created.secret, r) for r in sent)


async def test_a_failed_ping_is_not_retried_and_does_not_count_against_the_subscription(
    hooks: Webhooks, receiver: Receiver
) -> None:
    receiver.answer = answer_with(500)
    created = await subscribe(hooks, f"{receiver.url}/hook", "*")
    ping = await hooks.service.ping(created.id, ADMIN)
    assert (ping.status, ping.last_status_code, ping.next_attempt_at) == ("failed", 500, None)
    assert await hooks.worker.run_once() == 0
    assert (await hooks.service.get(created.id)).consecutive_failures == 0


async def test_a_worker_that_dies_after_claiming_leaves_the_delivery_to_be_sent_when_its_lease_ends(
    hooks: Webhooks, wpool: asyncpg.Pool, wclock: MovableClock, events: Events, receiver: Receiver
) -> None:
    created = await subscribe(hooks, f"{receiver.url}/hook", "*")
    event = await events.publish("scope.changed", scope_id="default")
    async with db.transaction(wpool) as conn:  # a worker claims, then vanishes before sending
        claimed = await DeliveryRepository(conn).claim_due(wclock(), wclock() + LOOPBACK.lease, 10, "lost-worker")
    assert [r["event_id"] for r in claimed] == [event.event_id]

    assert await hooks.worker.run_once() == 0, "the lease keeps other workers off"
    wclock.advance(seconds=LOOPBACK.lease.total_seconds() + 1)
    assert await hooks.worker.run_once() == 1
    [request] = receiver.received
    assert request.headers["webhook-id"] == event.event_id
    assert signature_valid(created.secret, request)
    assert (await only_delivery(wpool, event.event_id))["status"] == "delivered"


async def test_the_fan_out_is_idempotent_and_follows_patterns_enabled_state_and_creation_time(
    hooks: Webhooks, wpool: asyncpg.Pool, wclock: MovableClock, events: Events
) -> None:
    early = DomainEvent(
        event_id="compliance:outbox:900",
        event_type="scope.changed",
        source="compliance",
        occurred_at=wclock() - timedelta(days=3),
        data={},
    )
    everything = await subscribe(hooks, "http://127.0.0.1:9/all", "*")
    audit_only = await subscribe(hooks, "http://127.0.0.1:9/audit", "audit.recorded")
    off = await hooks.service.create(WebhookIn(url="http://127.0.0.1:9/off", event_types=["*"], enabled=False), ADMIN)
    scope = await events.publish("scope.changed", scope_id="default")
    entry = await events.publish("audit.recorded", action="scope.updated")
    async with db.transaction(wpool) as conn:
        assert await fan_out(conn, [early, scope.model_copy(), entry.model_copy()], wclock()) == 0

    rows = await wpool.fetch("SELECT subscription_id, event_id FROM webhook_deliveries WHERE kind = 'event'")
    assert sorted((r["subscription_id"], r["event_id"]) for r in rows) == sorted(
        [(everything.id, scope.event_id), (audit_only.id, entry.event_id)]
    )
    assert off.id not in {r["subscription_id"] for r in rows}


async def test_settled_deliveries_are_forgotten_after_the_retention_and_pending_ones_never(
    hooks: Webhooks, wpool: asyncpg.Pool, wclock: MovableClock, events: Events, receiver: Receiver
) -> None:
    receiver.answer = lambda r: (204, {}) if r.path == "/ok" else (500, {})
    ok = await subscribe(hooks, f"{receiver.url}/ok", "*")
    down = await subscribe(hooks, f"{receiver.url}/down", "*")
    await events.publish("scope.changed", scope_id="default")
    assert await hooks.worker.run_once() == 2
    assert await hooks.worker.sweep() == 0

    wclock.advance(days=LOOPBACK.retention.days + 1)
    assert await hooks.worker.sweep() == 1
    remaining = await wpool.fetch("SELECT subscription_id, status FROM webhook_deliveries")
    assert [(r["subscription_id"], r["status"]) for r in remaining] == [(down.id, "pending")]
    assert await hooks.service.deliveries(ok.id, None, 10) == []
    assert await wpool.fetchval("SELECT count(*) FROM webhook_attempts") == 1


async def test_a_receiver_that_does_not_answer_is_cut_off_at_the_timeout_and_retried(
    wpool: asyncpg.Pool, wclock: MovableClock, events: Events, receiver: Receiver
) -> None:
    receiver.hang = True
    impatient = Webhooks.build(wpool, replace(LOOPBACK, timeout_seconds=0.5), wclock)
    try:
        await subscribe(impatient, f"{receiver.url}/hook", "*")
        event = await events.publish("scope.changed", scope_id="default")
        assert await impatient.worker.run_once() == 1
        delivery = await only_delivery(wpool, event.event_id)
        assert (delivery["status"], delivery["last_status_code"]) == ("pending", None)
        assert delivery["last_error"] == "no answer within 0.5 s"
        assert len(receiver.received) == 1
    finally:
        await impatient.sender.close()


async def test_a_receiver_that_is_not_listening_is_a_failed_attempt_with_the_error(
    hooks: Webhooks, wpool: asyncpg.Pool, events: Events
) -> None:
    await subscribe(hooks, f"http://127.0.0.1:{free_port()}/hook", "*")
    event = await events.publish("scope.changed", scope_id="default")
    assert await hooks.worker.run_once() == 1
    delivery = await only_delivery(wpool, event.event_id)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, None)
    assert delivery["last_error"].startswith("ConnectError")
