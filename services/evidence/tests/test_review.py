"""Review rules and validity: only accepted evidence counts, and only until its frequency runs out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from guardian_common.auth import Role
from guardian_evidence.validity import Frequency, Status, advance, status_at, valid_until

PDF = b"%PDF-1.7\n" + b"1" * 2000 + b"\n%%EOF\n"


async def test_uploader_cannot_review_their_own_version(local: Any) -> None:
    item = (await local.create(PDF, by="alice")).json()
    response = await local.review(item["item_id"], 1, by="alice")
    assert response.status_code == 403
    assert response.json()["error"] == "self_review"
    assert (await local.get(item["item_id"]))["versions"][0]["review"] is None
    assert await local.count("reviews") == 0


async def test_same_person_with_another_key_is_still_the_uploader(local: Any) -> None:
    item = (await local.create(PDF, by="alice")).json()
    # A second key minted for the same name: the name is the person.
    response = await local.review(item["item_id"], 1, by="alice")
    assert response.status_code == 403


async def test_auditors_cannot_review(local: Any) -> None:
    item = (await local.create(PDF)).json()
    response = await local.client.post(
        f"/api/v1/evidence/{item['item_id']}/versions/1/review",
        json={"decision": "accepted", "comment": "fine"},
        headers=local.key(Role.AUDITOR, "carol"),
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_role"


async def test_another_reviewer_accepts_and_the_item_counts(local: Any) -> None:
    item = (await local.create(PDF)).json()
    response = await local.review(item["item_id"], 1, by="bob", comment="Approved by the board on 1 Oct.")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "current"
    assert body["counts"] is True
    assert body["accepted_version"] == 1
    review = body["versions"][0]["review"]
    assert review["reviewer"] == "bob"
    assert review["comment"] == "Approved by the board on 1 Oct."


async def test_a_version_is_reviewed_once(local: Any) -> None:
    item = (await local.create(PDF)).json()
    assert (await local.review(item["item_id"], 1, "rejected", by="bob")).status_code == 200
    again = await local.review(item["item_id"], 1, "accepted", by="dave")
    assert again.status_code == 409
    assert again.json()["error"] == "already_reviewed"


async def test_review_needs_a_comment_and_a_known_version(local: Any) -> None:
    item = (await local.create(PDF)).json()
    assert (await local.review(item["item_id"], 1, comment="   ")).status_code == 422
    missing = await local.review(item["item_id"], 7)
    assert missing.status_code == 404
    assert missing.json()["error"] == "version_not_found"


async def test_rejected_evidence_does_not_count(local: Any) -> None:
    item = (await local.create(PDF)).json()
    body = (await local.review(item["item_id"], 1, "rejected", comment="Unsigned copy.")).json()
    assert body["status"] == "rejected"
    assert body["counts"] is False
    assert body["valid_until"] is None


async def test_unreviewed_new_version_does_not_replace_the_accepted_one(local: Any) -> None:
    item = (await local.create(PDF)).json()
    await local.review(item["item_id"], 1)
    body = (await local.add_version(item["item_id"], PDF + b" ")).json()
    assert body["accepted_version"] == 1
    assert body["latest_version"] == 2
    assert body["status"] == "current"
    body = (await local.review(item["item_id"], 2, "rejected")).json()
    assert body["accepted_version"] == 1
    assert body["counts"] is True


async def test_quarterly_review_runs_current_then_due_soon_then_overdue(local: Any) -> None:
    # The Q3 access review, uploaded and accepted early in Q4: it counts until the Q4 one is due.
    item = (
        await local.create(
            PDF,
            title="Q3 access review",
            type="access_review",
            frequency="quarterly",
            period_label="2027-Q3",
            period_start="2027-07-01",
            period_end="2027-09-30",
        )
    ).json()
    assert item["status"] == "pending_review"
    body = (await local.review(item["item_id"], 1)).json()
    assert body["valid_until"] == "2028-01-01T00:00:00Z"
    assert body["status"] == "current"
    # Due soon: 30 days configured, but at most a quarter of the 92-day validity (23 days).
    local.clock.set(datetime(2027, 12, 8, 23, 0, tzinfo=UTC))
    assert (await local.get(item["item_id"]))["status"] == "current"
    local.clock.set(datetime(2027, 12, 10, tzinfo=UTC))
    assert (await local.get(item["item_id"]))["status"] == "due_soon"
    assert (await local.get(item["item_id"]))["counts"] is True
    local.clock.set(datetime(2028, 1, 1, tzinfo=UTC))
    overdue = await local.get(item["item_id"])
    assert overdue["status"] == "overdue"
    assert overdue["counts"] is False


async def test_frequency_comes_from_the_control_when_the_item_has_none(make_harness: Any) -> None:
    h = await make_harness("local", control_frequencies={"GRD-GOV-04": "annual", "GRD-ACC-02": "monthly"})
    item = (await h.create(PDF, frequency=None, control=["GRD-GOV-04", "GRD-ACC-02"])).json()
    assert item["frequency"] == "monthly"
    missing = await h.create(PDF, frequency=None, control=["GRD-OTHER-01"])
    assert missing.status_code == 422
    assert missing.json()["error"] == "frequency_required"


async def test_listing_filters_by_status(local: Any) -> None:
    accepted = (await local.create(PDF, title="Accepted")).json()
    await local.review(accepted["item_id"], 1)
    pending = (await local.create(PDF, title="Pending")).json()
    found = await local.client.get("/api/v1/evidence", params={"status": "pending_review"}, headers=local.key())
    assert [i["item_id"] for i in found.json()["items"]] == [pending["item_id"]]
    local.clock.advance(timedelta(days=400))
    found = await local.client.get("/api/v1/evidence", params={"status": "overdue"}, headers=local.key())
    assert [i["item_id"] for i in found.json()["items"]] == [accepted["item_id"]]


def test_validity_intervals_per_frequency() -> None:
    start = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    assert advance(start, Frequency.CONTINUOUS) == start + timedelta(days=1)
    assert advance(start, Frequency.DAILY) == start + timedelta(days=1)
    assert advance(start, Frequency.WEEKLY) == start + timedelta(days=7)
    assert advance(start, Frequency.MONTHLY) == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    assert advance(start, Frequency.QUARTERLY) == datetime(2027, 4, 30, 12, 0, tzinfo=UTC)
    assert advance(start, Frequency.ANNUAL) == datetime(2028, 1, 31, 12, 0, tzinfo=UTC)
    assert valid_until(Frequency.ANNUAL, date(2027, 6, 30), start) == datetime(2028, 7, 1, tzinfo=UTC)


def test_status_without_accepted_evidence_never_counts() -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    for decision, expected in ((None, Status.PENDING_REVIEW), ("rejected", Status.REJECTED)):
        status = status_at(
            now, accepted_valid_from=None, accepted_valid_until=None, latest_decision=decision, due_soon_days=30
        )
        assert status is expected
