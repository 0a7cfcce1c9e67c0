"""Nothing lost, nothing doubled: redeliveries are no-ops; a poison message is dead-lettered with its
reason, its resource becomes ERROR (never closed, never PASS) and the scan still finalises.

Scans here are driven by publishing the collector's events directly on the test's own bus prefix, so
the exact messages (including a malformed one) are under the test's control.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
from conftest import Running

from guardian_common import bus
from guardian_common.auth import Role
from guardian_common.events import (
    HEADER_ACCOUNT,
    HEADER_ARN,
    HEADER_COLLECTION_REGION,
    HEADER_REGION,
    HEADER_RESOURCE_TYPE,
    HEADER_SCAN_ID,
    HEADER_SEQ,
    HEADER_SERVICE,
    ResourceSnapshot,
    ScanCompleted,
    ScanStarted,
    UnitResult,
    UnitStatus,
)

ACCOUNT = "210987654321"
REGION = "us-east-1"


def volume(scan_id: str, seq: int, volume_id: str, encrypted: bool) -> ResourceSnapshot:
    return ResourceSnapshot(
        event_id=ResourceSnapshot.make_id(scan_id, seq),
        scan_id=scan_id,
        seq=seq,
        account_id=ACCOUNT,
        region=REGION,
        collection_region=REGION,
        service="ec2",
        resource_type="AWS::EC2::Volume",
        arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume_id}",
        name=volume_id,
        observed_at=datetime.now(UTC),
        configuration={
            "volume_id": volume_id,
            "encrypted": encrypted,
            "kms_key_id": None,
            "size": 8,
            "state": "in-use",
            "volume_type": "gp3",
            "availability_zone": f"{REGION}a",
            "attachments": [],
        },
    )


class Bus:
    def __init__(self, running: Running) -> None:
        self.running = running
        self.subjects = bus.Subjects(running.prefix)

    async def __aenter__(self) -> Bus:
        self.nc = await nats.connect(self.running.stack.nats_url)
        self.js = self.nc.jetstream()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.nc.close()

    async def start(self, scan_id: str) -> None:
        event = ScanStarted(
            event_id=ScanStarted.make_id(scan_id),
            scan_id=scan_id,
            account_id=ACCOUNT,
            regions=[REGION],
            services=["ec2"],
            started_at=datetime.now(UTC),
        )
        await bus.publish(self.js, self.subjects.scan_started, event)

    async def snapshot(self, snap: ResourceSnapshot, msg_id: str | None = None) -> None:
        headers = bus.resource_headers(snap)
        if msg_id is not None:
            headers["Nats-Msg-Id"] = msg_id
        await bus.publish(self.js, self.subjects.snapshot("ec2"), snap, headers)

    async def poison(self, scan_id: str, seq: int, volume_id: str) -> None:
        """Bytes that are no snapshot at all, with headers that still say whose they were."""
        headers = {
            "Nats-Msg-Id": f"snap:{scan_id}:{seq}",
            HEADER_SCAN_ID: scan_id,
            HEADER_SEQ: str(seq),
            HEADER_ARN: f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume_id}",
            HEADER_RESOURCE_TYPE: "AWS::EC2::Volume",
            HEADER_ACCOUNT: ACCOUNT,
            HEADER_REGION: REGION,
            HEADER_COLLECTION_REGION: REGION,
            HEADER_SERVICE: "ec2",
        }
        await self.js.publish(self.subjects.snapshot("ec2"), b'{"scan_id": "truncated', headers=headers)

    async def complete(self, scan_id: str, total: int) -> None:
        event = ScanCompleted(
            event_id=ScanCompleted.make_id(scan_id),
            scan_id=scan_id,
            account_id=ACCOUNT,
            completed_at=datetime.now(UTC),
            total_snapshots=total + 1,
            units=[
                UnitResult(region=REGION, service="ec2", status=UnitStatus.COMPLETE, snapshots=total),
                UnitResult(region=REGION, service="account", status=UnitStatus.COMPLETE, snapshots=1),
            ],
        )
        await bus.publish(self.js, self.subjects.scan_completed, event)

    async def context(self, scan_id: str, seq: int) -> None:
        snap = ResourceSnapshot(
            event_id=ResourceSnapshot.make_id(scan_id, seq),
            scan_id=scan_id,
            seq=seq,
            account_id=ACCOUNT,
            region=REGION,
            collection_region=REGION,
            service="account",
            resource_type="AWS::::Account",
            arn=f"arn:aws::{REGION}:{ACCOUNT}:account",
            name=f"{ACCOUNT} ({REGION})",
            observed_at=datetime.now(UTC),
            configuration={"scope": "region", "ebs_default_encryption": {"enabled": True, "kms_key_id": None}},
        )
        await bus.publish(self.js, self.subjects.snapshot("account"), snap, bus.resource_headers(snap))


async def get(running: Running, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {running.key(Role.AUDITOR)}"}
    async with httpx.AsyncClient(headers=headers) as http:
        response = await http.get(f"{running.stack.url('compliance')}{path}", params=params)
    response.raise_for_status()
    return response.json()


async def wait_final(running: Running, scan_id: str) -> dict[str, Any]:
    for _ in range(600):
        headers = {"Authorization": f"Bearer {running.key(Role.AUDITOR)}"}
        async with httpx.AsyncClient(headers=headers) as http:
            response = await http.get(f"{running.stack.url('compliance')}/api/v1/scans/{scan_id}")
        if response.status_code == 200 and response.json()["final"]:
            result: dict[str, Any] = response.json()
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"scan {scan_id} never became final")


async def volume_findings(running: Running) -> dict[str, dict[str, Any]]:
    data = await get(running, "/api/v1/findings", check_id="ec2_ebs_volume_encrypted", include_closed="true")
    return {f["resource_name"]: f for f in data["items"]}


async def test_redelivered_snapshots_and_evaluations_change_nothing(running: Running) -> None:
    scan_id = f"scan-{uuid.uuid4().hex[:8]}"
    good, bad = volume(scan_id, 1, "vol-good", True), volume(scan_id, 2, "vol-bad", False)
    async with Bus(running) as b:
        await b.start(scan_id)
        await b.snapshot(good)
        await b.snapshot(bad)
        await b.context(scan_id, 3)
        await b.complete(scan_id, 2)
        first = await wait_final(running, scan_id)
        before = await volume_findings(running)
        assert {k: v["status"] for k, v in before.items()} == {"vol-good": "PASS", "vol-bad": "FAIL"}

        # The same snapshots again under fresh message ids, so JetStream's own de-duplication cannot
        # hide them: the evaluator evaluates again and compliance's unique key absorbs the repeat.
        await b.snapshot(good, msg_id=f"replay-{uuid.uuid4().hex}")
        await b.snapshot(bad, msg_id=f"replay-{uuid.uuid4().hex}")
        await b.complete(scan_id, 2)
        await asyncio.sleep(1.5)

    after_scan = await get(running, f"/api/v1/scans/{scan_id}")
    assert after_scan["evaluated"] == first["evaluated"] == 3
    assert after_scan["finalised_at"] == first["finalised_at"]
    assert await volume_findings(running) == before
    assert (await get(running, "/api/v1/dead-letters")) == []


async def test_poison_snapshot_is_dead_lettered_its_resource_errors_and_the_scan_finalises(running: Running) -> None:
    first_scan = f"scan-{uuid.uuid4().hex[:8]}"
    async with Bus(running) as b:
        await b.start(first_scan)
        await b.snapshot(volume(first_scan, 1, "vol-good", True))
        await b.snapshot(volume(first_scan, 2, "vol-broken", True))
        await b.context(first_scan, 3)
        await b.complete(first_scan, 2)
        await wait_final(running, first_scan)
        assert (await volume_findings(running))["vol-broken"]["status"] == "PASS"

        second_scan = f"scan-{uuid.uuid4().hex[:8]}"
        await b.start(second_scan)
        await b.snapshot(volume(second_scan, 1, "vol-good", True))
        await b.poison(second_scan, 2, "vol-broken")
        await b.context(second_scan, 3)
        await b.complete(second_scan, 2)
        final = await wait_final(running, second_scan)

    assert final["state"] == "final"
    assert final["partial"] is True
    assert final["dead_letters"] >= 1
    letters = await get(running, "/api/v1/dead-letters", scan_id=second_scan)
    evaluator_letters = [d for d in letters if d["consumer"] == "evaluator"]
    assert len(evaluator_letters) == 1
    assert evaluator_letters[0]["seq"] == 2
    assert "undecodable ResourceSnapshot" in evaluator_letters[0]["reason"]

    findings = await volume_findings(running)
    broken = findings["vol-broken"]
    assert broken["status"] == "ERROR"
    assert broken["state"] != "closed"
    assert "dead-lettered" in broken["reason"]
    assert findings["vol-good"]["status"] == "PASS"
    # The complete collection of the unit closed nothing: the broken volume is still in the inventory.
    resources = await get(running, "/api/v1/resources", resource_type="AWS::EC2::Volume", include_closed="true")
    states = {r["name"]: r["state"] for r in resources["items"]}
    assert states["vol-broken"] != "closed"
