"""The service's notion of "now", injectable so tests can move time.

Statuses are computed at request time: an acceptance that expires at 12:00 stops counting at
12:00, not at the next scan. Tests give the app a :class:`ManualClock` and move it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol

from fastapi import Depends, Request


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


Now = Annotated[Clock, Depends(clock_of)]
