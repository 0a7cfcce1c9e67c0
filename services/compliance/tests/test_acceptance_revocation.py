"""Revoking a risk acceptance early: an admin ends it, with a reason, and it stops covering at once.

The compliance app runs with a manual clock on an emptied, migrated database and its own bus
prefix. Scans are fed through the real consumer path (scan events, inventory, evaluations, the
scan barrier) as the collector and evaluator would publish them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from support import Seen, Service, check_info, complete, compliance_service, feed_scan, result, store_checks

from guardian_common import db
from guardian_common.events import Status
from guardian_compliance.acceptances.service import sweep
from guardian_compliance.clock import ManualClock

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "111111111111"
ENC = "s3_bucket_default_encryption"
SCRATCH = "arn:aws:s3:::dev-scratch"
DATA = "arn:aws:s3:::prod-data"
LATE = "arn:aws:s3:::late-bucket"


@pytest.fixture
async def svc(servers: tuple[str, str], database: str) -> AsyncIterator[Service]:
    _, nats_url = servers
    async with compliance_service(database, nats_url, "revoke", ManualClock(T0)) as service:
        yield service


async def publish_catalogue(pool: asyncpg.Pool) -> None:
    enc = check_info(
        ENC,
        "s3",
        "AWS::S3::Bucket",
        title="Buckets encrypt by default",
        description="Default encryption is on.",
        remediation="Turn on default encryption.",
    )
    await store_checks(pool, [enc], T0)


async def scan(svc: Service, buckets: dict[str, Status]) -> None:
    """One complete scan of the account's buckets, finalised at the service clock's time."""
    seen = [
        Seen(
            arn=arn,
            service="s3",
            resource_type="AWS::S3::Bucket",
            region="eu-west-1",
            results=(result(ENC, buckets[arn], f"{arn.rsplit(':', 1)[-1]}: {buckets[arn].value}"),),
        )
        for arn in sorted(buckets)
    ]
    await feed_scan(
        svc.pool,
        ACCOUNT,
        seen,
        at=svc.clock.now(),
        regions=["eu-west-1"],
        services=["s3"],
        units=[complete("s3", len(seen))],
    )


async def world(svc: Service) -> None:
    await publish_catalogue(svc.pool)
    created = await svc.call(
        "POST",
        "/api/v1/controls",
        json={
            "id": "TST-ENC",
            "title": "Data at rest is encrypted",
            "description": "Every bucket encrypts by default.",
            "owner": "Platform",
            "frequency": "continuous",
            "requirements": [{"id": "CC6.1", "rationale": "Encryption limits access to data"}],
            "checks": [ENC],
        },
    )
    assert created.status_code == 201, created.text
    await scan(svc, {SCRATCH: Status.FAIL, DATA: Status.PASS})


async def approved(svc: Service, **overrides: Any) -> str:
    body = {
        "check_id": ENC,
        "justification": "Scratch data only; deleted at quarter end",
        "compensating_control": "Bucket policy denies everyone outside the data team",
        "expires_at": (svc.clock.now() + timedelta(days=30)).isoformat(),
        **overrides,
    }
    created = await svc.call("POST", "/api/v1/acceptances", json=body)
    assert created.status_code == 201, created.text
    acc_id: str = created.json()["id"]
    decided = await svc.call("POST", f"/api/v1/acceptances/{acc_id}/approve", "admin")
    assert decided.status_code == 200, decided.text
    return acc_id


async def control_status(svc: Service) -> str:
    body = await svc.get("/api/v1/frameworks/soc2/controls")
    status: str = next(c["status"] for c in body["items"] if c["id"] == "TST-ENC")
    return status


async def finding_status(svc: Service, arn: str) -> str:
    items = (await svc.get("/api/v1/findings"))["items"]
    status: str = next(f["status"] for f in items if f["resource_arn"] == arn and f["check_id"] == ENC)
    return status


def expect(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    return body


async def test_revoking_ends_the_acceptance_at_once_with_a_reason_history_event_and_audit_entry(
    svc: Service,
) -> None:
    await world(svc)
    acc_id = await approved(svc)
    assert await control_status(svc) == "PASS"
    assert await finding_status(svc, SCRATCH) == "ACCEPTED"

    svc.clock.advance(timedelta(days=2))
    revoked_at = svc.clock.now()
    url = f"/api/v1/acceptances/{acc_id}/revoke"
    # Refused and nothing changes: no reason, not an admin, unknown id, unexpected fields.
    expect(await svc.call("POST", url, "admin2", json={"reason": "  "}), 422, "reason_required")
    expect(await svc.call("POST", url, "admin2", json={}), 422, "invalid_request")
    expect(await svc.call("POST", url, "editor", json={"reason": "risk grew"}), 403, "insufficient_role")
    expect(await svc.call("POST", url, "auditor", json={"reason": "risk grew"}), 403, "insufficient_role")
    expect(
        await svc.call("POST", "/api/v1/acceptances/acc-nope/revoke", "admin2", json={"reason": "x"}),
        404,
        "acceptance_not_found",
    )
    assert (await svc.get(f"/api/v1/acceptances/{acc_id}"))["status"] == "in_force"
    assert await control_status(svc) == "PASS"

    response = await svc.call("POST", url, "admin2", json={"reason": "The bucket now holds customer data"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["state"]) == ("revoked", "approved")
    assert (body["revoked_by"], body["revocation_reason"]) == ("bob-admin", "The bucket now holds customer data")
    assert datetime.fromisoformat(body["revoked_at"]) == revoked_at
    assert datetime.fromisoformat(body["ends_at"]) == revoked_at  # the covered interval ends here
    assert datetime.fromisoformat(body["expires_at"]) == T0 + timedelta(days=30)  # the original expiry is kept
    assert [(e["action"], e["actor"], e["note"]) for e in body["events"]][-1] == (
        "revoked",
        "bob-admin",
        "The bucket now holds customer data",
    )

    # At once, without a scan: the finding fails its control again.
    assert await control_status(svc) == "FAIL"
    assert await finding_status(svc, SCRATCH) == "FAIL"
    listed = await svc.get("/api/v1/acceptances", status="revoked")
    assert [a["id"] for a in listed["items"]] == [acc_id]
    assert (await svc.get("/api/v1/acceptances", status="in_force"))["total"] == 0
    expect(await svc.call("POST", url, "admin", json={"reason": "again"}), 409, "acceptance_not_revocable")

    async with svc.pool.acquire() as conn:
        rows = await conn.fetch("SELECT event_type, payload FROM outbox ORDER BY id")
    [event] = [r for r in rows if r["event_type"] == "acceptance.revoked"]
    assert event["payload"]["data"]["reason"] == "The bucket now holds customer data"
    assert event["payload"]["data"]["revoked_by"] == "bob-admin"
    [entry] = [
        r["payload"]["data"]
        for r in rows
        if r["event_type"] == "audit.recorded" and r["payload"]["data"]["action"] == "acceptance.revoked"
    ]
    assert entry["actor"]["name"] == "bob-admin"
    assert entry["target"] == {"type": "acceptance", "id": acc_id}
    assert (entry["before"]["revoked_at"], entry["after"]["revocation_reason"]) == (
        None,
        "The bucket now holds customer data",
    )

    # The original expiry passes with no expiry event: it ended already.
    svc.clock.set(T0 + timedelta(days=31))
    async with db.transaction(svc.pool) as conn:
        assert await sweep(conn, svc.clock.now(), timedelta(days=14)) == (0, 0)
    assert (await svc.get(f"/api/v1/acceptances/{acc_id}"))["status"] == "revoked"


async def test_period_data_counts_the_acceptance_only_until_its_revocation(svc: Service) -> None:
    await world(svc)
    acc_id = await approved(svc)
    svc.clock.advance(timedelta(days=1))
    revoked = await svc.call(
        "POST", f"/api/v1/acceptances/{acc_id}/revoke", "admin2", json={"reason": "Compensating control failed"}
    )
    assert revoked.status_code == 200, revoked.text
    # A failure that starts after the revocation is a deviation no acceptance covers.
    svc.clock.advance(timedelta(days=1))
    await scan(svc, {SCRATCH: Status.FAIL, DATA: Status.PASS, LATE: Status.FAIL})
    svc.clock.advance(timedelta(hours=6))

    period = {"from": "2026-05-31", "to": "2026-06-04", "control_id": "TST-ENC"}
    [control] = (await svc.get("/api/v1/deviations", **period))["controls"]
    found = {d["resource_arn"]: (d["accepted"], d["acceptance_ids"]) for d in control["deviations"]}
    assert found == {SCRATCH: (True, [acc_id]), LATE: (False, [])}
    assert control["accepted_count"] == 1

    # Where the acceptance appears with its interval, the interval ends at the revocation.
    shown = await svc.get(f"/api/v1/acceptances/{acc_id}")
    assert shown["ends_at"] == shown["revoked_at"]
    assert datetime.fromisoformat(shown["ends_at"]) == T0 + timedelta(days=1)


async def test_a_scheduled_acceptance_revoked_before_it_starts_never_covers_anything(svc: Service) -> None:
    await world(svc)
    starts = T0 + timedelta(days=3)
    acc_id = await approved(svc, starts_at=starts.isoformat())
    assert (await svc.get(f"/api/v1/acceptances/{acc_id}"))["status"] == "scheduled"
    svc.clock.advance(timedelta(days=1))
    response = await svc.call("POST", f"/api/v1/acceptances/{acc_id}/revoke", "admin", json={"reason": "Not needed"})
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["status"]) == ("revoked", "revoked")

    svc.clock.set(starts + timedelta(days=1))
    await scan(svc, {SCRATCH: Status.FAIL, DATA: Status.PASS, LATE: Status.FAIL})
    assert await control_status(svc) == "FAIL"
    assert await finding_status(svc, SCRATCH) == "FAIL"
    period = {"from": "2026-05-31", "to": "2026-06-06", "control_id": "TST-ENC"}
    [control] = (await svc.get("/api/v1/deviations", **period))["controls"]
    assert [d["accepted"] for d in control["deviations"]] == [False, False]


async def test_only_acceptances_that_are_approved_and_not_over_can_be_revoked(svc: Service) -> None:
    await world(svc)
    body = {
        "check_id": ENC,
        "justification": "Temporary",
        "compensating_control": "Manual weekly review",
        "expires_at": (T0 + timedelta(days=5)).isoformat(),
    }
    pending = (await svc.call("POST", "/api/v1/acceptances", json=body)).json()["id"]
    refused = expect(
        await svc.call("POST", f"/api/v1/acceptances/{pending}/revoke", "admin", json={"reason": "x"}),
        409,
        "acceptance_not_revocable",
    )
    assert "reject it instead" in refused["detail"]
    lapsed = await approved(svc, expires_at=(T0 + timedelta(days=2)).isoformat())
    svc.clock.advance(timedelta(days=3))
    refused = expect(
        await svc.call("POST", f"/api/v1/acceptances/{lapsed}/revoke", "admin", json={"reason": "x"}),
        409,
        "acceptance_not_revocable",
    )
    assert "expired" in refused["detail"]
    assert (await svc.get(f"/api/v1/acceptances/{pending}"))["state"] == "pending"
