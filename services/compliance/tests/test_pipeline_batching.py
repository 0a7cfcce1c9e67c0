"""Compliance's batched write path, driven through NATS as the collector and evaluators drive it.

The evaluations consumer claims evaluations, records results, upserts findings and counts progress
with one statement per table per batch, and the finalisation writes failure intervals and their
outbox events in pages. These tests check what users see stays exact: every finding, history
interval and domain event once, none lost or doubled, also for evaluations that arrive after their
scan was finalised (late: after the deadline, or redelivered after a restart).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest

from guardian_common import bus
from guardian_common.auth import Role, mint_key
from guardian_common.events import (
    CheckCatalogue,
    CheckInfo,
    CheckResult,
    ScanCompleted,
    ScanStarted,
    Severity,
    SnapshotEvaluated,
    Status,
    UnitResult,
    UnitStatus,
)
from guardian_compliance.app import create_app
from guardian_compliance.history import recorder
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.resources import delete_streams, empty_schema

ACCOUNT = "222222222222"
ENC = "s3_bucket_default_encryption"
LOG = "s3_bucket_access_logging"
CHECKS = [
    CheckInfo(
        id=cid,
        version=1,
        title=cid,
        description=cid,
        severity=Severity.HIGH,
        resource_type="AWS::S3::Bucket",
        service="s3",
        remediation="Fix it.",
    )
    for cid in (ENC, LOG)
]
CATALOGUE_VERSION = CheckCatalogue.version_of(CHECKS)
WAIT = 120.0


@dataclass
class Stack:
    http: httpx.AsyncClient
    nc: Any
    js: Any
    subjects: bus.Subjects
    auditor: dict[str, str]
    domain: list[dict[str, Any]]

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, headers=self.auditor, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def stack(request: pytest.FixtureRequest, servers: tuple[str, str], database: str) -> AsyncIterator[Stack]:
    """Compliance with its consumers running and a domain-event listener; the scan deadline in seconds
    is the fixture's parameter (half an hour unless a test asks for less)."""
    _, nats_url = servers
    token = uuid.uuid4().hex[:10]
    prefix = f"pb{token}"
    await empty_schema(database, "compliance")
    settings = ComplianceSettings(
        environment="test",
        database_url=database,
        nats_url=nats_url,
        bus_prefix=prefix,
        auth_secret=f"batching-{token}-{'x' * 16}",
        log_level="WARNING",
        batch_size=500,
        scan_deadline_seconds=getattr(request, "param", 1800.0),
        deadline_poll_seconds=0.5,
        acceptance_poll_seconds=3600,
        outbox_poll_seconds=0.2,
    )
    service = create_app(settings)
    subjects = bus.Subjects(prefix)
    nc = await nats.connect(nats_url)
    domain: list[dict[str, Any]] = []

    async def on_domain(msg: Any) -> None:
        domain.append(json.loads(msg.data))

    await nc.subscribe(subjects.domain_all, cb=on_domain)
    try:
        async with service.router.lifespan_context(service):
            transport = httpx.ASGITransport(app=service)
            async with httpx.AsyncClient(transport=transport, base_url="http://compliance", timeout=60.0) as http:
                auditor = {"Authorization": f"Bearer {mint_key(settings.auth_secret, Role.AUDITOR, 'audrey')[1]}"}
                js = nc.jetstream()
                await bus.ensure_streams(js, subjects)
                stack = Stack(http, nc, js, subjects, auditor, domain)
                started = datetime.now(UTC)
                await bus.publish(
                    js,
                    subjects.catalogue,
                    CheckCatalogue(
                        event_id=CheckCatalogue.make_id(CATALOGUE_VERSION),
                        catalogue_version=CATALOGUE_VERSION,
                        published_at=started,
                        checks=CHECKS,
                    ),
                )
                yield stack
    finally:
        await nc.close()
        await delete_streams(nats_url, prefix)


def bucket(n: int) -> str:
    return f"arn:aws:s3:::batch-bucket-{n:05d}"


def evaluation(
    scan_id: str, seq: int, arn: str, statuses: dict[str, Status], observed_at: datetime, event_id: str | None = None
) -> SnapshotEvaluated:
    return SnapshotEvaluated(
        event_id=event_id or SnapshotEvaluated.make_id(scan_id, seq),
        scan_id=scan_id,
        seq=seq,
        account_id=ACCOUNT,
        region="us-east-1",
        collection_region="global",
        service="s3",
        resource_type="AWS::S3::Bucket",
        arn=arn,
        name=arn.rsplit(":", 1)[-1],
        observed_at=observed_at,
        evaluated_at=observed_at,
        catalogue_version=CATALOGUE_VERSION,
        results=[
            CheckResult(
                check_id=cid,
                check_version=1,
                status=status,
                severity=Severity.HIGH,
                reason=f"{cid} is {status.value}",
                evidence={"seq": seq},
            )
            for cid, status in statuses.items()
        ],
    )


async def start_scan(stack: Stack, scan_id: str, at: datetime) -> None:
    await bus.publish(
        stack.js,
        stack.subjects.scan_started,
        ScanStarted(
            event_id=ScanStarted.make_id(scan_id),
            scan_id=scan_id,
            account_id=ACCOUNT,
            regions=["us-east-1"],
            services=["s3"],
            started_at=at,
        ),
    )


async def complete_scan(stack: Stack, scan_id: str, total: int, at: datetime) -> None:
    await bus.publish(
        stack.js,
        stack.subjects.scan_completed,
        ScanCompleted(
            event_id=ScanCompleted.make_id(scan_id),
            scan_id=scan_id,
            account_id=ACCOUNT,
            completed_at=at,
            total_snapshots=total,
            units=[UnitResult(region="global", service="s3", status=UnitStatus.COMPLETE, snapshots=total)],
        ),
    )


async def publish_evaluations(stack: Stack, events: list[SnapshotEvaluated]) -> None:
    await bus.publish_many(stack.js, [(stack.subjects.evaluated("s3"), e, bus.resource_headers(e)) for e in events])


async def until(what: str, probe: Callable[[], Any]) -> Any:
    """Poll ``probe`` until it returns (or its awaitable gives) something truthy: the pipeline is asynchronous."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while asyncio.get_running_loop().time() < deadline:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"not seen within {WAIT} s: {what}")


async def scan_state(stack: Stack, scan_id: str) -> str | None:
    response = await stack.http.get(f"/api/v1/scans/{scan_id}", headers=stack.auditor)
    return str(response.json()["state"]) if response.status_code == 200 else None


async def intervals(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    body = await stack.get("/api/v1/history/findings", start="2020-01-01T00:00:00Z", **params)
    return [interval for item in body["items"] for interval in item["intervals"]]


def of_type(stack: Stack, event_type: str) -> list[dict[str, Any]]:
    return [e for e in stack.domain if e["event_type"] == event_type]


async def test_a_scan_of_many_findings_is_recorded_once_each_in_findings_history_and_events(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages: the finalisation reads its intervals back and writes their events page by page.
    monkeypatch.setattr(recorder, "PAGE", 7)
    now = datetime.now(UTC)
    scan_id = f"many-{uuid.uuid4().hex[:6]}"
    count = 1200  # several consumer batches of 500
    failing = {n for n in range(1, count + 1) if n % 3 == 0}
    await start_scan(stack, scan_id, now - timedelta(minutes=5))
    events = [
        evaluation(
            scan_id,
            n,
            bucket(n),
            {ENC: Status.FAIL if n in failing else Status.PASS, LOG: Status.ERROR if n % 5 == 0 else Status.PASS},
            now - timedelta(minutes=4),
        )
        for n in range(1, count + 1)
    ]
    await publish_evaluations(stack, events)
    # A redelivered batch (new message ids, same scan and seq) is claimed by nobody.
    await publish_evaluations(
        stack,
        [evaluation(scan_id, n, bucket(n), {ENC: Status.PASS}, now, f"again:{scan_id}:{n}") for n in range(1, 301)],
    )
    await complete_scan(stack, scan_id, count, now - timedelta(minutes=3))
    assert await until("the scan final", lambda: _is(scan_state(stack, scan_id), "final"))

    failed = await stack.get("/api/v1/findings", status="FAIL", check_id=ENC, limit=2000)
    assert failed["total"] == len(failing)
    assert {f["resource_arn"] for f in failed["items"]} == {bucket(n) for n in failing}
    errored = await stack.get("/api/v1/findings", status="ERROR", limit=2000)
    assert errored["total"] == count // 5

    opened = await intervals(stack, check_id=ENC)
    assert sorted(i["resource_arn"] for i in opened) == sorted(bucket(n) for n in failing)
    assert all(i["detected_scan"] == scan_id and i["resolved_at"] is None for i in opened)
    # ERROR never opens a failure interval.
    assert await intervals(stack, check_id=LOG) == []

    await until("every finding.opened event relayed", lambda: _len_at_least(of_type(stack, "finding.opened"), 400))
    keys = [(e["data"]["check_id"], e["data"]["resource_arn"]) for e in of_type(stack, "finding.opened")]
    assert sorted(keys) == sorted((ENC, bucket(n)) for n in failing)
    detail = await stack.get(f"/api/v1/history/scans/{scan_id}")
    assert len(detail["new"]) == len(failing)
    history = await stack.get("/api/v1/history/scans", start="2020-01-01T00:00:00Z")
    counts = [s for s in history["items"] if s["scan_id"] == scan_id]
    assert [c["counts"]["new_failures"] for c in counts] == [len(failing)]


@pytest.mark.parametrize("stack", [2.0], indirect=True)
async def test_an_evaluation_arriving_after_its_scan_was_finalised_appears_in_history(stack: Stack) -> None:
    now = datetime.now(UTC)
    scan_id = f"late-{uuid.uuid4().hex[:6]}"
    await start_scan(stack, scan_id, now - timedelta(minutes=5))
    await publish_evaluations(
        stack, [evaluation(scan_id, 1, bucket(1), {ENC: Status.PASS}, now - timedelta(minutes=4))]
    )
    await complete_scan(stack, scan_id, 2, now - timedelta(minutes=3))
    # Seq 2 never came: past the deadline the scan is finalised INCOMPLETE.
    assert await until("the scan incomplete", lambda: _is(scan_state(stack, scan_id), "incomplete"))
    assert await intervals(stack, resource_arn=bucket(2)) == []

    late = evaluation(scan_id, 2, bucket(2), {ENC: Status.FAIL, LOG: Status.PASS}, now - timedelta(minutes=4))
    await publish_evaluations(stack, [late])
    found = await until("the late failure in the history", lambda: intervals(stack, resource_arn=bucket(2)))
    assert [(i["check_id"], i["detected_scan"], i["resolved_at"]) for i in found] == [(ENC, scan_id, None)]
    detail = await stack.get(f"/api/v1/history/scans/{scan_id}")
    assert [(i["check_id"], i["resource_arn"]) for i in detail["new"]] == [(ENC, bucket(2))]
    history = await stack.get("/api/v1/history/scans", start="2020-01-01T00:00:00Z")
    assert [s["counts"]["new_failures"] for s in history["items"] if s["scan_id"] == scan_id] == [1]
    opened = await until("the late finding.opened event", lambda: _for_arn(of_type(stack, "finding.opened"), bucket(2)))
    assert [e["data"]["scan_id"] for e in opened] == [scan_id]

    # Redelivered after a restart (a new message id): nothing changes, nothing is emitted twice.
    await publish_evaluations(
        stack, [evaluation(scan_id, 2, bucket(2), {ENC: Status.FAIL}, now - timedelta(minutes=4), f"again:{scan_id}")]
    )
    # A later, passing evaluation of the same finding in another late message resolves it.
    fixed = evaluation(scan_id, 3, bucket(2), {ENC: Status.PASS}, now - timedelta(minutes=2))
    await publish_evaluations(stack, [fixed])
    resolved = await until(
        "the late resolution in the history",
        lambda: _resolved(intervals(stack, resource_arn=bucket(2))),
    )
    assert [(i["detected_scan"], i["resolved_scan"], i["resolved_as"]) for i in resolved] == [
        (scan_id, scan_id, "PASS")
    ]
    await until("the finding.resolved event", lambda: _for_arn(of_type(stack, "finding.resolved"), bucket(2)))
    assert len(_for_arn(of_type(stack, "finding.opened"), bucket(2))) == 1
    assert len(_for_arn(of_type(stack, "finding.resolved"), bucket(2))) == 1


async def _is(state: Awaitable[str | None], expected: str) -> bool:
    return await state == expected


def _len_at_least(items: list[Any], n: int) -> bool:
    return len(items) >= n


def _for_arn(events: list[dict[str, Any]], arn: str) -> list[dict[str, Any]]:
    return [e for e in events if e["data"]["resource_arn"] == arn]


async def _resolved(found: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = await found
    return rows if rows and all(i["resolved_at"] for i in rows) else []
