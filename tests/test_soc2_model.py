"""The SOC 2 model end to end: a real scan through every service, then scope, control matrix and a
risk acceptance changing what compliance reports, with the acceptance's events reaching NATS.

The fine-grained rules (every selector kind, expiry with a moving clock, locked periods, import
errors) are specified in services/compliance/tests/test_soc2_service.py; this test shows they hold
on the running system fed by moto.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
from conftest import Running

from guardian_cli.follow import ScanOutcome, run_scan
from guardian_common.auth import Role, mint_key
from guardian_common.bus import Subjects
from guardian_testkit.moto import MotoServer

LEGACY_ARNS = ["arn:aws:s3:::acme-legacy-exports", "arn:aws:s3:::acme-legacy-logs"]
ENC = "s3_bucket_default_encryption"
SSE_S3 = {"SSEAlgorithm": "AES256"}


def seed(moto: MotoServer) -> None:
    """One encrypted bucket, two without default encryption (the legacy ones)."""
    s3 = moto.client("s3")
    for name in ("acme-customer-data", "acme-legacy-exports", "acme-legacy-logs"):
        s3.create_bucket(Bucket=name)
    s3.put_bucket_encryption(
        Bucket="acme-customer-data",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


async def scan(running: Running) -> ScanOutcome:
    outcome = await run_scan(
        running.client, regions=["us-east-1"], services=["s3"], poll_seconds=0.1, timeout_seconds=120
    )
    assert outcome.final, outcome
    return outcome


def check_outcome(control: dict[str, Any], check_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in control["checks"] if c["check_id"] == check_id)
    return found


async def test_scope_matrix_and_acceptance_change_the_reported_posture(running: Running, moto: MotoServer) -> None:
    seed(moto)
    outcome = await scan(running)
    base = running.stack.url("compliance")
    admin = {"Authorization": f"Bearer {running.key(Role.ADMIN)}"}
    other_admin = {"Authorization": f"Bearer {mint_key(running.stack.auth_secret, Role.ADMIN, 'second-admin')[1]}"}
    editor = {"Authorization": f"Bearer {running.key(Role.EDITOR)}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        # A custom control on the encryption check: it fails on the legacy buckets.
        created = await http.post(
            "/api/v1/controls",
            headers=editor,
            json={
                "id": "ACME-S3-ENC",
                "title": "Buckets are encrypted by default",
                "description": "Every bucket has default encryption.",
                "owner": "Platform",
                "frequency": "continuous",
                "requirements": [{"id": "CC6.1", "rationale": "Encryption at rest protects stored data."}],
                "checks": [ENC],
            },
        )
        assert created.status_code == 201, created.text
        controls = (await http.get("/api/v1/frameworks/soc2/controls", headers=admin)).json()
        mine = next(c for c in controls["items"] if c["id"] == "ACME-S3-ENC")
        assert mine["status"] == "FAIL"
        assert controls["result"]["live"] is True

        # Security-only scope: availability criteria and their category score leave the report.
        await http.post("/api/v1/scopes", headers=editor, json={"id": "sec", "name": "Security only"})
        sec = (await http.get("/api/v1/frameworks/soc2/readiness", headers=admin, params={"scope": "sec"})).json()
        assert [c["category"] for c in sec["readiness"]["by_category"]] == ["security"]
        refused = await http.patch("/api/v1/scopes/sec", headers=editor, json={"categories": ["availability"]})
        assert refused.status_code == 422
        assert refused.json()["error"] == "security_required"

        # A risk acceptance for the legacy bucket, approved by a second admin.
        requested = await http.post(
            "/api/v1/acceptances",
            headers=admin,
            json={
                "check_id": ENC,
                "arn_pattern": "arn:aws:s3:::acme-legacy-*",
                "justification": "Legacy exports are public test fixtures, deleted next quarter",
                "compensating_control": "Nightly job verifies the bucket holds no customer data",
                "expires_at": "2099-01-01T00:00:00+00:00",
            },
        )
        assert requested.status_code == 422
        assert requested.json()["error"] == "expiry_too_far"
        body = requested.request.content
        in_a_month = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        acc_body = {**json.loads(body), "expires_at": in_a_month}
        requested = await http.post("/api/v1/acceptances", headers=admin, json=acc_body)
        assert requested.status_code == 201, requested.text
        acc_id = requested.json()["id"]
        self_approved = await http.post(f"/api/v1/acceptances/{acc_id}/approve", headers=admin)
        assert self_approved.status_code == 403
        assert self_approved.json()["error"] == "self_approval"
        approved = await http.post(f"/api/v1/acceptances/{acc_id}/approve", headers=other_admin)
        assert approved.status_code == 200, approved.text

        legacy = (
            await http.get("/api/v1/findings", headers=admin, params={"check_id": ENC, "status": "ACCEPTED"})
        ).json()["items"]
        assert sorted((f["resource_arn"], f["acceptance_id"], f["accepted_by"]) for f in legacy) == [
            (arn, acc_id, "second-admin") for arn in LEGACY_ARNS
        ]
        detail = (await http.get("/api/v1/frameworks/soc2/controls/ACME-S3-ENC", headers=admin)).json()
        outcome_enc = check_outcome(detail["control"], ENC)
        assert outcome_enc["accepted"] == 2
        assert outcome_enc["failed"] == 0
        assert detail["control"]["status"] == "PASS"
        export = (await http.get("/api/v1/frameworks/soc2/export", headers=admin)).json()
        assert sorted(d["resource_arn"] for d in export["deviations"]) == LEGACY_ARNS
        assert export["versions"]["acceptances_applied"] == [acc_id]

        # The stored result of the scan keeps the control's first version after an edit.
        edited = await http.patch(
            "/api/v1/controls/ACME-S3-ENC", headers=editor, json={"owner": "Security", "note": "new owner"}
        )
        assert edited.json()["version"] == 2
        stored = (await http.get(f"/api/v1/frameworks/soc2/results/{outcome.scan_id}", headers=admin)).json()
        assert "ACME-S3-ENC" not in stored["result"]["versions"]["controls"]  # created after the scan
        assert stored["result"]["versions"]["scope"] == {"id": "default", "version": 1}
        live = (await http.get("/api/v1/frameworks/soc2/readiness", headers=admin)).json()
        assert live["result"]["versions"]["controls"]["ACME-S3-ENC"] == 2

    # Domain events left through the outbox: requested and approved, on <prefix>.domain.<type>.
    nc = await nats.connect(running.stack.nats_url)
    try:
        js = nc.jetstream()
        subjects = Subjects(running.prefix)
        sub = await js.subscribe(subjects.domain("acceptance.approved"), ordered_consumer=True)
        msg = await sub.next_msg(timeout=10)
        assert msg.headers is not None
        assert msg.headers["Nats-Msg-Id"].startswith("compliance:outbox:")
        event = json.loads(msg.data)
        assert event["event_type"] == "acceptance.approved"
        assert event["data"]["acceptance_id"] == acc_id
        assert event["data"]["decided_by"] == "second-admin"
        await sub.unsubscribe()
    finally:
        await nc.close()
