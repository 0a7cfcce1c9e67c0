"""A short-lived, shared cache for the dashboard's expensive upstream reads.

Compliance computes the live posture (readiness, requirements, controls, one control) on each call,
from counts it aggregates in its database: still the slowest upstream read of a page, and an overview
needs three of them. For ``ttl`` seconds after a read completes, the same read (same
call, same arguments, same role) is served from here, and concurrent pages asking for it share one
upstream call. Pages show when the posture was computed, so the age of what they show is always
visible. ``ttl`` 0 turns the cache off. Errors are never cached.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 512


@dataclass
class _Entry:
    # Until the read completes the entry never expires (waiters share it); then ``ttl`` from completion,
    # so a read slower than the ttl is still worth something.
    task: asyncio.Task[Any]
    expires: float = math.inf


class ReadCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self.loads = 0
        self.hits = 0

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        if self.ttl <= 0:
            self.loads += 1
            return await load()
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expires > now:
            self.hits += 1
            result: T = await asyncio.shield(entry.task)
            return result
        self._prune(now)
        self.loads += 1
        task: asyncio.Task[T] = asyncio.ensure_future(load())
        fresh = _Entry(task)
        self._entries[key] = fresh

        def settled(done: asyncio.Task[Any]) -> None:
            if done.cancelled() or done.exception() is not None:
                # A failed read is retried by the next page, not served for the rest of the ttl.
                if self._entries.get(key) is fresh:
                    del self._entries[key]
            else:
                fresh.expires = self._clock() + self.ttl

        task.add_done_callback(settled)
        return await asyncio.shield(task)

    def _prune(self, now: float) -> None:
        if len(self._entries) < MAX_ENTRIES:
            return
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            del self._entries[key]
        while len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]
