"""Support for the webhook tests: a loopback receiver that records what it is sent and answers as told,
a clock the tests move, and signature checks made with the ``standardwebhooks`` library."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook

from guardian_testkit.moto import free_port


class MovableClock:
    """Starts at the real time (so a fresh signature verifies with the library) and moves when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = (start or datetime.now(UTC)).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


Answer = Callable[[Received], tuple[int, dict[str, str]]]


def answer_with(status: int, headers: dict[str, str] | None = None) -> Answer:
    return lambda _: (status, dict(headers or {}))


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every request; ``answer`` decides each response."""

    answer: Answer = field(default_factory=lambda: answer_with(204))
    received: list[Received] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    # While set, requests get no answer until the receiver stops (a receiver that hangs).
    hang: bool = False
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        request = Received(
            method=scope["method"],
            path=scope["path"],
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=b"".join(chunks).decode(),
        )
        self.received.append(request)
        if self.hang:
            await self._released.wait()
        status, headers = self.answer(request)
        raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        # 204 and 304 carry no body; anything else says briefly how it went.
        body = b"" if status in (204, 304) else (b"ok" if status < 300 else b"no")
        await send({"type": "http.response.body", "body": body})

    async def __aenter__(self) -> Receiver:
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            interface="asgi3",
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                raise RuntimeError(f"the receiver did not start: {self._task.exception()!r}")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._released.set()
        self._server.should_exit = True
        await self._task


def verify_now(secret: str, request: Received) -> Any:
    """Verify as a receiver would, with the library (timestamp within its 5-minute tolerance)."""
    return Webhook(secret).verify(request.body, request.headers)


def signature_valid(secret: str, request: Received) -> bool:
    """Whether the signature is the library's for the id, the sent timestamp and the body.

    For attempts made at a moved clock, hours from now, where ``verify`` would refuse the age alone.
    """
    moment = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(request.headers["webhook-id"], moment, request.body)
    return expected in request.headers["webhook-signature"].split(" ")
