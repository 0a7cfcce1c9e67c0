"""The collector's adaptive limits on their own: AIMD arithmetic and token buckets on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from guardian_collector.concurrency import (
    PUBLISHED_RATE_LIMITS,
    AdaptiveLimit,
    Governor,
    RateLimit,
    TokenBucket,
    throttling_code,
)


class FakeClock:
    """Time that moves only when somebody sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_throttle_halves_the_limit_once_per_window_and_successes_add_one() -> None:
    limit = AdaptiveLimit(initial=8, minimum=1, maximum=10)
    epochs = [await limit.acquire() for _ in range(4)]
    assert limit.in_flight == 4
    # Four requests in flight are throttled together: one signal, one halving.
    for epoch in epochs:
        await limit.release(epoch, throttled=True)
    assert (limit.limit, limit.decreases, limit.throttled, limit.in_flight) == (4, 1, 4, 0)
    # A window of successes as long as the limit raises it by one.
    for _ in range(4):
        await limit.release(await limit.acquire(), throttled=False)
    assert limit.limit == 5
    # Throttles started after the decrease are a new signal; the floor holds.
    for _ in range(5):
        await limit.release(await limit.acquire(), throttled=True)
    assert limit.limit == 1
    assert limit.decreases == 6  # the first, then 5 -> 2 -> 1 and three more at the floor


async def test_the_limit_never_passes_its_ceiling_and_blocks_beyond_it() -> None:
    limit = AdaptiveLimit(initial=2, minimum=1, maximum=3)
    for _ in range(20):
        await limit.release(await limit.acquire(), throttled=False)
    assert limit.limit == 3
    held = [await limit.acquire() for _ in range(3)]
    waiter = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()  # a fourth request waits for a slot
    await limit.release(held[0], throttled=False)
    await asyncio.wait_for(waiter, 5)
    assert limit.peak_in_flight == 3


async def test_token_bucket_spends_its_burst_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(per_second=20.0, burst=100.0), clock=clock, sleep=clock.sleep)
    waited = [await bucket.take() for _ in range(110)]
    assert waited[:100] == [0.0] * 100
    assert all(w == pytest.approx(0.05) for w in waited[100:])
    assert clock.now - 100.0 == pytest.approx(10 * 0.05)


def test_throttling_codes_and_published_limits() -> None:
    assert throttling_code({"Error": {"Code": "Throttling"}}) == "Throttling"
    assert throttling_code({"Error": {"Code": "RequestLimitExceeded"}}) == "RequestLimitExceeded"
    assert throttling_code({"Error": {"Code": "AccessDenied"}}) is None
    assert throttling_code({"Buckets": []}) is None
    assert throttling_code(None) is None
    assert PUBLISHED_RATE_LIMITS["ec2"] == RateLimit(per_second=20.0, burst=100.0)
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit(per_second=0.0, burst=1.0)
    with pytest.raises(ValueError, match="minimum"):
        AdaptiveLimit(initial=0, maximum=4)


async def test_the_governor_keeps_one_limit_per_service_and_region() -> None:
    clock = FakeClock()
    governor = Governor(initial=4, maximum=16, clock=clock, sleep=clock.sleep)
    ec2_east = governor.limit_for("ec2", "us-east-1")
    assert governor.limit_for("ec2", "us-east-1") is ec2_east
    assert governor.limit_for("ec2", "eu-west-1") is not ec2_east
    assert governor.limit_for("s3", "us-east-1").snapshot()["limit"] == 4
    await ec2_east.release(await ec2_east.acquire(), throttled=True)
    assert governor.report()["ec2/us-east-1"]["decreases"] == 1
    assert governor.report()["s3/us-east-1"]["decreases"] == 0
