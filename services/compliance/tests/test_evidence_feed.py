"""Evidence reaches compliance through the evidence service's domain events.

Each test runs the compliance app (with its real durable consumers) on a migrated database of
its own module and a bus prefix of its own on a real NATS server, publishes evidence events on
``<prefix>.domain.evidence.<event>`` shaped as the evidence service's outbox relay publishes them,
waits until the ``compliance-evidence`` consumer has acknowledged everything, and reads the
control statuses and the missing-evidence view through the REST API with a manual clock.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient

from guardian_common import db
from guardian_common.auth import Role, mint_key
from guardian_common.bus import Consumer, Subjects
from guardian_common.events import (
    CheckCatalogue,
    CheckInfo,
    CheckResult,
    ResourceSnapshot,
    ScanCompleted,
    ScanStarted,
    Severity,
    SnapshotEvaluated,
    Status,
    UnitResult,
    UnitStatus,
)
from guardian_compliance.app import create_app
from guardian_compliance.clock import ManualClock
from guardian_compliance.consumers import apply_evaluations
from guardian_compliance.inventory.repository import InventoryRepository
from guardian_compliance.scans.repository import ScanRepository
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.resources import delete_streams, empty_schema

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "111111111111"
ENC = "s3_bucket_default_encryption"
PROCEDURAL = "TST-POL"  # needs a policy and a training record
HYBRID = "TST-HYB"  # needs ENC to pass and a policy

# --------------------------------------------------------------------------------------------- infrastructure


@dataclass
class Service:
    http: httpx.AsyncClient
    clock: ManualClock
    pool: asyncpg.Pool
    subjects: Subjects
    nc: NatsClient
    consumer: Consumer[Any]
    keys: dict[str, str] = field(default_factory=dict)
    published: int = 0

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, headers=self.as_("auditor"), params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def publish(self, body: dict[str, Any], msg_id: str | None = None) -> None:
        """One evidence event on the DOMAIN stream, as the evidence outbox relay sends it."""
        self.published += 1
        await self.nc.jetstream().publish(
            self.subjects.domain(body["event_type"]),
            json.dumps(body).encode(),
            headers={"Nats-Msg-Id": msg_id or body["event_id"], "Guardian-Event": body["event_type"]},
        )

    async def settled(self) -> None:
        """Every published event acknowledged by the evidence consumer (so handled and committed)."""
        deadline = time.monotonic() + 20
        while True:
            info = await self.consumer._sub.consumer_info()
            delivered = info.delivered.stream_seq if info.delivered is not None else None
            done = int(delivered or 0) >= self.published
            if done and await self.consumer.lag() == 0:
                return
            assert time.monotonic() < deadline, "the evidence consumer did not catch up"
            await asyncio.sleep(0.05)


@pytest.fixture
async def svc(servers: tuple[str, str], database: str) -> AsyncIterator[Service]:
    _, nats_url = servers
    token = uuid.uuid4().hex[:10]
    await empty_schema(database, "compliance")
    prefix = f"ev{token}"
    await delete_streams(nats_url, prefix)
    settings = ComplianceSettings(
        environment="test",
        database_url=database,
        nats_url=nats_url,
        bus_prefix=prefix,
        auth_secret=f"evfeed-test-{token}",
        log_level="WARNING",
        acceptance_poll_seconds=3600,
        outbox_poll_seconds=3600,
        deadline_poll_seconds=3600,
    )
    clock = ManualClock(T0)
    app = create_app(settings, clock)
    try:
        async with app.router.lifespan_context(app):
            consumers = app.state.runtime.extras["consumers"]
            evidence = next(c for c in consumers if c.durable == "compliance-evidence")
            nc = await nats.connect(nats_url)
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://compliance") as http:
                    service = Service(http, clock, app.state.runtime.require_pool(), Subjects(prefix), nc, evidence)
                    service.keys = {
                        "editor": mint_key(settings.auth_secret, Role.EDITOR, "erin-editor")[1],
                        "auditor": mint_key(settings.auth_secret, Role.AUDITOR, "audrey-auditor")[1],
                    }
                    await world(service)
                    yield service
            finally:
                await nc.close()
    finally:
        await delete_streams(nats_url, prefix)


# --------------------------------------------------------------------------------------------- the world


async def add_control(svc: Service, control_id: str, checks: list[str], evidence: list[tuple[str, str]]) -> None:
    response = await svc.http.post(
        "/api/v1/controls",
        headers=svc.as_("editor"),
        json={
            "id": control_id,
            "title": f"{control_id} title",
            "description": f"What {control_id} does.",
            "owner": "Security",
            "frequency": "annual",
            "requirements": [{"id": "CC1.1", "rationale": f"{control_id} serves CC1.1"}],
            "checks": checks,
            "evidence": [{"type": t, "description": d} for t, d in evidence],
        },
    )
    assert response.status_code == 201, response.text


async def world(svc: Service) -> None:
    """The catalogue, a procedural and a hybrid control, and a final scan."""
    checks = [
        CheckInfo(
            id=ENC,
            version=1,
            title="Bucket encryption",
            description="Buckets encrypt by default.",
            severity=Severity.HIGH,
            resource_type="AWS::S3::Bucket",
            service="s3",
            remediation="Turn default encryption on.",
        )
    ]
    version = CheckCatalogue.version_of(checks)
    async with db.transaction(svc.pool) as conn:
        await ScanRepository(conn).store_catalogue(
            CheckCatalogue(
                event_id=CheckCatalogue.make_id(version), catalogue_version=version, published_at=T0, checks=checks
            )
        )
    await add_control(
        svc,
        PROCEDURAL,
        [],
        [("policy", "Security policy approved this year"), ("training_record", "Awareness training completions")],
    )
    await add_control(svc, HYBRID, [ENC], [("policy", "Encryption standard")])
    await run_scan(svc, Status.PASS)


async def run_scan(svc: Service, bucket_status: Status) -> str:
    """A scan of one bucket, through the consumer code, finalised at the clock's time."""
    now = svc.clock.now()
    scan_id = f"scan-{uuid.uuid4().hex[:8]}"
    arn = "arn:aws:s3:::payroll"
    snapshot = ResourceSnapshot(
        event_id=ResourceSnapshot.make_id(scan_id, 1),
        scan_id=scan_id,
        seq=1,
        account_id=ACCOUNT,
        region="us-east-1",
        collection_region="global",
        service="s3",
        resource_type="AWS::S3::Bucket",
        arn=arn,
        name="payroll",
        observed_at=now,
    )
    async with db.transaction(svc.pool) as conn:
        scans = ScanRepository(conn)
        await scans.started(
            ScanStarted(
                event_id=ScanStarted.make_id(scan_id),
                scan_id=scan_id,
                account_id=ACCOUNT,
                regions=["us-east-1"],
                services=["s3"],
                started_at=now - timedelta(seconds=1),
            )
        )
        await InventoryRepository(conn).observe([snapshot])
        await scans.completed(
            ScanCompleted(
                event_id=ScanCompleted.make_id(scan_id),
                scan_id=scan_id,
                account_id=ACCOUNT,
                completed_at=now,
                total_snapshots=1,
                units=[UnitResult(region="global", service="s3", status=UnitStatus.COMPLETE, snapshots=1)],
            )
        )
        evaluated = SnapshotEvaluated(
            event_id=SnapshotEvaluated.make_id(scan_id, 1),
            scan_id=scan_id,
            seq=1,
            account_id=ACCOUNT,
            region="us-east-1",
            collection_region="global",
            service="s3",
            resource_type="AWS::S3::Bucket",
            arn=arn,
            name="payroll",
            observed_at=now,
            evaluated_at=now,
            catalogue_version="test",
            results=[
                CheckResult(
                    check_id=ENC,
                    check_version=1,
                    status=bucket_status,
                    severity=Severity.HIGH,
                    reason=f"payroll is {bucket_status.value}",
                )
            ],
        )
        await apply_evaluations(conn, [evaluated], now)
        state = (await scans.get(scan_id) or {}).get("state")
    assert state == "final", state
    return scan_id


_outbox = iter(range(1, 1_000_000))


def evidence_event(
    event_type: str,
    item_id: str,
    evidence_type: str,
    controls: list[str],
    at: datetime,
    *,
    status: str,
    accepted: int | None = None,
    valid_until: datetime | None = None,
    latest: int = 1,
    title: str | None = None,
) -> dict[str, Any]:
    """A body as the evidence service's relay publishes it, with the extra fields it carries."""
    counts = status in ("current", "due_soon") and event_type != "evidence.deleted"
    data: dict[str, Any] = {
        "item_id": item_id,
        "title": title or f"{evidence_type} {item_id}",
        "evidence_type": evidence_type,
        "owner": "security-team",
        "control_ids": controls,
        "frequency": "annual",
        "period": {"label": "FY2026", "start": "2026-01-01", "end": None},
        "status": status,
        "counts": counts,
        "accepted_version": accepted,
        "valid_until": valid_until.isoformat() if valid_until else None,
        "latest_version": latest,
        # Fields compliance does not use: ignored.
        "version": latest,
        "sha256": "0" * 64,
        "reviewer": "rita-reviewer",
    }
    event_id = f"evidence:outbox:{next(_outbox)}"
    return {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": 1,
        "source": "evidence",
        "occurred_at": at.isoformat(),
        "data": data,
    }


def uploaded(item_id: str, evidence_type: str, controls: list[str], at: datetime, **kw: Any) -> dict[str, Any]:
    return evidence_event("evidence.version_added", item_id, evidence_type, controls, at, status="pending_review", **kw)


def accepted(
    item_id: str, evidence_type: str, controls: list[str], at: datetime, until: datetime, version: int = 1
) -> dict[str, Any]:
    return evidence_event(
        "evidence.reviewed",
        item_id,
        evidence_type,
        controls,
        at,
        status="current",
        accepted=version,
        valid_until=until,
        latest=version,
    )


def deleted(item_id: str, evidence_type: str, controls: list[str], at: datetime, until: datetime) -> dict[str, Any]:
    return evidence_event(
        "evidence.deleted", item_id, evidence_type, controls, at, status="current", accepted=1, valid_until=until
    )


async def status_of(svc: Service, control_id: str) -> str:
    body = await svc.get("/api/v1/frameworks/soc2/controls")
    found = [c["status"] for c in body["items"] if c["id"] == control_id]
    assert found, f"{control_id} is not in the posture"
    status: str = found[0]
    return status


async def missing(svc: Service, control_id: str) -> dict[str, dict[str, Any]]:
    body = await svc.get(f"/api/v1/controls/{control_id}/evidence")
    return {r["type"]: r for r in body["requirements"]}


async def stored_row(svc: Service, item_id: str) -> dict[str, Any]:
    async with svc.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM evidence_items WHERE item_id = $1", item_id)
    assert row is not None
    return dict(row)


# --------------------------------------------------------------------------------------------- tests


async def test_procedural_control_passes_with_accepted_current_evidence_of_each_type(svc: Service) -> None:
    year = T0 + timedelta(days=365)
    assert await status_of(svc, PROCEDURAL) == "EVIDENCE_REQUIRED"
    view = await missing(svc, PROCEDURAL)
    assert view["policy"]["reason_code"] == "none_uploaded"
    assert "No policy evidence has been uploaded" in view["policy"]["reason"]

    # The policy is accepted; the training record is only uploaded: still evidence required.
    await svc.publish(uploaded("ev-pol", "policy", [PROCEDURAL], T0 + timedelta(minutes=1)))
    await svc.publish(accepted("ev-pol", "policy", [PROCEDURAL], T0 + timedelta(minutes=2), year))
    await svc.publish(uploaded("ev-trn", "training_record", [PROCEDURAL], T0 + timedelta(minutes=3)))
    await svc.settled()
    assert await status_of(svc, PROCEDURAL) == "EVIDENCE_REQUIRED"
    body = await svc.get(f"/api/v1/controls/{PROCEDURAL}/evidence")
    assert body["met"] is False
    assert body["missing"] == ["Awareness training completions"]
    view = {r["type"]: r for r in body["requirements"]}
    assert view["policy"]["met"] is True
    assert [i["item_id"] for i in view["policy"]["items"]] == ["ev-pol"]
    assert view["training_record"]["reason_code"] == "pending_review"
    assert "pending review" in view["training_record"]["reason"]
    assert "ev-trn" in view["training_record"]["reason"]

    # The training record is accepted for only 30 days: now every type is covered.
    await svc.publish(
        accepted("ev-trn", "training_record", [PROCEDURAL], T0 + timedelta(minutes=4), T0 + timedelta(days=30))
    )
    await svc.settled()
    assert await status_of(svc, PROCEDURAL) == "PASS"
    assert (await svc.get(f"/api/v1/controls/{PROCEDURAL}/evidence"))["met"] is True

    # Evidence for one control does not satisfy another that needs the same type.
    assert await status_of(svc, HYBRID) == "EVIDENCE_REQUIRED"

    # Its validity ends with the clock, not at the next event.
    svc.clock.set(T0 + timedelta(days=30, seconds=1))
    assert await status_of(svc, PROCEDURAL) == "EVIDENCE_REQUIRED"
    view = await missing(svc, PROCEDURAL)
    assert view["policy"]["met"] is True
    assert view["training_record"]["reason_code"] == "expired"
    assert "expired on 2026-07-01" in view["training_record"]["reason"]

    # A renewed record restores it; deleting the policy takes it away again.
    await svc.publish(accepted("ev-trn2", "training_record", [PROCEDURAL], T0 + timedelta(days=30, minutes=1), year))
    await svc.settled()
    assert await status_of(svc, PROCEDURAL) == "PASS"
    await svc.publish(deleted("ev-pol", "policy", [PROCEDURAL], T0 + timedelta(days=31), year))
    await svc.settled()
    assert await status_of(svc, PROCEDURAL) == "EVIDENCE_REQUIRED"
    assert (await stored_row(svc, "ev-pol"))["counts"] is False
    view = await missing(svc, PROCEDURAL)
    assert view["policy"]["reason_code"] == "none_uploaded"
    assert view["policy"]["items"] == []


async def test_redelivered_and_older_events_change_nothing(svc: Service) -> None:
    year = T0 + timedelta(days=365)
    first = uploaded("ev-a", "policy", [PROCEDURAL], T0 + timedelta(minutes=1))
    review = accepted("ev-a", "policy", [PROCEDURAL], T0 + timedelta(minutes=2), year)
    training = accepted("ev-b", "training_record", [PROCEDURAL], T0 + timedelta(minutes=2), year)
    for body in (first, review, training):
        await svc.publish(body)
    await svc.settled()
    assert await status_of(svc, PROCEDURAL) == "PASS"
    before = await stored_row(svc, "ev-a")
    assert before["last_event_id"] == review["event_id"]

    # The same review again (past JetStream's duplicate window: a new message id) and the older upload late.
    await svc.publish(review, msg_id=f"{review['event_id']}:redelivered")
    await svc.publish(first, msg_id=f"{first['event_id']}:late")
    await svc.settled()
    assert await stored_row(svc, "ev-a") == before
    assert await status_of(svc, PROCEDURAL) == "PASS"

    # Once deleted, a late copy of the acceptance cannot bring the item back.
    await svc.publish(deleted("ev-a", "policy", [PROCEDURAL], T0 + timedelta(minutes=5), year))
    await svc.settled()
    gone = await stored_row(svc, "ev-a")
    assert gone["status"] == "deleted"
    await svc.publish(review, msg_id=f"{review['event_id']}:after-delete")
    await svc.settled()
    assert await stored_row(svc, "ev-a") == gone
    assert await status_of(svc, PROCEDURAL) == "EVIDENCE_REQUIRED"


async def test_events_of_the_same_instant_apply_in_outbox_order(svc: Service) -> None:
    at = T0 + timedelta(minutes=1)
    upload = uploaded("ev-c", "policy", [HYBRID], at)
    review = accepted("ev-c", "policy", [HYBRID], at, T0 + timedelta(days=90))
    # The review (later outbox number) arrives first; the upload of the same instant must not undo it.
    await svc.publish(review)
    await svc.publish(upload)
    await svc.settled()
    row = await stored_row(svc, "ev-c")
    assert (row["status"], row["counts"], row["accepted_version"]) == ("current", True, 1)
    assert await status_of(svc, HYBRID) == "PASS"


async def test_hybrid_control_with_failing_checks_stays_fail_and_results_record_the_evidence(svc: Service) -> None:
    await svc.publish(accepted("ev-std", "policy", [HYBRID], T0 + timedelta(minutes=1), T0 + timedelta(days=365)))
    await svc.settled()
    assert await status_of(svc, HYBRID) == "PASS"
    assert (await missing(svc, HYBRID))["policy"]["met"] is True

    svc.clock.advance(timedelta(hours=1))
    scan_id = await run_scan(svc, Status.FAIL)
    assert await status_of(svc, HYBRID) == "FAIL"
    stored = await svc.get(f"/api/v1/frameworks/soc2/results/{scan_id}")
    controls = {c["id"]: c for c in stored["controls"]}
    assert controls[HYBRID]["status"] == "FAIL"
    assert controls[HYBRID]["evidence_required"] == []
    assert controls[PROCEDURAL]["status"] == "EVIDENCE_REQUIRED"
    assert stored["result"]["versions"]["evidence"] == {HYBRID: ["ev-std@v1"]}


async def test_missing_view_names_rejected_evidence_and_refuses_unknown_controls(svc: Service) -> None:
    rejected = evidence_event(
        "evidence.reviewed", "ev-r", "training_record", [PROCEDURAL], T0 + timedelta(minutes=1), status="rejected"
    )
    await svc.publish(rejected)
    await svc.settled()
    view = await missing(svc, PROCEDURAL)
    assert view["training_record"]["reason_code"] == "rejected"
    assert "upload a new version" in view["training_record"]["reason"]
    assert view["policy"]["reason_code"] == "none_uploaded"
    response = await svc.http.get("/api/v1/controls/NOPE-1/evidence", headers=svc.as_("auditor"))
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "control_not_found"


async def test_an_event_of_another_shape_is_dead_lettered_not_applied(svc: Service) -> None:
    body = accepted("ev-x", "policy", [PROCEDURAL], T0 + timedelta(minutes=1), T0 + timedelta(days=365))
    body["schema_version"] = 2
    await svc.publish(body)
    await svc.settled()
    async with svc.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM evidence_items") == 0
    # The dead letter reaches compliance's own table through the DLQ consumer.
    deadline = time.monotonic() + 20
    while True:
        async with svc.pool.acquire() as conn:
            reason = await conn.fetchval("SELECT reason FROM dead_letters WHERE consumer = 'compliance-evidence'")
        if reason is not None:
            break
        assert time.monotonic() < deadline, "no dead letter recorded"
        await asyncio.sleep(0.05)
    assert "undecodable EvidenceEvent" in reason
