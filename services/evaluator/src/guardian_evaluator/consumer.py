"""Snapshots in, verdicts out: the evaluator's durable consumer.

The evaluator holds no state; replicas share one durable consumer, so JetStream spreads the work.
A verdict is published with a deterministic ``Nats-Msg-Id`` before the snapshot is acked, and
compliance's unique key on (scan, seq) absorbs any duplicate a crash in between produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext

from guardian_common import bus
from guardian_common.events import Event, ResourceSnapshot, SnapshotEvaluated
from guardian_evaluator.engine import evaluate
from guardian_evaluator.registry import REGISTRY, Registry

DURABLE = "evaluator"


def verdicts_for(
    snapshot: ResourceSnapshot,
    catalogue_version: str,
    registry: Registry = REGISTRY,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> SnapshotEvaluated:
    return SnapshotEvaluated(
        event_id=SnapshotEvaluated.make_id(snapshot.scan_id, snapshot.seq),
        scan_id=snapshot.scan_id,
        seq=snapshot.seq,
        account_id=snapshot.account_id,
        region=snapshot.region,
        collection_region=snapshot.collection_region,
        service=snapshot.service,
        resource_type=snapshot.resource_type,
        arn=snapshot.arn,
        name=snapshot.name,
        observed_at=snapshot.observed_at,
        evaluated_at=datetime.now(UTC),
        catalogue_version=catalogue_version,
        results=evaluate(snapshot, registry=registry, overrides=overrides),
    )


def make_consumer(
    js: JetStreamContext,
    subjects: bus.Subjects,
    catalogue_version: str,
    batch_size: int,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> bus.Consumer[ResourceSnapshot]:
    async def handle(batch: list[bus.Delivery[ResourceSnapshot]]) -> None:
        out: list[tuple[str, Event, dict[str, str] | None]] = []
        for delivery in batch:
            evaluated = verdicts_for(delivery.event, catalogue_version, overrides=overrides)
            out.append((subjects.evaluated(evaluated.service), evaluated, bus.resource_headers(evaluated)))
        await bus.publish_many(js, out)

    return bus.Consumer(
        js=js,
        subjects=subjects,
        stream="SNAPSHOTS",
        durable=DURABLE,
        filter_subject=subjects.snapshots_all,
        model=ResourceSnapshot,
        handler=handle,
        batch_size=batch_size,
    )
