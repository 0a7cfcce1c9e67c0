"""Evidence end to end: upload and review through the evidence service's REST API, and watch the
procedural control it supports turn PASS in compliance, carried only by the domain events.

Every service runs on loopback (``running``); the evidence service relays its outbox to NATS and
compliance's ``compliance-evidence`` consumer applies the events.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from conftest import Running

from guardian_cli.follow import run_scan
from guardian_common.auth import Role
from guardian_testkit.moto import MotoServer

CONTROL = "GRD-GOV-01"  # bundled: needs a policy and a training record
PDF = b"%PDF-1.7\n" + b"7" * 1500 + b"\n%%EOF\n"


def auth(running: Running, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {running.key(role)}"}


async def upload(http: httpx.AsyncClient, running: Running, evidence_type: str, title: str) -> str:
    response = await http.post(
        f"{running.stack.url('evidence')}/api/v1/evidence",
        data={
            "title": title,
            "type": evidence_type,
            "owner": "People Operations",
            "control": CONTROL,
            "frequency": "annual",
        },
        files={"file": (f"{evidence_type}.pdf", PDF, "application/pdf")},
        headers=auth(running, Role.EDITOR),
    )
    assert response.status_code == 201, response.text
    item_id: str = response.json()["item_id"]
    return item_id


async def accept(http: httpx.AsyncClient, running: Running, item_id: str) -> None:
    # The reviewer is a second key: the uploader may not review their own document.
    response = await http.post(
        f"{running.stack.url('evidence')}/api/v1/evidence/{item_id}/versions/1/review",
        json={"decision": "accepted", "comment": "Read and matches the handbook."},
        headers=auth(running, Role.ADMIN),
    )
    assert response.status_code == 200, response.text


async def wait_for(
    http: httpx.AsyncClient, running: Running, path: str, ready: Any, what: str, within: float = 30.0
) -> Any:
    deadline = time.monotonic() + within
    body: Any = None
    while time.monotonic() < deadline:
        response = await http.get(f"{running.stack.url('compliance')}{path}", headers=auth(running, Role.AUDITOR))
        assert response.status_code == 200, response.text
        body = response.json()
        if ready(body):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} did not happen; last answer: {body}")


def control_status(body: dict[str, Any]) -> str | None:
    found = [c["status"] for c in body["items"] if c["id"] == CONTROL]
    return found[0] if found else None


async def test_reviewed_evidence_turns_a_procedural_control_pass(running: Running, moto: MotoServer) -> None:
    outcome = await run_scan(
        running.client, regions=["us-east-1"], services=["s3"], poll_seconds=0.1, timeout_seconds=120
    )
    assert outcome.final, outcome
    controls = "/api/v1/frameworks/soc2/controls"
    view = f"/api/v1/controls/{CONTROL}/evidence"
    async with httpx.AsyncClient(timeout=30) as http:
        first = await http.get(f"{running.stack.url('compliance')}{controls}", headers=auth(running, Role.AUDITOR))
        assert control_status(first.json()) == "EVIDENCE_REQUIRED"

        policy = await upload(http, running, "policy", "Code of conduct 2026")
        training = await upload(http, running, "training_record", "Code of conduct acknowledgements")
        await accept(http, running, policy)

        def policy_in_training_pending(body: dict[str, Any]) -> bool:
            reqs = {r["type"]: r for r in body["requirements"]}
            return bool(reqs["policy"]["met"]) and reqs["training_record"]["reason_code"] == "pending_review"

        body = await wait_for(http, running, view, policy_in_training_pending, "the policy's acceptance")
        assert body["met"] is False
        reqs = {r["type"]: r for r in body["requirements"]}
        assert training in reqs["training_record"]["reason"]
        assert [i["item_id"] for i in reqs["policy"]["items"]] == [policy]
        again = await http.get(f"{running.stack.url('compliance')}{controls}", headers=auth(running, Role.AUDITOR))
        assert control_status(again.json()) == "EVIDENCE_REQUIRED"

        await accept(http, running, training)
        await wait_for(http, running, controls, lambda b: control_status(b) == "PASS", f"{CONTROL} turning PASS")
        final = await wait_for(http, running, view, lambda b: b["met"] is True, "the view showing it met")
        assert final["missing"] == []
