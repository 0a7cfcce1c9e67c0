"""Evidence counts only for the occurrences it was accepted in time for.

A quarterly access-review control owes evidence for each quarter, due at the quarter's end. The
evidence service's events (built here as its outbox publishes them: the item's state plus every
reviewed version) are applied through compliance's consumer code; the period data is read from
``GET /api/v1/deviations`` and the version history from ``GET /api/v1/controls/{id}/evidence``
of the compliance app (manual clock, emptied migrated database per test).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from support import compliance_service

from guardian_common import db
from guardian_compliance.clock import ManualClock
from guardian_compliance.evidence.consumer import EvidenceEvent, apply_evidence_events
from guardian_compliance.history.evidence_deviations import occurrence_deviations

CONTROL = "TST-QUARTERLY-REVIEW"
CREATED = datetime(2026, 1, 5, tzinfo=UTC)
ASKED = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
Q1 = {"label": "2026-Q1", "start": "2026-01-01", "end": "2026-03-31"}
H1 = {"from": "2026-01-01", "to": "2026-06-30", "control_id": CONTROL}
_outbox = itertools.count(1)


def utc(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Item:
    """An evidence item as the evidence service holds it, emitting the events it would publish."""

    item_id: str
    period: dict[str, str | None] = field(default_factory=lambda: dict(Q1))
    evidence_type: str = "access_review"
    uploads: dict[int, datetime] = field(default_factory=dict)
    reviews: dict[int, dict[str, Any]] = field(default_factory=dict)

    def _validity(self, version: int) -> tuple[datetime, datetime]:
        end = self.period.get("end")
        start = datetime.fromisoformat(f"{end}T00:00:00+00:00") + timedelta(days=1) if end else self.uploads[version]
        return start, start + timedelta(days=91)

    def _event(self, event_type: str, at: datetime, **extra: Any) -> EvidenceEvent:
        accepted = [v for v, r in sorted(self.reviews.items()) if r["decision"] == "accepted"]
        latest = max(self.uploads)
        current = accepted[-1] if accepted else None
        status = "current" if current else ("rejected" if self.reviews.get(latest) else "pending_review")
        return EvidenceEvent.model_validate(
            {
                "event_id": f"evidence:outbox:{next(_outbox)}",
                "event_type": event_type,
                "schema_version": 1,
                "source": "evidence",
                "occurred_at": at.isoformat(),
                "data": {
                    "item_id": self.item_id,
                    "title": f"Access review {self.item_id}",
                    "evidence_type": self.evidence_type,
                    "owner": "security-team",
                    "control_ids": [CONTROL],
                    "frequency": "quarterly",
                    "period": self.period,
                    "status": status,
                    "counts": current is not None,
                    "accepted_version": current,
                    "valid_until": self.reviews[current]["valid_until"] if current else None,
                    "latest_version": latest,
                    "reviews": [{"version": v, **r} for v, r in sorted(self.reviews.items())],
                    **extra,
                },
            }
        )

    def upload(self, at: datetime) -> EvidenceEvent:
        version = max(self.uploads, default=0) + 1
        self.uploads[version] = at
        return self._event("evidence.version_added", at, version=version, uploaded_at=at.isoformat())

    def review(self, version: int, decision: str, at: datetime) -> EvidenceEvent:
        valid_from = valid_until = None
        if decision == "accepted":
            start, end = self._validity(version)
            valid_from, valid_until = start.isoformat(), end.isoformat()
        self.reviews[version] = {
            "decision": decision,
            "reviewed_at": at.isoformat(),
            "valid_from": valid_from,
            "valid_until": valid_until,
        }
        return self._event(
            "evidence.reviewed",
            at,
            version=version,
            decision=decision,
            reviewed_at=at.isoformat(),
            version_valid_from=valid_from,
            version_valid_until=valid_until,
        )


@pytest.fixture
async def app(servers: tuple[str, str], database: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any, ManualClock]]:
    _, nats_url = servers
    clock = ManualClock(CREATED)
    async with compliance_service(database, nats_url, "occurrence", clock) as service:
        http = service.http
        http.headers["Authorization"] = f"Bearer {service.keys['editor']}"
        created = await http.post(
            "/api/v1/controls",
            json={
                "id": CONTROL,
                "title": "Quarterly access review",
                "description": "Owners review who can reach production data every quarter.",
                "owner": "Security",
                "frequency": "quarterly",
                "requirements": [{"id": "CC6.2", "rationale": "Access is reviewed every quarter"}],
                "evidence": [{"type": "access_review", "description": "The signed review"}],
            },
        )
        assert created.status_code == 201, created.text
        clock.set(ASKED)
        yield http, service.pool, clock


async def apply(pool: Any, *events: EvidenceEvent) -> int:
    async with db.transaction(pool) as conn:
        return await apply_evidence_events(conn, list(events), ASKED)


async def control_deviations(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await http.get("/api/v1/deviations", params=H1 | params)
    assert response.status_code == 200, response.text
    [control] = [c for c in response.json()["controls"] if c["control_id"] == CONTROL]
    return dict(control)


async def versions_of(http: httpx.AsyncClient, item_id: str) -> list[dict[str, Any]]:
    response = await http.get(f"/api/v1/controls/{CONTROL}/evidence")
    assert response.status_code == 200, response.text
    [item] = [i for r in response.json()["requirements"] for i in r["items"] if i["item_id"] == item_id]
    return list(item["versions"])


def kinds(control: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["kind"], d["label"]) for d in control["evidence_deviations"]]


# --------------------------------------------------------------------------------------------- tests


async def test_evidence_accepted_by_the_due_date_covers_its_occurrence(
    app: tuple[httpx.AsyncClient, Any, ManualClock],
) -> None:
    http, pool, _ = app
    q1 = Item("ev-q1")
    await apply(pool, q1.upload(utc(3, 20)), q1.review(1, "accepted", utc(3, 31, 23)))

    control = await control_deviations(http)
    # Q1 covered on time; Q2 (due 2026-07-01) has nothing: missed, open.
    assert kinds(control) == [("missed", "2026-Q2")]
    assert control["deviation_count"] == 1
    assert control["open_count"] == 1
    assert [m["label"] for m in control["missed_occurrences"]] == ["2026-Q2"]


async def test_acceptance_after_the_due_date_is_a_late_deviation_resolved_at_acceptance(
    app: tuple[httpx.AsyncClient, Any, ManualClock],
) -> None:
    http, pool, clock = app
    q1 = Item("ev-q1")
    await apply(pool, q1.upload(utc(3, 25)), q1.review(1, "accepted", utc(5, 10)))

    control = await control_deviations(http, to="2026-03-31")
    [late] = control["evidence_deviations"]
    assert late["kind"] == "late"
    assert late["label"] == "2026-Q1"
    assert late["due"] == late["detected_at"] == "2026-04-01T00:00:00Z"
    assert late["resolved_at"] == iso(utc(5, 10))
    assert (late["missing_types"], late["late_types"], late["covered_late_by"]) == (
        [],
        ["access_review"],
        ["ev-q1@v1"],
    )
    assert "accepted late" in late["reason"]
    assert control["missed_occurrences"] == []
    assert (control["deviation_count"], control["open_count"]) == (1, 0)

    # Current status still follows "accepted and current now": in June the late review counts.
    clock.set(utc(6, 1))
    now = (await http.get(f"/api/v1/controls/{CONTROL}/evidence")).json()
    assert now["met"] is True


async def test_rejected_then_accepted_late_is_late_and_credited_to_the_accepted_version(
    app: tuple[httpx.AsyncClient, Any, ManualClock],
) -> None:
    http, pool, _ = app
    q1 = Item("ev-q1")
    await apply(
        pool,
        q1.upload(utc(3, 20)),
        q1.review(1, "rejected", utc(3, 28)),
        q1.upload(utc(4, 3)),
        q1.review(2, "accepted", utc(4, 5)),
    )

    control = await control_deviations(http, to="2026-03-31")
    assert [
        (d["kind"], d["label"], d["resolved_at"], d["covered_late_by"]) for d in control["evidence_deviations"]
    ] == [("late", "2026-Q1", iso(utc(4, 5)), ["ev-q1@v2"])]
    v1, v2 = await versions_of(http, "ev-q1")
    assert (v1["rejected_at"], v1["accepted_at"], v1["current_from"]) == (iso(utc(3, 28)), None, None)
    assert (v2["accepted_at"], v2["accepted_at_exact"], v2["covers"]) == (iso(utc(4, 5)), True, "2026-Q1")


async def test_a_newer_version_does_not_erase_the_acceptance_of_an_earlier_one_for_its_occurrence(
    app: tuple[httpx.AsyncClient, Any, ManualClock],
) -> None:
    http, pool, _ = app
    # A dated item corrected after the quarter: the on-time acceptance of v1 still covers Q1.
    dated = Item("ev-dated")
    # An undated item: each version covers the quarter it was uploaded in.
    undated = Item("ev-undated", period={"label": None, "start": None, "end": None})
    await apply(
        pool,
        dated.upload(utc(3, 20)),
        dated.review(1, "accepted", utc(3, 30)),
        dated.upload(utc(5, 2)),
        dated.review(2, "accepted", utc(5, 3)),
        undated.upload(utc(2, 10)),
        undated.review(1, "accepted", utc(2, 11)),
        undated.upload(utc(5, 5)),
        undated.review(2, "accepted", utc(5, 6)),
    )

    control = await control_deviations(http)
    assert control["evidence_deviations"] == []
    assert control["deviation_count"] == 0

    # Which version was current when: v1 from its acceptance until v2's, then v2 until it expired.
    v1, v2 = await versions_of(http, "ev-dated")
    assert (v1["current_from"], v1["current_until"], v1["superseded_at"]) == (
        iso(utc(3, 30)),
        iso(utc(5, 3)),
        iso(utc(5, 3)),
    )
    assert (v2["current_from"], v2["current_until"]) == (iso(utc(5, 3)), "2026-07-01T00:00:00Z")
    assert [v["covers"] for v in await versions_of(http, "ev-undated")] == ["2026-Q1", "2026-Q2"]


async def test_redelivered_and_out_of_order_events_give_the_same_history(
    app: tuple[httpx.AsyncClient, Any, ManualClock],
) -> None:
    http, pool, _ = app
    q1 = Item("ev-q1")
    q2 = Item("ev-q2", period={"label": "2026-Q2", "start": "2026-04-01", "end": "2026-06-30"})
    events = [
        q1.upload(utc(3, 20)),
        q1.review(1, "rejected", utc(3, 21)),
        q1.upload(utc(3, 25)),
        q1.review(2, "accepted", utc(3, 30)),
        q1.upload(utc(5, 1)),
        q1.review(3, "accepted", utc(5, 2)),
        q2.upload(utc(6, 20)),
        q2.review(1, "accepted", utc(7, 3)),
    ]
    # The v3 upload as an older evidence service published it (no reviews list) only says v2 was
    # accepted by 2026-05-01: an upper bound, possibly arriving first, that the review time replaces.
    old_shape = events[4].model_copy(deep=True)
    old_shape.data.reviews = []
    shuffled = [old_shape, *events]
    random.Random(7).shuffle(shuffled)
    for e in shuffled:
        await apply(pool, e)
    assert await apply(pool, *events) == 0  # redelivered all at once: nothing changes

    control = await control_deviations(http)
    assert [(d["kind"], d["label"], d["resolved_at"]) for d in control["evidence_deviations"]] == [
        ("late", "2026-Q2", iso(utc(7, 3)))
    ]
    v1, v2, v3 = await versions_of(http, "ev-q1")
    assert v1["rejected_at"] == iso(utc(3, 21))
    assert (v2["accepted_at"], v2["accepted_at_exact"], v2["current_until"]) == (iso(utc(3, 30)), True, iso(utc(5, 2)))
    assert (v3["accepted_at"], v3["superseded_at"]) == (iso(utc(5, 2)), None)


async def test_an_acceptance_known_only_from_a_later_event_is_never_judged_on_time(
    app: tuple[httpx.AsyncClient, Any, ManualClock],
) -> None:
    http, pool, _ = app
    q1 = Item("ev-q1")
    q1.upload(utc(3, 20))
    q1.review(1, "accepted", utc(3, 30))
    # Only a later event of the older shape reaches compliance: accepted by 2026-05-01, no earlier known.
    later = q1.upload(utc(5, 1))
    later.data.reviews = []
    await apply(pool, later)

    control = await control_deviations(http, to="2026-03-31")
    assert [(d["kind"], d["resolved_at"]) for d in control["evidence_deviations"]] == [("late", iso(utc(5, 1)))]
    [v1, _v2] = await versions_of(http, "ev-q1")
    assert (v1["accepted_at"], v1["accepted_at_exact"]) == (iso(utc(5, 1)), False)


async def test_deviation_count_includes_missed_and_late_occurrences_in_every_answer(
    app: tuple[httpx.AsyncClient, Any, ManualClock],
) -> None:
    http, pool, _ = app
    q1 = Item("ev-q1")
    await apply(pool, q1.upload(utc(3, 25)), q1.review(1, "accepted", utc(4, 20)))

    # Named, in the whole list (the control has no checks, yet it is listed), and paged.
    named = await control_deviations(http)
    assert kinds(named) == [("late", "2026-Q1"), ("missed", "2026-Q2")]
    assert (named["deviation_count"], named["open_count"]) == (2, 1)
    whole = await http.get("/api/v1/deviations", params={"from": "2026-01-01", "to": "2026-06-30"})
    assert whole.status_code == 200, whole.text
    body = whole.json()
    [listed] = [c for c in body["controls"] if c["control_id"] == CONTROL]
    assert (kinds(listed), listed["deviation_count"]) == (kinds(named), 2)
    assert body["deviation_count"] == sum(c["deviation_count"] for c in body["controls"])
    paged = await control_deviations(http, limit=10)
    assert (kinds(paged), paged["deviation_count"], paged["open_count"]) == (kinds(named), 2, 1)


def test_the_grace_moves_the_due_date_and_decides_late_or_on_time() -> None:
    accepted = {
        "item_id": "ev-q1",
        "version": 1,
        "evidence_type": "access_review",
        "period": dict(Q1),
        "valid_from": None,
        "valid_until": None,
        "accepted_at": utc(4, 10),
    }
    start, until = datetime(2026, 1, 20, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
    strict = occurrence_deviations("quarterly", ["access_review"], [accepted], start, until)
    assert [(d.kind, d.label, d.due) for d in strict] == [
        ("late", "2026-Q1", datetime(2026, 4, 1, tzinfo=UTC)),
        ("missed", "2026-Q2", datetime(2026, 7, 1, tzinfo=UTC)),
    ]
    graced = occurrence_deviations("quarterly", ["access_review"], [accepted], start, until, timedelta(days=14))
    # Q1 is due 2026-04-15 and was covered on time; Q2 is not due until 2026-07-15, after the period.
    assert graced == []
