"""Stopping background loops: a cancellation the loop swallowed once must not keep it alive."""

from __future__ import annotations

import asyncio

from guardian_common.outbox import stop_task


async def test_a_loop_that_swallows_its_first_cancellation_is_still_stopped() -> None:
    swallowed = 0

    async def relay_like() -> None:
        # What asyncio.wait_for does on Python 3.11 when the awaited future completes as the
        # cancellation arrives: the CancelledError never reaches the loop, which sleeps again.
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed == 0:
                    swallowed += 1
                    current = asyncio.current_task()
                    assert current is not None
                    current.uncancel()
                    continue
                raise

    task = asyncio.create_task(relay_like())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_task(task, retry_every=0.05), timeout=5)
    assert task.cancelled()
    assert swallowed == 1


async def test_anything_but_a_task_is_left_alone() -> None:
    await stop_task(None)
    await stop_task("not a task")
