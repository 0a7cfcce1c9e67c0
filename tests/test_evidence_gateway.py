"""Evidence through the gateway, as users meet it: one person uploads a file (multipart, streamed
from disk in chunks), another reviews it, an auditor downloads it and checks its SHA-256, and the
central audit log holds the upload and the review with who did them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Running

from guardian_common.auth import Role
from guardian_gateway.keys.service import bootstrap_key

CONTROL = "GRD-GOV-01"  # a bundled control
# A PDF of about 1.5 MiB: several chunks on the way in and on the way out.
PDF = b"%PDF-1.7\n" + b"".join(b"%% evidence line %06d of the quarterly access review\n" % n for n in range(30000))
PDF += b"%%EOF\n"


def last_quarter(today: date) -> tuple[str, date, date]:
    """The quarter before today's: its review, accepted now, is current until this quarter ends."""
    this_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end = this_start - timedelta(days=1)
    start = date(end.year, 3 * ((end.month - 1) // 3) + 1, 1)
    return f"{end.year}-Q{(end.month - 1) // 3 + 1}", start, end


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def gateway(running: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.stack.url("gateway"), timeout=60) as http:
        yield http


async def new_key(http: httpx.AsyncClient, admin: str, role: Role, name: str) -> dict[str, Any]:
    response = await http.post("/api/v1/keys", json={"name": name, "role": role.value}, headers=bearer(admin))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def audit_entries(
    http: httpx.AsyncClient, key: str, ready: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The audit log once ``ready`` holds: service outboxes and the gateway's consumer run in the background."""
    entries: list[dict[str, Any]] = []
    for _ in range(300):
        response = await http.get("/api/v1/audit", headers=bearer(key), params={"action": "evidence.*", "limit": 1000})
        assert response.status_code == 200, response.text
        entries = response.json()["items"]
        if ready(entries):
            return entries
        await asyncio.sleep(0.1)
    raise AssertionError(f"the evidence entries never reached the audit log: {[e['action'] for e in entries]}")


async def test_upload_review_download_and_audit_through_the_gateway(
    running: Running, gateway: httpx.AsyncClient, tmp_path: Path
) -> None:
    root = (await bootstrap_key(running.database_url, "evidence-root")).key
    uploader = await new_key(gateway, root, Role.EDITOR, "ula-uploader")
    reviewer = await new_key(gateway, root, Role.EDITOR, "rex-reviewer")
    auditor = await new_key(gateway, root, Role.AUDITOR, "ada-auditor")

    label, start, end = last_quarter(datetime.now(UTC).date())
    source = tmp_path / "access-review.pdf"
    source.write_bytes(PDF)
    with source.open("rb") as handle:
        # A file object: httpx reads and sends it in chunks rather than building the body in memory.
        response = await gateway.post(
            "/api/v1/evidence",
            headers=bearer(uploader["key"]),
            data={
                "title": f"{label} access review",
                "description": "Production data access, reviewed by each system owner",
                "type": "access_review",
                "owner": "Security",
                "control": CONTROL,
                "frequency": "quarterly",
                "period_label": label,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            },
            files={"file": ("access-review.pdf", handle, "application/pdf")},
        )
    assert response.status_code == 201, response.text
    item = response.json()
    item_id = item["item_id"]
    [version] = item["versions"]
    digest = hashlib.sha256(PDF).hexdigest()
    assert (version["sha256"], version["size_bytes"], version["media_type"]) == (digest, len(PDF), "application/pdf")
    assert (version["uploaded_by"], item["status"], item["counts"]) == ("ula-uploader", "pending_review", False)

    # Auditors read but never upload; the uploader cannot review their own upload.
    denied = await gateway.post(
        "/api/v1/evidence",
        headers=bearer(auditor["key"]),
        data={"title": "x", "type": "other", "control": CONTROL},
        files={"file": ("x.pdf", PDF[:2000], "application/pdf")},
    )
    assert denied.status_code == 403, denied.text
    review_url = f"/api/v1/evidence/{item_id}/versions/1/review"
    own = await gateway.post(
        review_url, headers=bearer(uploader["key"]), json={"decision": "accepted", "comment": "Looks fine to me."}
    )
    assert (own.status_code, own.json()["error"]) == (403, "self_review")

    reviewed = await gateway.post(
        review_url,
        headers=bearer(reviewer["key"]),
        json={"decision": "accepted", "comment": "Every owner signed; two leavers removed."},
    )
    assert reviewed.status_code == 200, reviewed.text
    after = reviewed.json()
    # Current, or due soon when the test runs in the last weeks of a quarter: counting either way.
    assert after["status"] in ("current", "due_soon")
    assert (after["counts"], after["accepted_version"]) == (True, 1)
    assert after["versions"][0]["review"]["reviewer"] == "rex-reviewer"

    # Downloaded by an auditor, streamed: the bytes hash to what was stored and announced.
    hasher, size = hashlib.sha256(), 0
    async with gateway.stream(
        "GET", f"/api/v1/evidence/{item_id}/versions/1/content", headers=bearer(auditor["key"])
    ) as download:
        assert download.status_code == 200
        announced = download.headers["x-evidence-sha256"]
        async for chunk in download.aiter_bytes():
            hasher.update(chunk)
            size += len(chunk)
    assert (hasher.hexdigest(), size) == (digest, len(PDF))
    assert announced == digest
    assert download.headers["content-type"] == "application/pdf"

    # The audit log, read through the gateway, names both changes and who made them.
    wanted = {("evidence.created", item_id), ("evidence.reviewed", item_id)}
    entries = await audit_entries(
        gateway, auditor["key"], lambda es: wanted <= {(e["action"], e["target"]["id"]) for e in es}
    )
    by_action = {e["action"]: e for e in entries if e["target"]["id"] == item_id}
    created, review = by_action["evidence.created"], by_action["evidence.reviewed"]
    assert created["actor"] == {"id": uploader["id"], "role": "editor", "name": "ula-uploader"}
    assert created["before"] is None
    assert created["after"]["versions"][0]["sha256"] == digest
    assert review["actor"]["name"] == "rex-reviewer"
    assert review["before"]["versions"][0]["review"] is None
    assert review["after"]["versions"][0]["review"]["decision"] == "accepted"
    assert {e["source"] for e in (created, review)} == {"evidence"}
