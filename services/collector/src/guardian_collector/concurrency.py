"""Adaptive concurrency for AWS calls: back off when AWS throttles, stay within its rate limits.

Every aiobotocore client the collector makes is attached to a :class:`Governor`, which keeps one
:class:`AdaptiveLimit` per (service, region), the scope in which AWS counts API requests. Each
attempt of each call (retries included) goes through it:

- before the request is sent (botocore's ``before-send`` event) it waits for a free slot under the
  current concurrency limit and, where AWS publishes a request rate for the service, for a token of
  that rate's bucket;
- when the answer (or the connection error) is in (``response-received``), the slot is freed, and
  the answer adjusts the limit: additive increase after a full window of successes, multiplicative
  decrease (by the back-off factor, halving by default) on a throttling error, at most once per
  window, so one burst of throttled answers to requests already in flight counts as one signal.

botocore's own ``adaptive`` retry mode keeps backing off individual retries; this module bounds
how many requests a scan has in flight at all, across every collector using the same service and
region. On top of the per-service limits an overall cap bounds the requests a scan has in flight
across every service. Nothing here sleeps on its own clock: the clock and the sleep are injectable
for tests.

Every knob (initial, minimum and maximum concurrency, per service and overall, the back-off factor,
per-service request rates) is a collector setting (settings.py; docs/deploy.md lists them).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from guardian_collector.collectors.base import THROTTLING_CODES

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    per_second: float
    burst: float

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs per_second > 0 and burst >= 1")


# Request rates AWS publishes for the read calls the collectors make (per account and region),
# used as ceilings; services absent here are bounded by the adaptive concurrency alone.
# EC2: non-mutating Describe* actions, bucket of 100 refilled at 20 per second.
# Route 53: 5 requests per second per account. ACM: DescribeCertificate/ListCertificates 10 per second.
# CloudTrail: 10 per second for most read calls (LookupEvents, not used, is 2). Organizations: 20.
PUBLISHED_RATE_LIMITS: dict[str, RateLimit] = {
    "ec2": RateLimit(per_second=20.0, burst=100.0),
    "route53": RateLimit(per_second=5.0, burst=5.0),
    "acm": RateLimit(per_second=10.0, burst=10.0),
    "cloudtrail": RateLimit(per_second=10.0, burst=10.0),
    "organizations": RateLimit(per_second=20.0, burst=20.0),
}


@dataclass(frozen=True)
class ServiceLimits:
    """Concurrency bounds of one AWS service (``None``: the governor's general value)."""

    initial: int | None = None
    minimum: int | None = None
    maximum: int | None = None


class TokenBucket:
    def __init__(self, rate: RateLimit, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = rate.burst
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.rate.burst, self._tokens + elapsed * self.rate.per_second)
        self._updated = now

    async def take(self) -> float:
        """Take one token, waiting for it if need be; returns the seconds waited (by the clock)."""
        waited = 0.0
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                # A tolerance: after sleeping for exactly the deficit, rounding must not leave us a
                # hair short of a token and waiting for ever-smaller remainders.
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return waited
                wait = (1.0 - self._tokens) / self.rate.per_second
                waited += wait
                await self._sleep(wait)


class AdaptiveLimit:
    """An AIMD concurrency limit: ``acquire`` before a request, ``release`` with how it went."""

    def __init__(
        self,
        *,
        initial: int,
        minimum: int = 1,
        maximum: int,
        rate: RateLimit | None = None,
        backoff: float = 0.5,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}")
        if not 0.0 < backoff < 1.0:
            raise ValueError(f"the back-off factor must lie between 0 and 1 (exclusive), got {backoff}")
        self.backoff = backoff
        self.initial = initial
        self.minimum = minimum
        self.maximum = maximum
        self.limit = initial
        self.lowest_limit = initial
        self.highest_limit = initial
        self.in_flight = 0
        self.peak_in_flight = 0
        self.throttled = 0
        self.requests = 0
        self.decreases = 0
        self.rate_waits = 0.0
        self._successes = 0
        # Requests started after the last decrease; a throttle answering an earlier one is the same signal.
        self._epoch = 0
        self._bucket = TokenBucket(rate, clock=clock, sleep=sleep) if rate is not None else None
        self._changed = asyncio.Condition()

    async def acquire(self) -> int:
        """Wait for a slot (and a token); returns the epoch to hand back to :meth:`release`."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self.requests += 1
            epoch = self._epoch
        if self._bucket is not None:
            self.rate_waits += await self._bucket.take()
        return epoch

    async def release(self, epoch: int, *, throttled: bool) -> None:
        async with self._changed:
            self.in_flight = max(0, self.in_flight - 1)
            if throttled:
                self.throttled += 1
                if epoch == self._epoch:
                    self._epoch += 1
                    self.decreases += 1
                    self.limit = max(self.minimum, int(self.limit * self.backoff))
                    self.lowest_limit = min(self.lowest_limit, self.limit)
                    self._successes = 0
            else:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self.highest_limit = max(self.highest_limit, self.limit)
                    self._successes = 0
            self._changed.notify_all()

    def snapshot(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "initial": self.initial,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "lowest_limit": self.lowest_limit,
            "highest_limit": self.highest_limit,
            "peak_in_flight": self.peak_in_flight,
            "requests": self.requests,
            "throttled": self.throttled,
            "decreases": self.decreases,
            "rate_wait_seconds": round(self.rate_waits, 3),
        }


def throttling_code(parsed: Mapping[str, Any] | None) -> str | None:
    """The throttling error code of a parsed answer, or ``None``."""
    if not parsed:
        return None
    error = parsed.get("Error")
    code = error.get("Code") if isinstance(error, Mapping) else None
    return str(code) if code in THROTTLING_CODES else None


_ATTEMPT: contextvars.ContextVar[tuple[AdaptiveLimit, int] | None] = contextvars.ContextVar(
    "guardian_governor_attempt", default=None
)


class OverallCap:
    """A plain bound on the requests in flight across every service, with its peak recorded."""

    def __init__(self, maximum: int) -> None:
        if maximum < 1:
            raise ValueError(f"the overall concurrency must be at least 1, got {maximum}")
        self.maximum = maximum
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.maximum)
            self.in_flight += 1
            self.requests += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    async def release(self) -> None:
        async with self._changed:
            self.in_flight = max(0, self.in_flight - 1)
            # Everyone re-checks: a waiter cancelled after being woken must not swallow the wake-up.
            self._changed.notify_all()

    def snapshot(self) -> dict[str, Any]:
        return {"maximum": self.maximum, "peak_in_flight": self.peak_in_flight, "requests": self.requests}


class Governor:
    """One adaptive limit per (service, region), shared by every client of a scan, under an overall cap."""

    def __init__(
        self,
        *,
        initial: int = 8,
        maximum: int = 32,
        minimum: int = 1,
        total: int = 256,
        backoff: float = 0.5,
        services: Mapping[str, ServiceLimits] | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.minimum = min(minimum, initial)
        self.backoff = backoff
        self.services = dict(services or {})
        self.rate_limits = dict(PUBLISHED_RATE_LIMITS if rate_limits is None else rate_limits)
        self.overall = OverallCap(total)
        self._clock = clock
        self._sleep = sleep
        self._limits: dict[tuple[str, str], AdaptiveLimit] = {}
        for service in self.services:
            self.bounds(service)  # refuse inconsistent bounds now, not at the first request

    def bounds(self, service: str) -> tuple[int, int, int]:
        """(initial, minimum, maximum) for ``service``: its own values where set, else the general ones."""
        own = self.services.get(service, ServiceLimits())
        maximum = own.maximum if own.maximum is not None else self.maximum
        initial = own.initial if own.initial is not None else min(self.initial, maximum)
        minimum = own.minimum if own.minimum is not None else min(self.minimum, initial)
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(f"{service}: need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}")
        return initial, minimum, maximum

    @property
    def ceiling(self) -> int:
        """The most requests one service may ever have in flight (what a collector may fan out to)."""
        own = [limits.maximum for limits in self.services.values() if limits.maximum is not None]
        return min(self.overall.maximum, max([self.maximum, *own]))

    def limit_for(self, service: str, region: str) -> AdaptiveLimit:
        key = (service, region)
        found = self._limits.get(key)
        if found is None:
            initial, minimum, maximum = self.bounds(service)
            found = AdaptiveLimit(
                initial=initial,
                minimum=minimum,
                maximum=maximum,
                rate=self.rate_limits.get(service),
                backoff=self.backoff,
                clock=self._clock,
                sleep=self._sleep,
            )
            self._limits[key] = found
        return found

    def attach(self, client: Any, service: str, region: str) -> None:
        """Route every attempt of ``client``'s calls through the (service, region) limit and the overall cap."""
        limit = self.limit_for(service, region)
        overall = self.overall

        async def before_send(**_: Any) -> None:
            # Always the service's slot first, then the overall one: one order, so no waiting in a circle.
            epoch = await limit.acquire()
            try:
                await overall.acquire()
            except BaseException:  # cancelled while waiting: give the service's slot back
                await limit.release(epoch, throttled=False)
                raise
            _ATTEMPT.set((limit, epoch))

        async def response_received(parsed_response: Mapping[str, Any] | None = None, **_: Any) -> None:
            # Both events run in the task making the call, one attempt after the other, so the
            # context variable pairs each answer with the slot its request took.
            attempt = _ATTEMPT.get()
            if attempt is None or attempt[0] is not limit:
                return  # answered before our handler ran (a stub): nothing was acquired
            _ATTEMPT.set(None)
            await overall.release()
            await limit.release(attempt[1], throttled=throttling_code(parsed_response) is not None)

        client.meta.events.register("before-send", before_send)
        client.meta.events.register("response-received", response_received)

    def report(self) -> dict[str, dict[str, Any]]:
        return {f"{s}/{r}": limit.snapshot() for (s, r), limit in sorted(self._limits.items())}
