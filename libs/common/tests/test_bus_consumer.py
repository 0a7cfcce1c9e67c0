"""The bus against a real NATS server: batches handed over whole, acks only after the handler,
redelivery of what failed, and publishes that fail loudly."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from guardian_common import bus
from guardian_common.events import ResourceSnapshot
from guardian_testkit.resources import delete_streams

WAIT = 60.0


def snapshot(seq: int) -> ResourceSnapshot:
    return ResourceSnapshot(
        event_id=ResourceSnapshot.make_id("bus-scan", seq),
        scan_id="bus-scan",
        seq=seq,
        account_id="123456789012",
        region="us-east-1",
        collection_region="us-east-1",
        service="s3",
        resource_type="AWS::S3::Bucket",
        arn=f"arn:aws:s3:::bus-bucket-{seq}",
        name=f"bus-bucket-{seq}",
        tags={},
        observed_at=datetime(2026, 3, 1, tzinfo=UTC),
        configuration={"versioning": seq % 2 == 0},
    )


@pytest.fixture
async def wired(nats_url: str) -> AsyncIterator[tuple[NatsClient, Any, bus.Subjects]]:
    subjects = bus.Subjects(f"bt{uuid.uuid4().hex[:10]}")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await bus.ensure_streams(js, subjects)
    try:
        yield nc, js, subjects
    finally:
        await nc.close()
        await delete_streams(nats_url, subjects.prefix)


async def publish(js: Any, subjects: bus.Subjects, seqs: range) -> None:
    await bus.publish_many(
        js, [(subjects.snapshot("s3"), snapshot(n), bus.resource_headers(snapshot(n))) for n in seqs], window=64
    )


def consumer(js: Any, subjects: bus.Subjects, handler: bus.BatchHandler[ResourceSnapshot]) -> bus.Consumer[Any]:
    return bus.Consumer(
        js=js,
        subjects=subjects,
        stream="SNAPSHOTS",
        durable="bus-test",
        filter_subject=subjects.snapshots_all,
        model=ResourceSnapshot,
        handler=handler,
        batch_size=100,
    )


async def test_every_message_is_handed_over_once_in_batches_and_acked_after_its_batch(
    wired: tuple[NatsClient, Any, bus.Subjects],
) -> None:
    _, js, subjects = wired
    await publish(js, subjects, range(1, 231))
    # Publishing the same events again is absorbed by their ids.
    await publish(js, subjects, range(1, 231))
    handled: Counter[int] = Counter()
    sizes: list[int] = []
    unacked_in_handler: list[bool] = []
    done = asyncio.Event()

    async def handler(batch: list[bus.Delivery[ResourceSnapshot]]) -> None:
        sizes.append(len(batch))
        # Nothing of a batch is acknowledged while its handler runs (it has not committed yet).
        unacked_in_handler.extend(not d.msg._ackd for d in batch)
        handled.update(d.event.seq for d in batch)
        if len(handled) == 230:
            done.set()

    worker = consumer(js, subjects, handler)
    await worker.start()
    try:
        await asyncio.wait_for(done.wait(), WAIT)
    finally:
        await worker.stop()  # finishes the batch in hand, acks included
    assert handled == Counter(range(1, 231))
    assert all(unacked_in_handler)
    assert max(sizes) <= 100
    for _ in range(100):  # the server counts the last acks as they reach it
        info = await js.consumer_info(subjects.stream("SNAPSHOTS"), "bus-test")
        if (info.num_pending, info.num_ack_pending) == (0, 0):
            break
        await asyncio.sleep(0.05)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_a_message_whose_handler_failed_is_delivered_again(
    wired: tuple[NatsClient, Any, bus.Subjects],
) -> None:
    _, js, subjects = wired
    await publish(js, subjects, range(1, 21))
    deliveries: dict[int, list[int]] = {}
    done = asyncio.Event()

    async def handler(batch: list[bus.Delivery[ResourceSnapshot]]) -> None:
        for d in batch:
            if d.event.seq == 7 and d.deliveries == 1:
                raise RuntimeError("not this time")
        for d in batch:
            deliveries.setdefault(d.event.seq, []).append(d.deliveries)
        if len(deliveries) == 20:
            done.set()

    worker = consumer(js, subjects, handler)
    await worker.start()
    try:
        await asyncio.wait_for(done.wait(), WAIT)
    finally:
        await worker.stop()
    assert deliveries[7] == [2]
    assert all(d == [1] for seq, d in deliveries.items() if seq != 7)


async def test_a_fetch_with_nothing_to_fetch_times_out_and_later_messages_still_come(
    wired: tuple[NatsClient, Any, bus.Subjects],
) -> None:
    _, js, subjects = wired
    handled: list[int] = []
    done = asyncio.Event()

    async def handler(batch: list[bus.Delivery[ResourceSnapshot]]) -> None:
        handled.extend(d.event.seq for d in batch)
        if len(handled) >= 3:
            done.set()

    worker = consumer(js, subjects, handler)
    worker.fetch_timeout = 0.3
    await worker.start()
    try:
        await asyncio.sleep(1.0)  # several fetches expire with nothing
        await publish(js, subjects, range(1, 4))
        await asyncio.wait_for(done.wait(), WAIT)
    finally:
        await worker.stop()
    assert sorted(handled) == [1, 2, 3]


async def test_publish_many_fails_when_no_stream_stores_the_messages(
    wired: tuple[NatsClient, Any, bus.Subjects],
) -> None:
    _, js, _ = wired
    nowhere = f"nowhere{uuid.uuid4().hex[:8]}.snapshot.s3"
    with pytest.raises(Exception) as raised:  # noqa: PT011 - nats says so with its own error types
        await bus.publish_many(js, [(nowhere, snapshot(1), None), (nowhere, snapshot(2), None)])
    assert bus.is_outage(raised.value), "a publish nobody stored is retried, never taken as done"
