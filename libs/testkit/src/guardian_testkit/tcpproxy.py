"""A loopback TCP proxy that can take a dependency away and give it back, for outage tests.

Put it between a service and PostgreSQL (or anything spoken over TCP), point the service at
``proxy.port``, and switch modes from the test. The upstream is ``(host, port)`` or the path of a
Unix socket (an embedded PostgreSQL listens on one); clients always connect over loopback TCP.

- ``restore()``: bytes flow both ways (the starting mode);
- ``cut()``: every live connection is closed and each new one is closed as soon as it is accepted,
  as when the server restarts or a firewall resets connections;
- ``refuse()``: live connections are closed and the port stops listening, so connecting fails with
  "connection refused", as when the server is down;
- ``blackhole()``: connections are accepted and nothing is forwarded either way (live ones stall),
  as in a network partition; a client only notices through its own timeouts.

``restore()`` after ``blackhole()`` closes the connections that were stalled, since no client can
know what state they are in. The proxy runs its own event loop in a daemon thread, so it serves
synchronous and asynchronous tests alike, and it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from enum import Enum
from typing import Any, TypeVar

from guardian_testkit.moto import free_port

T = TypeVar("T")

_CHUNK = 64 * 1024


class Mode(Enum):
    PASS = "pass"
    CUT = "cut"
    REFUSE = "refuse"
    BLACKHOLE = "blackhole"


class TcpProxy:
    def __init__(self, upstream: tuple[str, int] | str, *, port: int | None = None) -> None:
        self.upstream = upstream
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._may_move = port is None  # a picked port taken meanwhile: the first listen picks again
        self.accepted = 0
        self._mode = Mode.PASS
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"tcpproxy:{self.port}", daemon=True)
        self._thread.start()
        self._call(self._setup())
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        self._call(self._teardown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def live_connections(self) -> int:
        return len(self._writers)

    # --- switching --------------------------------------------------------------------------------

    def restore(self) -> None:
        self._call(self._switch(Mode.PASS))

    def cut(self) -> None:
        self._call(self._switch(Mode.CUT))

    def refuse(self) -> None:
        self._call(self._switch(Mode.REFUSE))

    def blackhole(self) -> None:
        self._call(self._switch(Mode.BLACKHOLE))

    # --- inside the proxy's loop ------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "the proxy is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=15)

    async def _setup(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        attempts = 5 if self._may_move else 1
        for attempt in range(attempts):
            try:
                self._server = await asyncio.start_server(self._accept, self.host, self.port)
                break
            except OSError:
                if attempt + 1 == attempts:
                    raise
                self.port = free_port()
        # Once listening, the port is the proxy's address: a later re-listen (after REFUSE) keeps it.
        self._may_move = False

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _teardown(self) -> None:
        await self._stop_listening()
        self._close_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _switch(self, mode: Mode) -> None:
        previous, self._mode = self._mode, mode
        assert self._flowing is not None
        if mode is Mode.PASS:
            if previous is Mode.BLACKHOLE:
                self._close_all()
            self._flowing.set()
            if self._server is None:
                await self._listen()
        elif mode is Mode.BLACKHOLE:
            self._flowing.clear()
            if self._server is None:
                await self._listen()
        else:
            self._flowing.set()
            self._close_all()
            if mode is Mode.REFUSE:
                await self._stop_listening()
            elif self._server is None:
                await self._listen()

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        if task is not None:
            self._track(task)
        if self._mode in (Mode.CUT, Mode.REFUSE):
            writer.transport.abort()
            return
        self._writers.add(writer)
        try:
            assert self._flowing is not None
            # A black hole accepts and then says nothing; the upstream is only dialled once bytes flow.
            await self._flowing.wait()
            if writer.transport.is_closing():
                return
            try:
                if isinstance(self.upstream, str):
                    up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
                else:
                    up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                writer.transport.abort()
                return
            self._writers.add(up_writer)
            one = asyncio.create_task(self._pipe(reader, up_writer))
            other = asyncio.create_task(self._pipe(up_reader, writer))
            self._track(one)
            self._track(other)
            await asyncio.gather(one, other, return_exceptions=True)
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await self._flowing.wait()
                if writer.transport.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
