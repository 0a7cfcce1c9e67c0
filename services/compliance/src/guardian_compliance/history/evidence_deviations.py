"""Occurrences of recurring procedural controls that were not covered on time: deviations in period data.

A control with evidence requirements and a recurring frequency (daily, weekly, monthly,
quarterly, annual) owes evidence for each calendar occurrence: each day, ISO week, month,
quarter or year (UTC).

**Due date.** An occurrence is due at the end of its window plus a grace (``grace``; the
compliance setting ``evidence_grace_days``, default 0 days): the Q1 2026 access review is due at
2026-04-01T00:00Z unless a grace is configured. Occurrences whose due date falls inside the
period (up to the moment the period is judged) are judged.

**Coverage.** An accepted version of an item covers the occurrence containing the end of the
period the item names (its start when it names only a start); an item naming no period covers
the occurrence in which the version's validity began (its upload: the evidence service anchors an
undated item there; for versions known only by ``valid_until``, one interval of the control's
frequency before it). A deleted item never covers anything. Every accepted version is kept
(``evidence_versions``), so a newer version never erases an older version's acceptance.

**On time or late.** An occurrence is covered on time when, for every required evidence type, a
version covering it was accepted (the review time) no later than its due date. Otherwise it is a
deviation: ``late`` when every lacking type was accepted after the due date (detected at the due
date, resolved at the last of those acceptances), ``missed`` while some type still has no accepted
version (open). Late acceptance is never "met on time". An acceptance time known only as an upper
bound (see the evidence consumer) is judged as that bound, so doubt never counts as on time.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, Protocol

import asyncpg
from pydantic import BaseModel, Field

RECURRING = ("daily", "weekly", "monthly", "quarterly", "annual")
# Ten years of days: far beyond any audit period, and a bound on the work a request can ask for.
MAX_OCCURRENCES = 3700


class MissedOccurrence(BaseModel):
    label: str = Field(description="The occurrence: 2026-06-01, 2026-W23, 2026-06, 2026-Q2 or 2026")
    frequency: str
    start: datetime
    due: datetime = Field(description="The end of the occurrence plus the grace, when its evidence was due")
    missing_types: list[str] = Field(description="Required evidence types with no accepted version covering it")
    reason: str


class EvidenceDeviation(BaseModel):
    """An occurrence not covered on time: still uncovered (missed) or covered after its due date (late)."""

    kind: Literal["missed", "late"]
    label: str = Field(description="The occurrence: 2026-06-01, 2026-W23, 2026-06, 2026-Q2 or 2026")
    frequency: str
    start: datetime = Field(description="Start of the occurrence window")
    end: datetime = Field(description="End of the occurrence window")
    due: datetime = Field(description="When its evidence was due: the end plus the configured grace")
    detected_at: datetime = Field(description="The due date: when the occurrence became a deviation")
    resolved_at: datetime | None = Field(
        description="Late: when the last lacking evidence was accepted; missed: null (still open)"
    )
    missing_types: list[str] = Field(description="Required types with no accepted version covering the occurrence")
    late_types: list[str] = Field(description="Required types covered only by versions accepted after the due date")
    covered_late_by: list[str] = Field(description="The versions (item@vN) that covered it late")
    reason: str


@dataclass(frozen=True)
class Occurrence:
    label: str
    start: datetime
    due: datetime


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _months_later(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def occurrence_at(moment: datetime, frequency: str) -> Occurrence:
    """The calendar occurrence of ``frequency`` containing ``moment`` (UTC)."""
    day = moment.astimezone(UTC).date()
    if frequency == "daily":
        return Occurrence(day.isoformat(), _midnight(day), _midnight(day + timedelta(days=1)))
    if frequency == "weekly":
        monday = day - timedelta(days=day.weekday())
        year, week, _ = monday.isocalendar()
        return Occurrence(f"{year}-W{week:02d}", _midnight(monday), _midnight(monday + timedelta(days=7)))
    if frequency == "monthly":
        first = day.replace(day=1)
        return Occurrence(f"{day.year}-{day.month:02d}", _midnight(first), _midnight(_months_later(first, 1)))
    if frequency == "quarterly":
        quarter = (day.month - 1) // 3
        first = date(day.year, 3 * quarter + 1, 1)
        return Occurrence(f"{day.year}-Q{quarter + 1}", _midnight(first), _midnight(_months_later(first, 3)))
    if frequency == "annual":
        return Occurrence(str(day.year), _midnight(date(day.year, 1, 1)), _midnight(date(day.year + 1, 1, 1)))
    raise ValueError(f"{frequency!r} has no occurrences")


def occurrences_due(frequency: str, start: datetime, until: datetime) -> list[Occurrence]:
    """Occurrences that fell due in ``(start, until]``, oldest first."""
    out: list[Occurrence] = []
    current = occurrence_at(start, frequency)
    while current.due <= until and len(out) < MAX_OCCURRENCES:
        if current.due > start:
            out.append(current)
        current = occurrence_at(current.due, frequency)
    return out


def _retreat(moment: datetime, frequency: str) -> datetime:
    if frequency == "daily":
        return moment - timedelta(days=1)
    if frequency == "weekly":
        return moment - timedelta(days=7)
    months = {"monthly": 1, "quarterly": 3, "annual": 12}[frequency]
    back = _months_later(moment.date(), -months)
    return datetime.combine(back, moment.timetz())


def covered_moment(item: asyncpg.Record | Mapping[str, Any], frequency: str) -> datetime | None:
    """The moment whose occurrence an accepted version covers (see the module docstring)."""
    period = item["period"] or {}
    named = period.get("end") or period.get("start")
    if named:
        try:
            return _midnight(date.fromisoformat(str(named)[:10]))
        except ValueError:
            pass
    since: datetime | None = item.get("valid_from")
    if since is not None:
        return since
    until: datetime | None = item["valid_until"]
    return None if until is None else _retreat(until, frequency)


def _version_label(item: Mapping[str, Any]) -> str:
    return f"{item['item_id']}@v{item['version']}"


def occurrence_deviations(
    frequency: str,
    required: Sequence[str],
    versions: Iterable[asyncpg.Record | Mapping[str, Any]],
    start: datetime,
    until: datetime,
    grace: timedelta = timedelta(0),
) -> list[EvidenceDeviation]:
    """The occurrences due in ``(start, until]`` not covered on time, oldest first.

    ``versions`` are accepted versions: ``evidence_type``, ``period``, ``valid_from``,
    ``valid_until``, ``accepted_at``, ``item_id`` and ``version`` each.
    """
    if frequency not in RECURRING or not required:
        return []
    types = list(dict.fromkeys(required))
    # occurrence label -> evidence type -> the versions covering it
    covering: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for v in versions:
        moment = covered_moment(v, frequency)
        if moment is not None and v["accepted_at"] is not None:
            label = occurrence_at(moment, frequency).label
            covering.setdefault(label, {}).setdefault(v["evidence_type"], []).append(v)
    out: list[EvidenceDeviation] = []
    for occ in occurrences_due(frequency, start - grace, until - grace):
        due = occ.due + grace
        have = covering.get(occ.label, {})
        lacking = [t for t in types if not any(v["accepted_at"] <= due for v in have.get(t, []))]
        if not lacking:
            continue
        # Per lacking type, the first version accepted after the due date (if any was).
        late = {
            t: min(have[t], key=lambda v: (v["accepted_at"], v["item_id"], v["version"])) for t in lacking if t in have
        }
        absent = [t for t in lacking if t not in late]
        when = f"The {frequency} occurrence {occ.label} fell due on {due:%Y-%m-%d %H:%M} UTC"
        if absent:
            reason = f"{when} without accepted {', '.join(absent)} evidence"
            if late:
                reason += f"; {', '.join(late)} evidence was accepted late"
            kind: Literal["missed", "late"] = "missed"
            resolved = None
        else:
            resolved = max(v["accepted_at"] for v in late.values())
            reason = (
                f"{when}; its {', '.join(late)} evidence was accepted late, the last on {resolved:%Y-%m-%d %H:%M} UTC"
            )
            kind = "late"
        out.append(
            EvidenceDeviation(
                kind=kind,
                label=occ.label,
                frequency=frequency,
                start=occ.start,
                end=occ.due,
                due=due,
                detected_at=due,
                resolved_at=resolved,
                missing_types=absent,
                late_types=list(late),
                covered_late_by=sorted({_version_label(v) for v in late.values()}),
                reason=reason + ".",
            )
        )
    return out


def missed(
    frequency: str,
    required: Sequence[str],
    versions: Iterable[asyncpg.Record | Mapping[str, Any]],
    start: datetime,
    until: datetime,
    grace: timedelta = timedelta(0),
) -> list[MissedOccurrence]:
    """The occurrences due in ``(start, until]`` still lacking accepted evidence of some required type."""
    return _missed_of(occurrence_deviations(frequency, required, versions, start, until, grace))


def _missed_of(found: Iterable[EvidenceDeviation]) -> list[MissedOccurrence]:
    """The missed ones among ``found`` (the late ones were covered in the end)."""
    return [
        MissedOccurrence(
            label=d.label,
            frequency=d.frequency,
            start=d.start,
            due=d.due,
            missing_types=d.missing_types,
            reason=d.reason,
        )
        for d in found
        if d.kind == "missed"
    ]


class _HasEvidenceDeviations(Protocol):
    control_id: str
    deviation_count: int
    open_count: int
    missed_occurrences: list[MissedOccurrence]
    evidence_deviations: list[EvidenceDeviation]


async def recurring_evidence_controls(conn: asyncpg.Connection) -> set[str]:
    """Active controls that owe evidence per occurrence (they have deviations even without checks)."""
    rows = await conn.fetch(
        "SELECT control_id FROM controls WHERE state = 'active' AND frequency = ANY($1::text[])"
        " AND jsonb_array_length(evidence) > 0",
        list(RECURRING),
    )
    return {r["control_id"] for r in rows}


async def attach_missed_occurrences(
    conn: asyncpg.Connection,
    controls: Sequence[_HasEvidenceDeviations],
    start: datetime,
    until: datetime,
    grace: timedelta = timedelta(0),
) -> None:
    """Fill each listed control's evidence deviations for the period ``(start, until]``.

    ``evidence_deviations`` gets the missed and late occurrences, ``missed_occurrences`` the missed
    ones; both are added to the control's ``deviation_count``, the missed ones to its
    ``open_count``. Occurrences due before the control existed are not owed.
    """
    if not controls or until <= start:
        return
    ids = [c.control_id for c in controls]
    definitions = await conn.fetch(
        "SELECT control_id, frequency, evidence, created_at FROM controls WHERE control_id = ANY($1::text[])"
        " AND frequency = ANY($2::text[]) AND jsonb_array_length(evidence) > 0",
        ids,
        list(RECURRING),
    )
    if not definitions:
        return
    rows = await conn.fetch(
        "SELECT v.item_id, v.version, v.accepted_at, v.valid_from, v.valid_until, i.evidence_type, i.control_ids,"
        " i.period FROM evidence_versions v JOIN evidence_items i ON i.item_id = v.item_id"
        " WHERE v.accepted_at IS NOT NULL AND v.deleted_at IS NULL AND i.status <> 'deleted'"
        " AND i.control_ids && $1::text[]",
        [d["control_id"] for d in definitions],
    )
    by_id = {c.control_id: c for c in controls}
    for d in definitions:
        required = [e["type"] for e in d["evidence"]]
        versions = [r for r in rows if d["control_id"] in r["control_ids"] and r["evidence_type"] in required]
        found = occurrence_deviations(d["frequency"], required, versions, max(start, d["created_at"]), until, grace)
        control = by_id[d["control_id"]]
        control.evidence_deviations = found
        control.missed_occurrences = _missed_of(found)
        control.deviation_count += len(found)
        control.open_count += len(control.missed_occurrences)
