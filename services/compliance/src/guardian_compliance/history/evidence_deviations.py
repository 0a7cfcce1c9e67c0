"""Missed occurrences of recurring procedural controls: deviations in period data.

A control with evidence requirements and a recurring frequency (daily, weekly, monthly,
quarterly, annual) owes evidence for each calendar occurrence: each day, ISO week, month,
quarter or year. An occurrence is due at its end; one that fell due inside the period (up to the
moment the period is judged) without accepted evidence of every required type covering it is a
missed occurrence. Continuous controls have no occurrences.

An item covers the occurrence containing the end of the period it names (its start when it names
only a start); an item naming no period covers the occurrence in which its validity began (its
``valid_until`` one interval of the control's frequency back: the evidence service anchors an
undated item at its upload). Only accepted items count, and a deleted item never does. Compliance
holds each item's latest state, not its review dates: evidence accepted late still covers its
occurrence.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import asyncpg
from pydantic import BaseModel, Field

RECURRING = ("daily", "weekly", "monthly", "quarterly", "annual")
# Ten years of days: far beyond any audit period, and a bound on the work a request can ask for.
MAX_OCCURRENCES = 3700


class MissedOccurrence(BaseModel):
    label: str = Field(description="The occurrence: 2026-06-01, 2026-W23, 2026-06, 2026-Q2 or 2026")
    frequency: str
    start: datetime
    due: datetime = Field(description="The end of the occurrence, when its evidence was due")
    missing_types: list[str] = Field(description="Required evidence types with no accepted item for it")
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


def covered_moment(item: asyncpg.Record | dict[str, Any], frequency: str) -> datetime | None:
    """The moment whose occurrence an accepted item covers (see the module docstring)."""
    period = item["period"] or {}
    named = period.get("end") or period.get("start")
    if named:
        try:
            return _midnight(date.fromisoformat(str(named)[:10]))
        except ValueError:
            pass
    until: datetime | None = item["valid_until"]
    return None if until is None else _retreat(until, frequency)


def missed(
    frequency: str,
    required: Sequence[str],
    items: Iterable[asyncpg.Record | dict[str, Any]],
    start: datetime,
    until: datetime,
) -> list[MissedOccurrence]:
    """The occurrences due in ``(start, until]`` lacking accepted evidence of some required type."""
    if frequency not in RECURRING or not required:
        return []
    covered: dict[str, set[str]] = {}
    for item in items:
        moment = covered_moment(item, frequency)
        if moment is not None:
            covered.setdefault(occurrence_at(moment, frequency).label, set()).add(item["evidence_type"])
    out = []
    for occ in occurrences_due(frequency, start, until):
        lacking = [t for t in dict.fromkeys(required) if t not in covered.get(occ.label, set())]
        if lacking:
            out.append(
                MissedOccurrence(
                    label=occ.label,
                    frequency=frequency,
                    start=occ.start,
                    due=occ.due,
                    missing_types=lacking,
                    reason=f"The {frequency} occurrence {occ.label} fell due on {occ.due:%Y-%m-%d} without accepted"
                    f" {', '.join(lacking)} evidence.",
                )
            )
    return out


class _HasMissed(Protocol):
    control_id: str
    missed_occurrences: list[MissedOccurrence]


async def attach_missed_occurrences(
    conn: asyncpg.Connection, controls: Sequence[_HasMissed], start: datetime, until: datetime
) -> None:
    """Fill each listed control's ``missed_occurrences`` for the period ``(start, until]``.

    Occurrences due before the control existed are not owed.
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
        "SELECT item_id, evidence_type, control_ids, valid_until, period FROM evidence_items"
        " WHERE control_ids && $1::text[] AND accepted_version IS NOT NULL AND status <> 'deleted'",
        [d["control_id"] for d in definitions],
    )
    by_id = {c.control_id: c for c in controls}
    for d in definitions:
        required = [e["type"] for e in d["evidence"]]
        items = [r for r in rows if d["control_id"] in r["control_ids"] and r["evidence_type"] in required]
        by_id[d["control_id"]].missed_occurrences = missed(
            d["frequency"], required, items, max(start, d["created_at"]), until
        )
