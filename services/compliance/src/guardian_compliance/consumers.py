"""Compliance's durable consumers: scans, evaluations, inventory, dead letters, the catalogue and
the evidence service's domain events.

Each batch is one transaction; messages are acked only after it commits. Unique keys make
every handler idempotent, so a redelivery changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypeVar

import asyncpg
from nats.js import JetStreamContext
from pydantic import BaseModel, Field, RootModel

from guardian_common import bus, db
from guardian_common.events import (
    CheckCatalogue,
    CollectionError,
    DeadLetter,
    ResourceSnapshot,
    ScanCompleted,
    ScanStarted,
    SnapshotEvaluated,
    Status,
)
from guardian_compliance.clock import Clock, SystemClock
from guardian_compliance.evidence.consumer import DURABLE as EVIDENCE_DURABLE
from guardian_compliance.evidence.consumer import EvidenceEvent, apply_evidence_events, evidence_subject
from guardian_compliance.findings.repository import FindingRepository, Verdict, verdicts_of
from guardian_compliance.history.recorder import record_late
from guardian_compliance.inventory.repository import InventoryRepository
from guardian_compliance.scans.finalise import try_finalise
from guardian_compliance.scans.repository import ScanRepository

# Dead letters from these consumers mean a snapshot will never be evaluated.
EVALUATION_CONSUMERS = frozenset({"evaluator", "compliance-evaluations"})


class ScanEvent(RootModel[Annotated[ScanStarted | CollectionError | ScanCompleted, Field(discriminator="type")]]):
    pass


M = TypeVar("M", bound=BaseModel)
AnyConsumer = (
    bus.Consumer[ScanEvent]
    | bus.Consumer[SnapshotEvaluated]
    | bus.Consumer[ResourceSnapshot]
    | bus.Consumer[DeadLetter]
    | bus.Consumer[CheckCatalogue]
    | bus.Consumer[EvidenceEvent]
)


def build_consumers(
    js: JetStreamContext,
    subjects: bus.Subjects,
    pool: asyncpg.Pool,
    batch_size: int,
    clock: Clock | None = None,
) -> list[AnyConsumer]:
    clock = clock or SystemClock()

    async def on_scan_events(batch: list[bus.Delivery[ScanEvent]]) -> None:
        to_check: set[str] = set()
        async with db.transaction(pool) as conn:
            repo = ScanRepository(conn)
            for delivery in batch:
                event = delivery.event.root
                if isinstance(event, ScanStarted):
                    await repo.started(event)
                elif isinstance(event, CollectionError):
                    await repo.collection_error(event)
                else:
                    await repo.completed(event)
                    to_check.add(event.scan_id)
            for scan_id in sorted(to_check):
                await try_finalise(conn, scan_id, now=clock.now())

    async def on_evaluations(batch: list[bus.Delivery[SnapshotEvaluated]]) -> None:
        async with db.transaction(pool) as conn:
            await apply_evaluations(conn, [d.event for d in batch], clock.now())

    async def on_snapshots(batch: list[bus.Delivery[ResourceSnapshot]]) -> None:
        async with db.transaction(pool) as conn:
            await InventoryRepository(conn).observe([d.event for d in batch])

    async def on_dead_letters(batch: list[bus.Delivery[DeadLetter]]) -> None:
        async with db.transaction(pool) as conn:
            for delivery in batch:
                await record_dead_letter(conn, delivery.event, clock.now())

    async def on_catalogue(batch: list[bus.Delivery[CheckCatalogue]]) -> None:
        async with db.transaction(pool) as conn:
            for delivery in batch:
                await ScanRepository(conn).store_catalogue(delivery.event)

    async def on_evidence(batch: list[bus.Delivery[EvidenceEvent]]) -> None:
        async with db.transaction(pool) as conn:
            await apply_evidence_events(conn, [d.event for d in batch], clock.now())

    def consumer(
        stream: str, durable: str, subject: str, model: type[M], handler: bus.BatchHandler[M]
    ) -> bus.Consumer[M]:
        return bus.Consumer(
            js=js,
            subjects=subjects,
            stream=stream,
            durable=durable,
            filter_subject=subject,
            model=model,
            handler=handler,
            batch_size=batch_size,
        )

    return [
        consumer("CATALOGUE", "compliance-catalogue", subjects.catalogue, CheckCatalogue, on_catalogue),
        consumer("SCANS", "compliance-scans", subjects.scans_all, ScanEvent, on_scan_events),
        consumer("SNAPSHOTS", "compliance-inventory", subjects.snapshots_all, ResourceSnapshot, on_snapshots),
        consumer("EVALUATIONS", "compliance-evaluations", subjects.evaluated_all, SnapshotEvaluated, on_evaluations),
        consumer("DLQ", "compliance-dlq", subjects.dlq_all, DeadLetter, on_dead_letters),
        consumer("DOMAIN", EVIDENCE_DURABLE, evidence_subject(subjects), EvidenceEvent, on_evidence),
    ]


async def apply_evaluations(
    conn: asyncpg.Connection, events: list[SnapshotEvaluated], now: datetime | None = None
) -> None:
    findings = FindingRepository(conn)
    claimed, late, complete = await findings.claim_and_count(
        [
            (
                e.scan_id,
                e.seq,
                e.arn,
                e.resource_type,
                e.account_id,
                e.region,
                e.collection_region,
                e.service,
                e.observed_at,
                "evaluator",
                e.catalogue_version,
            )
            for e in events
        ]
    )
    # Within one batch the same (scan, seq) may appear twice; keep the first.
    unique: list[SnapshotEvaluated] = []
    for e in events:
        key = (e.scan_id, e.seq)
        if key in claimed:
            claimed.discard(key)
            unique.append(e)
    verdicts: list[Verdict] = [v for e in unique for v in verdicts_of(e)]
    # Evaluations of a scan finalised already (late: redelivered after a restart, or after the
    # deadline) still change findings; their history is recorded now, attributed to their scan.
    before = await findings.last_event_id() if late else 0
    await findings.apply(verdicts)
    for scan_id in sorted(late):
        await record_late(conn, scan_id, before, now or datetime.now(UTC))
    # Only a scan that now has every evaluation can be finalised (try_finalise would say no to
    # the others, after locking their row again).
    for scan_id in sorted(complete):
        await try_finalise(conn, scan_id, now=now)


async def record_dead_letter(conn: asyncpg.Connection, letter: DeadLetter, now: datetime | None = None) -> None:
    scans = ScanRepository(conn)
    if not await scans.dead_letter(letter):
        return
    if letter.consumer not in EVALUATION_CONSUMERS or letter.scan_id is None or letter.seq is None:
        return
    findings = FindingRepository(conn)
    claimed = await findings.claim_evaluations(
        [
            (
                letter.scan_id,
                letter.seq,
                letter.arn,
                letter.resource_type,
                letter.account_id,
                letter.region,
                letter.collection_region,
                letter.service,
                letter.dead_lettered_at,
                "dead_letter",
                None,
            )
        ]
    )
    if not claimed:
        return
    await findings.count_new_evaluations({letter.scan_id: 1})
    if letter.arn and letter.resource_type and letter.account_id:
        # The resource is ERROR for every check that applies to its type: never closed, never PASS.
        _, catalogue, meta = await scans.latest_catalogue()
        observed = datetime.now(UTC)
        verdicts = [
            Verdict(
                check_id=check_id,
                check_version=catalogue[check_id].version,
                resource_arn=letter.arn,
                resource_type=letter.resource_type,
                resource_name=letter.arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or letter.arn,
                account_id=letter.account_id,
                region=letter.region or "unknown",
                collection_region=letter.collection_region or letter.region or "unknown",
                service=letter.service or "unknown",
                status=Status.ERROR.value,
                severity=info["severity"],
                reason=f"The resource's snapshot could not be processed and was dead-lettered: {letter.reason}",
                evidence={"dead_letter": letter.event_id},
                observed_at=observed,
                scan_id=letter.scan_id,
            )
            for check_id, info in meta.items()
            if info["resource_type"] == letter.resource_type
        ]
        await findings.apply(verdicts)
    await try_finalise(conn, letter.scan_id, now=now)
