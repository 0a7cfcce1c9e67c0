"""Missed occurrences of recurring procedural controls, in the deviations of a period.

The occurrence arithmetic is tested as pure functions; then the compliance app (manual clock,
emptied migrated database) answers ``GET /api/v1/deviations`` for a quarterly access review whose
evidence arrives as the evidence service's events, applied through compliance's own consumer code.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from guardian_common import db
from guardian_common.auth import Role, mint_key
from guardian_compliance.app import create_app
from guardian_compliance.clock import ManualClock
from guardian_compliance.evidence.consumer import EvidenceEvent, apply_evidence_events
from guardian_compliance.history.evidence_deviations import missed, occurrence_at, occurrences_due
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.resources import delete_streams, empty_schema

CREATED = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
ASKED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
CONTROL = "TST-ACCESS-REVIEW"
Q1 = {"label": "Q1", "start": "2026-01-01", "end": "2026-03-31"}
_outbox = itertools.count(1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --------------------------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("frequency", "moment", "label", "start", "due"),
    [
        ("daily", utc(2026, 3, 31, 23, 59), "2026-03-31", utc(2026, 3, 31), utc(2026, 4, 1)),
        ("weekly", utc(2026, 1, 1, 8), "2026-W01", utc(2025, 12, 29), utc(2026, 1, 5)),
        ("monthly", utc(2026, 2, 14), "2026-02", utc(2026, 2, 1), utc(2026, 3, 1)),
        ("quarterly", utc(2026, 9, 30, 23), "2026-Q3", utc(2026, 7, 1), utc(2026, 10, 1)),
        ("quarterly", utc(2026, 10, 1), "2026-Q4", utc(2026, 10, 1), utc(2027, 1, 1)),
        ("annual", utc(2026, 6, 1), "2026", utc(2026, 1, 1), utc(2027, 1, 1)),
    ],
)
def test_each_frequency_has_calendar_occurrences(
    frequency: str, moment: datetime, label: str, start: datetime, due: datetime
) -> None:
    occ = occurrence_at(moment, frequency)
    assert (occ.label, occ.start, occ.due) == (label, start, due)


def test_occurrences_due_are_those_ending_inside_the_period_up_to_when_it_is_judged() -> None:
    due = occurrences_due("quarterly", utc(2026, 1, 1), utc(2026, 10, 1))
    assert [o.label for o in due] == ["2026-Q1", "2026-Q2", "2026-Q3"]
    # Q4 is not due yet; an occurrence ending exactly at the period start belongs to the one before.
    assert [o.label for o in occurrences_due("quarterly", utc(2026, 4, 1), utc(2026, 12, 31))] == ["2026-Q2", "2026-Q3"]
    assert occurrences_due("monthly", utc(2026, 5, 3), utc(2026, 5, 31)) == []
    with pytest.raises(ValueError, match="no occurrences"):
        occurrence_at(utc(2026, 1, 1), "continuous")


def test_an_occurrence_needs_accepted_evidence_of_every_required_type() -> None:
    on_time = {"accepted_at": utc(2026, 3, 30), "version": 1}
    items = [
        {"item_id": "a", "evidence_type": "access_review", "period": {"end": "2026-03-31"}, "valid_until": None}
        | on_time,
        {"item_id": "m", "evidence_type": "minutes", "period": {"start": "2026-02-01"}, "valid_until": None} | on_time,
        # No period: it covers the quarter its validity began in (valid until 2026-10-20 -> from 2026-07-20).
        {"item_id": "b", "evidence_type": "access_review", "period": {}, "valid_until": utc(2026, 10, 20)}
        | {"accepted_at": utc(2026, 9, 1), "version": 1},
    ]
    found = missed("quarterly", ["access_review", "minutes"], items, utc(2026, 1, 1), utc(2026, 10, 1))
    assert [(m.label, m.missing_types) for m in found] == [
        ("2026-Q2", ["access_review", "minutes"]),
        ("2026-Q3", ["minutes"]),
    ]
    assert found[0].due == utc(2026, 7, 1)
    assert "fell due on 2026-07-01" in found[0].reason
    assert missed("continuous", ["access_review"], [], utc(2026, 1, 1), utc(2026, 10, 1)) == []


# --------------------------------------------------------------------------------------------- through the API


@pytest.fixture
async def app(servers: tuple[str, str], database: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any, ManualClock]]:
    _, nats_url = servers
    token = uuid.uuid4().hex[:10]
    await empty_schema(database, "compliance")
    settings = ComplianceSettings(
        environment="test",
        database_url=database,
        nats_url=nats_url,
        bus_prefix=f"m{token}",
        auth_secret=f"missed-test-{token}",
        log_level="WARNING",
        acceptance_poll_seconds=3600,
        outbox_poll_seconds=3600,
        deadline_poll_seconds=3600,
        run_consumers=False,
    )
    clock = ManualClock(CREATED)
    application = create_app(settings, clock)
    try:
        async with application.router.lifespan_context(application):
            key = mint_key(settings.auth_secret, Role.EDITOR, "erin-editor")[1]
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application),
                base_url="http://compliance",
                headers={"Authorization": f"Bearer {key}"},
            ) as http:
                yield http, application.state.runtime.require_pool(), clock
    finally:
        await delete_streams(nats_url, settings.bus_prefix)


def event(
    item_id: str,
    evidence_type: str,
    *,
    accepted: int | None,
    period: dict[str, str | None],
    valid_until: datetime | None = None,
    event_type: str = "evidence.reviewed",
    at: datetime = ASKED,
    reviewed_at: datetime | None = None,
) -> EvidenceEvent:
    status = "current" if accepted else "pending_review"
    review: dict[str, Any] = {}
    if accepted and reviewed_at is not None:
        review = {"version": accepted, "decision": "accepted", "reviewed_at": reviewed_at.isoformat()}
    return EvidenceEvent.model_validate(
        {
            "event_id": f"evidence:outbox:{next(_outbox)}",
            "event_type": event_type,
            "schema_version": 1,
            "source": "evidence",
            "occurred_at": at.isoformat(),
            "data": {
                "item_id": item_id,
                "title": f"{evidence_type} {item_id}",
                "evidence_type": evidence_type,
                "control_ids": [CONTROL],
                "frequency": "quarterly",
                "period": period,
                "status": status,
                "counts": bool(accepted),
                "accepted_version": accepted,
                "valid_until": valid_until.isoformat() if valid_until else None,
                "latest_version": 1,
                **review,
            },
        }
    )


async def test_a_quarter_without_accepted_evidence_is_a_missed_occurrence_of_the_control(
    app: tuple[httpx.AsyncClient, Any, ManualClock],
) -> None:
    http, pool, clock = app
    created = await http.post(
        "/api/v1/controls",
        json={
            "id": CONTROL,
            "title": "Quarterly access review",
            "description": "Owners review who can reach production data every quarter.",
            "owner": "Security",
            "frequency": "quarterly",
            "requirements": [{"id": "CC6.2", "rationale": "Access is reviewed and removed when no longer needed"}],
            "evidence": [
                {"type": "access_review", "description": "The signed review"},
                {"type": "minutes", "description": "Minutes of the review meeting"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    clock.set(ASKED)
    events = [
        # Q1: both accepted before the quarter ended (the events say when they were reviewed).
        event("ev-q1", "access_review", accepted=1, period=Q1, reviewed_at=utc(2026, 3, 30)),
        event("ev-q1m", "minutes", accepted=1, period=Q1, reviewed_at=utc(2026, 3, 31, 23, 59)),
        # Q2: accepted and then deleted, and another still awaiting review: neither counts.
        event("ev-q2", "access_review", accepted=1, period={"end": "2026-06-30"}, event_type="evidence.deleted"),
        event("ev-q2b", "access_review", accepted=None, period={"end": "2026-06-30"}),
        # Q3: the review without a period (its validity began in Q3), but no minutes.
        event(
            "ev-q3",
            "access_review",
            accepted=1,
            period={},
            valid_until=datetime(2026, 10, 20, tzinfo=UTC),
            reviewed_at=utc(2026, 8, 1),
        ),
    ]
    async with db.transaction(pool) as conn:
        assert await apply_evidence_events(conn, events, ASKED) == len(events)

    response = await http.get(
        "/api/v1/deviations", params={"from": "2026-01-01", "to": "2026-12-31", "control_id": CONTROL}
    )
    assert response.status_code == 200, response.text
    [control] = response.json()["controls"]
    assert [(m["label"], m["missing_types"], m["due"]) for m in control["missed_occurrences"]] == [
        ("2026-Q2", ["access_review", "minutes"], "2026-07-01T00:00:00Z"),
        ("2026-Q3", ["minutes"], "2026-10-01T00:00:00Z"),
    ]  # Q4 is not due until 2027-01-01

    # A period before the control existed owes nothing; one ending at Q2's end holds only Q2 (and not Q1).
    before = await http.get(
        "/api/v1/deviations", params={"from": "2025-01-01", "to": "2025-12-31", "control_id": CONTROL}
    )
    assert before.json()["controls"][0]["missed_occurrences"] == []
    q2 = await http.get("/api/v1/deviations", params={"from": "2026-04-01", "to": "2026-06-30", "control_id": CONTROL})
    assert [m["label"] for m in q2.json()["controls"][0]["missed_occurrences"]] == ["2026-Q2"]
