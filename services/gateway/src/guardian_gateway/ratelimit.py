"""Per-key request limits shared by every gateway replica.

A fixed window per key and minute, counted in PostgreSQL with one upsert per request: every replica
increments the same row, so the limit holds however many replicas there are. Windows are aligned
on the epoch, so replicas agree on where a window starts as long as their clocks roughly do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from guardian_gateway.clock import Clock, utcnow
from guardian_gateway.errors import RateLimited

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Hit:
    count: int
    window_start: datetime
    window_end: datetime


def window_of(now: datetime, window_seconds: int = WINDOW_SECONDS) -> tuple[datetime, datetime]:
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % window_seconds, tz=UTC)
    return start, start + timedelta(seconds=window_seconds)


async def count_hit(conn: asyncpg.Connection, key_id: str, now: datetime, window_seconds: int = WINDOW_SECONDS) -> Hit:
    """Count one request of ``key_id`` in the window holding ``now``; return the window's count."""
    start, end = window_of(now, window_seconds)
    count: int = await conn.fetchval(
        "INSERT INTO rate_limit_windows AS w (key_id, window_start, count) VALUES ($1, $2, 1)"
        " ON CONFLICT (key_id, window_start) DO UPDATE SET count = w.count + 1"
        " RETURNING w.count",
        key_id,
        start,
    )
    return Hit(count=count, window_start=start, window_end=end)


async def forget_before(conn: asyncpg.Connection, before: datetime) -> int:
    result: str = await conn.execute("DELETE FROM rate_limit_windows WHERE window_start < $1", before)
    return int(result.split()[-1])


def retry_after_seconds(hit: Hit, now: datetime) -> int:
    return max(1, math.ceil((hit.window_end - now).total_seconds()))


@dataclass
class RateLimiter:
    pool: asyncpg.Pool
    per_minute: int
    clock: Clock = utcnow

    async def check(self, key_id: str) -> None:
        now = self.clock()
        async with self.pool.acquire() as conn:
            hit = await count_hit(conn, key_id, now)
        if hit.count > self.per_minute:
            retry = retry_after_seconds(hit, now)
            raise RateLimited(
                f"This key made more than {self.per_minute} requests this minute; retry in {retry} s.",
                headers={"Retry-After": str(retry)},
            )

    async def sweep(self) -> int:
        """Drop the counters of windows that ended; any replica may do it, any number of times."""
        start, _ = window_of(self.clock())
        async with self.pool.acquire() as conn:
            return await forget_before(conn, start)
