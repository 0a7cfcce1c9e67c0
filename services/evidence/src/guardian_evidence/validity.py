"""How long accepted evidence counts, and the status an item has at a given moment.

An accepted version is valid from the end of the occurrence it covers (its period end, or the
day it was uploaded when it names no period) for one interval of its frequency: the Q3 access
review is valid until the end of Q4, when the Q4 review is due. ``continuous`` evidence is
treated like daily evidence: it must be refreshed every day to keep counting. Only accepted
evidence that has not expired counts; an unreviewed or rejected version never does.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum


class Frequency(StrEnum):
    CONTINUOUS = "continuous"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"


# Strictest first: an item supporting several controls takes the shortest of their frequencies.
STRICTNESS = [
    Frequency.CONTINUOUS,
    Frequency.DAILY,
    Frequency.WEEKLY,
    Frequency.MONTHLY,
    Frequency.QUARTERLY,
    Frequency.ANNUAL,
]


class Status(StrEnum):
    CURRENT = "current"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"


COUNTING = frozenset({Status.CURRENT, Status.DUE_SOON})


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def advance(moment: datetime, frequency: Frequency) -> datetime:
    if frequency in (Frequency.CONTINUOUS, Frequency.DAILY):
        return moment + timedelta(days=1)
    if frequency is Frequency.WEEKLY:
        return moment + timedelta(days=7)
    months = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.ANNUAL: 12}[frequency]
    return _add_months(moment, months)


def anchor(period_end: date | None, uploaded_at: datetime) -> datetime:
    """The moment validity starts: the end of the covered period (midnight after its last day)."""
    if period_end is not None:
        return datetime.combine(period_end + timedelta(days=1), time(0), tzinfo=UTC)
    return uploaded_at


def valid_until(frequency: Frequency, period_end: date | None, uploaded_at: datetime) -> datetime:
    return advance(anchor(period_end, uploaded_at), frequency)


def strictest(frequencies: list[Frequency]) -> Frequency | None:
    for candidate in STRICTNESS:
        if candidate in frequencies:
            return candidate
    return None


def due_soon_window(valid_from: datetime, until: datetime, due_soon_days: int) -> timedelta:
    """The configured window, but never more than a quarter of the validity (daily evidence is not
    "due soon" for its whole life)."""
    return min(timedelta(days=due_soon_days), (until - valid_from) / 4)


def status_at(
    now: datetime,
    *,
    accepted_valid_from: datetime | None,
    accepted_valid_until: datetime | None,
    latest_decision: str | None,
    due_soon_days: int,
) -> Status:
    if accepted_valid_until is not None and accepted_valid_from is not None:
        if now >= accepted_valid_until:
            return Status.OVERDUE
        window = due_soon_window(accepted_valid_from, accepted_valid_until, due_soon_days)
        if now >= accepted_valid_until - window:
            return Status.DUE_SOON
        return Status.CURRENT
    if latest_decision == "rejected":
        return Status.REJECTED
    return Status.PENDING_REVIEW
