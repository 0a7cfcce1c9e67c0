from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """Read a naive datetime as UTC, so comparisons never mix naive and aware values."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
