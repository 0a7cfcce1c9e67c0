"""Evidence events leave through the outbox: once each, with what compliance needs to decide."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from guardian_common.auth import Role
from guardian_common.bus import Subjects
from guardian_evidence import outbox
from guardian_evidence.app import create_app

PDF = b"%PDF-1.7\n" + b"2" * 2000 + b"\n%%EOF\n"


async def _domain_messages(h: Any) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    nc = await nats.connect(h.nats_url)
    try:
        js = nc.jetstream()
        subjects = Subjects(h.prefix)
        info = await js.stream_info(subjects.stream("DOMAIN"))
        if info.state.messages == 0:
            return []
        sub = await js.pull_subscribe(
            subjects.domain("evidence.>"),
            stream=subjects.stream("DOMAIN"),
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        # Audit entries share the stream (domain.audit.recorded): count only what this filter sees.
        count = (await sub.consumer_info()).num_pending
        if not count:
            await sub.unsubscribe()
            return []
        msgs = await sub.fetch(count, timeout=5)
        await sub.unsubscribe()
        return [(m.subject, dict(m.headers or {}), json.loads(m.data)) for m in msgs]
    finally:
        await nc.close()


async def _relay(h: Any) -> int:
    runtime = h.app.state.runtime
    return await outbox.relay_once(runtime.require_pool(), runtime.require_js(), runtime.subjects, h.clock)


async def test_changes_are_published_once_with_the_outbox_id_as_message_id(local: Any) -> None:
    item = (
        await local.create(
            PDF,
            control=["GRD-GOV-02", "GRD-GOV-01"],
            frequency="quarterly",
            period_label="2027-Q3",
            period_start="2027-07-01",
            period_end="2027-09-30",
        )
    ).json()
    item_id = item["item_id"]
    await local.review(item_id, 1, by="bob")
    deleted = await local.client.delete(
        f"/api/v1/evidence/{item_id}", params={"reason": "uploaded to the wrong control"}, headers=local.key()
    )
    assert deleted.status_code == 200, deleted.text
    # Nothing reaches NATS before the relay runs: events wait in the outbox.
    assert await _domain_messages(local) == []

    # Each change also wrote its audit entry (audit.recorded) to the outbox.
    assert await _relay(local) == 6
    assert await _relay(local) == 0
    messages = await _domain_messages(local)
    prefix = local.prefix
    assert [m[0] for m in messages] == [
        f"{prefix}.domain.evidence.version_added",
        f"{prefix}.domain.evidence.reviewed",
        f"{prefix}.domain.evidence.deleted",
    ]
    ids = [m[1]["Nats-Msg-Id"] for m in messages]
    assert ids == [m[2]["event_id"] for m in messages]
    assert len(set(ids)) == 3
    assert all(i.startswith("evidence:outbox:") for i in ids)

    added, reviewed, gone = (m[2] for m in messages)
    assert added["event_type"] == "evidence.version_added"
    assert added["source"] == "evidence"
    assert added["data"]["item_id"] == item_id
    assert added["data"]["control_ids"] == ["GRD-GOV-01", "GRD-GOV-02"]
    assert added["data"]["version"] == 1
    assert added["data"]["status"] == "pending_review"
    assert added["data"]["counts"] is False
    assert added["data"]["period"] == {"label": "2027-Q3", "start": "2027-07-01", "end": "2027-09-30"}
    assert added["data"]["sha256"] == item["versions"][0]["sha256"]

    assert reviewed["data"]["decision"] == "accepted"
    assert reviewed["data"]["status"] == "current"
    assert reviewed["data"]["counts"] is True
    assert reviewed["data"]["reviewed_at"] == local.clock.now().isoformat()
    assert reviewed["data"]["valid_until"] == "2028-01-01T00:00:00+00:00"
    assert reviewed["data"]["accepted_version"] == 1
    # The version's own validity, and every reviewed version's decision and times (for history).
    assert reviewed["data"]["version_valid_from"] == "2027-10-01T00:00:00+00:00"
    assert reviewed["data"]["reviews"] == [
        {
            "version": 1,
            "decision": "accepted",
            "reviewed_at": reviewed["data"]["reviewed_at"],
            "valid_from": "2027-10-01T00:00:00+00:00",
            "valid_until": "2028-01-01T00:00:00+00:00",
        }
    ]
    assert added["data"]["reviews"] == []

    assert gone["data"]["status"] == "deleted"
    assert gone["data"]["counts"] is False
    assert gone["data"]["reason"] == "uploaded to the wrong control"
    assert gone["data"]["reviews"] == reviewed["data"]["reviews"]


async def test_a_relay_that_dies_before_marking_does_not_publish_twice(local: Any) -> None:
    await local.create(PDF)
    assert await _relay(local) == 2  # the version and its audit entry
    # As if the relay had crashed after publishing but before its commit.
    async with local.app.state.runtime.require_pool().acquire() as conn:
        await conn.execute("UPDATE outbox SET published_at = NULL")
    assert await _relay(local) == 2
    assert len(await _domain_messages(local)) == 1


async def test_refused_changes_emit_nothing(local: Any) -> None:
    item = (await local.create(PDF)).json()
    await local.review(item["item_id"], 1, by="alice")  # self review: refused
    await local.client.put(
        f"/api/v1/evidence/{item['item_id']}/lock",
        json={"locked_until": "2030-01-01"},
        headers=local.key(Role.ADMIN, "root"),
    )
    await local.client.delete(f"/api/v1/evidence/{item['item_id']}", params={"reason": "x"}, headers=local.key())
    # The upload's event and audit entry, and the lock's audit entry; nothing from the refusals.
    assert await local.count("outbox") == 3


async def test_the_running_service_relays_its_outbox(make_harness: Any) -> None:
    h = await make_harness("local")
    # A second app on the same database and bus, this time with its relay running.
    app = create_app(h.settings.model_copy(update={"outbox_relay_seconds": 0.05}), clock=h.clock)
    async with app.router.lifespan_context(app):
        await h.create(PDF)
        for _ in range(200):
            if await _published(h) == 2:
                break
            await asyncio.sleep(0.025)
    assert await _published(h) == 2  # the version and its audit entry
    assert len(await _domain_messages(h)) == 1


async def _published(h: Any) -> int:
    async with h.app.state.runtime.require_pool().acquire() as conn:
        value: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
        return value
