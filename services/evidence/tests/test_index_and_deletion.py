"""The audit-period index, search, and the deletion rules (locked items are only superseded)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from guardian_common.auth import Role


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


PDF = b"%PDF-1.7\n" + b"3" * 2000 + b"\n%%EOF\n"


async def test_index_names_the_version_current_at_each_moment(local: Any) -> None:
    item = (await local.create(PDF, frequency="annual")).json()
    item_id = item["item_id"]
    first_accepted = local.clock.now()  # 2027-10-05 09:00
    await local.review(item_id, 1)
    local.clock.advance(timedelta(days=60))
    second_uploaded = local.clock.now()
    await local.add_version(item_id, PDF + b"v2")
    local.clock.advance(timedelta(days=1))
    second_accepted = local.clock.now()
    await local.review(item_id, 2)
    other = (await local.create(PDF, title="Never reviewed")).json()

    response = await local.client.get(
        "/api/v1/evidence/index", params={"from": "2027-10-01", "to": "2027-12-31"}, headers=local.key()
    )
    assert response.status_code == 200, response.text
    index = response.json()
    entries = [(e["item_id"], e["version"], e["current_from"], e["current_to"]) for e in index["entries"]]
    assert entries == [
        (item_id, 1, iso(first_accepted), iso(second_accepted)),
        (item_id, 2, iso(second_accepted), iso(second_uploaded.replace(year=2028))),
    ]
    assert index["uncovered"] == [other["item_id"]]

    before = await local.client.get(
        "/api/v1/evidence/index", params={"from": "2027-09-01", "to": "2027-09-30"}, headers=local.key()
    )
    assert before.json()["entries"] == []
    # Both items were created after the window, so neither is listed as uncovered either.
    assert before.json()["uncovered"] == []

    reversed_window = await local.client.get(
        "/api/v1/evidence/index", params={"from": "2027-12-31", "to": "2027-10-01"}, headers=local.key()
    )
    assert reversed_window.status_code == 422


async def test_expired_acceptance_leaves_a_gap_in_the_index(local: Any) -> None:
    item = (await local.create(PDF, frequency="monthly")).json()
    await local.review(item["item_id"], 1)
    response = await local.client.get(
        "/api/v1/evidence/index", params={"from": "2027-10-01", "to": "2028-03-31"}, headers=local.key()
    )
    [entry] = response.json()["entries"]
    assert entry["current_to"] == "2027-11-05T09:00:00Z"


async def test_search_by_control_type_owner_and_text(local: Any) -> None:
    a = (await local.create(PDF, title="Board minutes Q3", type="minutes", owner="CEO", control=["GRD-GOV-02"])).json()
    b = (
        await local.create(
            PDF, title="Access review", type="access_review", owner="IT", control=["GRD-ACC-01"], filename="aws-iam.pdf"
        )
    ).json()

    async def ids(**params: str) -> list[str]:
        response = await local.client.get("/api/v1/evidence", params=params, headers=local.key(Role.AUDITOR, "c"))
        assert response.status_code == 200, response.text
        return sorted(i["item_id"] for i in response.json()["items"])

    assert await ids() == sorted([a["item_id"], b["item_id"]])
    assert await ids(control="GRD-GOV-02") == [a["item_id"]]
    assert await ids(type="access_review") == [b["item_id"]]
    assert await ids(owner="ceo") == [a["item_id"]]
    assert await ids(q="minutes") == [a["item_id"]]
    assert await ids(q="aws-iam") == [b["item_id"]]
    assert await ids(q="100%_") == []


async def test_deletion_leaves_a_tombstone_and_removes_the_bytes(harness: Any) -> None:
    item = (await harness.create(PDF)).json()
    item_id = item["item_id"]
    await harness.review(item_id, 1)
    no_reason = await harness.client.delete(f"/api/v1/evidence/{item_id}", headers=harness.key())
    assert no_reason.status_code == 422
    response = await harness.client.delete(
        f"/api/v1/evidence/{item_id}", params={"reason": "Duplicate of another upload"}, headers=harness.key()
    )
    assert response.status_code == 200, response.text
    tombstone = response.json()
    assert tombstone["deleted_by"] == "alice"
    assert tombstone["reason"] == "Duplicate of another upload"
    assert tombstone["item"]["versions"][0]["sha256"] == item["versions"][0]["sha256"]
    assert (await harness.client.get(f"/api/v1/evidence/{item_id}", headers=harness.key())).status_code == 404
    assert await harness.count("versions") == 0
    assert await harness.count("reviews") == 0
    assert await harness.storage.keys() == []
    listed = await harness.client.get("/api/v1/evidence/deletions", headers=harness.key(Role.AUDITOR, "c"))
    assert [t["item_id"] for t in listed.json()["items"]] == [item_id]


async def test_locked_evidence_is_superseded_not_deleted(local: Any) -> None:
    item_id = (await local.create(PDF)).json()["item_id"]
    as_editor = await local.client.put(
        f"/api/v1/evidence/{item_id}/lock", json={"locked_until": "2028-03-31"}, headers=local.key()
    )
    assert as_editor.status_code == 403
    locked = await local.client.put(
        f"/api/v1/evidence/{item_id}/lock", json={"locked_until": "2028-03-31"}, headers=local.key(Role.ADMIN, "root")
    )
    assert locked.status_code == 200
    assert locked.json()["locked_until"] == "2028-03-31"

    refused = await local.client.delete(
        f"/api/v1/evidence/{item_id}", params={"reason": "cleanup"}, headers=local.key()
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "evidence_locked"
    assert await local.count("items") == 1
    assert len(await local.storage.keys()) == 1

    superseded = await local.add_version(item_id, PDF + b"corrected")
    assert superseded.status_code == 201

    shorter = await local.client.put(
        f"/api/v1/evidence/{item_id}/lock", json={"locked_until": "2027-12-31"}, headers=local.key(Role.ADMIN, "root")
    )
    assert shorter.status_code == 409
    assert shorter.json()["error"] == "lock_cannot_shorten"

    # The last locked day still refuses; the day after, deletion is allowed again (and recorded).
    local.clock.set(local.clock.now().replace(year=2028, month=3, day=31))
    still = await local.client.delete(f"/api/v1/evidence/{item_id}", params={"reason": "cleanup"}, headers=local.key())
    assert still.status_code == 409
    local.clock.advance(timedelta(days=1))
    gone = await local.client.delete(f"/api/v1/evidence/{item_id}", params={"reason": "cleanup"}, headers=local.key())
    assert gone.status_code == 200
    assert await local.count("tombstones") == 1


async def test_openapi_documents_the_evidence_api(local: Any) -> None:
    schema = (await local.client.get("/openapi.json")).json()
    paths = schema["paths"]
    assert "multipart/form-data" in paths["/api/v1/evidence"]["post"]["requestBody"]["content"]
    assert {"/api/v1/evidence/index", "/api/v1/evidence/{item_id}/versions/{version}/review"} <= set(paths)
    assert "413" in paths["/api/v1/evidence/{item_id}/versions"]["post"]["responses"]


async def test_controls_may_be_repeated_or_comma_separated(local: Any) -> None:
    item = (await local.create(PDF, control=["GRD-B-01, GRD-A-01", "GRD-B-01"])).json()
    assert item["control_ids"] == ["GRD-A-01", "GRD-B-01"]
