"""Where a page's time goes, sent as ``Server-Timing``: waiting on upstream services vs rendering here.

A page reads compliance, evidence and the collector, often several calls at once; ``upstream`` is the
wall time during which at least one of those calls was waiting for its answer (until its headers),
``render`` the template, ``total`` the whole page. The benchmark reads the header; browsers show it
in their developer tools.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

import httpx


@dataclass
class PageTiming:
    started: float = field(default_factory=time.perf_counter)
    render_seconds: float = 0.0
    calls: list[tuple[float, float]] = field(default_factory=list)

    def upstream_seconds(self) -> float:
        """The union of the upstream calls' intervals: concurrent calls count once."""
        total = 0.0
        end = float("-inf")
        for start, stop in sorted(self.calls):
            if stop <= end:
                continue
            total += stop - max(start, end)
            end = stop
        return total

    def header(self) -> str:
        total = (time.perf_counter() - self.started) * 1000
        return (
            f'upstream;dur={self.upstream_seconds() * 1000:.1f};desc="{len(self.calls)} calls", '
            f"render;dur={self.render_seconds * 1000:.1f}, total;dur={total:.1f}"
        )


CURRENT: ContextVar[PageTiming | None] = ContextVar("guardian_dashboard_timing", default=None)


class TimedTransport(httpx.AsyncBaseTransport):
    """Wraps the upstream transport; records each call's interval on the page being built, if any.

    A pooled keep-alive connection can be closed by the upstream server just as it is reused (uvicorn
    drops idle connections after 5 s): a GET that fails that way before any answer is sent once more
    on a fresh connection. Reads are idempotent; nothing else is retried.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            try:
                return await self._inner.handle_async_request(request)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                if request.method != "GET":
                    raise
                return await self._inner.handle_async_request(request)
        finally:
            timing = CURRENT.get()
            if timing is not None:
                timing.calls.append((started, time.perf_counter()))

    async def aclose(self) -> None:
        await self._inner.aclose()
