"""The per-key rate limit: a fixed window per minute, counted in PostgreSQL so every replica shares it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from guardian_gateway.errors import RateLimited
from guardian_gateway.ratelimit import RateLimiter, count_hit, retry_after_seconds, window_of


def test_windows_are_aligned_on_the_minute_so_replicas_agree() -> None:
    start, end = window_of(datetime(2026, 3, 2, 9, 30, 59, 999000, tzinfo=UTC))
    assert start == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert end == datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
    assert window_of(datetime(2026, 3, 2, 9, 31, tzinfo=UTC))[0] == end


async def test_the_counter_increments_per_key_and_restarts_in_the_next_window(pool: asyncpg.Pool, clock: Any) -> None:
    async with pool.acquire() as conn:
        counts = [(await count_hit(conn, "key-a", clock.now)).count for _ in range(3)]
        other = await count_hit(conn, "key-b", clock.now)
        later = await count_hit(conn, "key-a", clock.now + timedelta(minutes=1))
    assert counts == [1, 2, 3]
    assert other.count == 1
    assert later.count == 1


async def test_concurrent_replicas_never_hand_out_the_same_count(pool: asyncpg.Pool, clock: Any) -> None:
    async def one() -> int:
        async with pool.acquire() as conn:
            return (await count_hit(conn, "shared", clock.now)).count

    counts = await asyncio.gather(*(one() for _ in range(25)))
    assert sorted(counts) == list(range(1, 26))


async def test_over_the_limit_the_key_is_refused_with_the_seconds_left_in_the_window(
    pool: asyncpg.Pool, clock: Any
) -> None:
    limiter = RateLimiter(pool, per_minute=3, clock=clock)
    for _ in range(3):
        await limiter.check("key-a")
    with pytest.raises(RateLimited) as info:
        await limiter.check("key-a")
    assert info.value.status == 429
    assert info.value.code == "rate_limited"
    # The clock stands at 09:30:10, so the window ends in 50 seconds.
    assert info.value.headers == {"Retry-After": "50"}
    await limiter.check("key-b")
    clock.advance(seconds=50)
    await limiter.check("key-a")


def test_retry_after_is_at_least_one_second() -> None:
    start, end = window_of(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    from guardian_gateway.ratelimit import Hit

    hit = Hit(count=9, window_start=start, window_end=end)
    assert retry_after_seconds(hit, end - timedelta(milliseconds=1)) == 1
    assert retry_after_seconds(hit, end - timedelta(seconds=30, milliseconds=500)) == 31


async def test_the_sweep_drops_only_windows_that_ended(pool: asyncpg.Pool, clock: Any) -> None:
    limiter = RateLimiter(pool, per_minute=100, clock=clock)
    await limiter.check("key-a")
    clock.advance(minutes=1)
    await limiter.check("key-a")
    assert await limiter.sweep() == 1
    async with pool.acquire() as conn:
        remaining = await conn.fetch("SELECT window_start, count FROM rate_limit_windows")
    assert [(r["window_start"], r["count"]) for r in remaining] == [(window_of(clock.now)[0], 1)]
