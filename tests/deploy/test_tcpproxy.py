"""The outage proxy the health tests rely on does what each of its modes says, against an echo server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from guardian_testkit.tcpproxy import Mode, TcpProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    async with server:
        yield port


@pytest.fixture
def proxy(echo_port: int) -> Iterator[TcpProxy]:
    with TcpProxy(("127.0.0.1", echo_port)) as running:
        yield running


async def roundtrip(port: int, payload: bytes = b"ping", wait: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), wait)
    finally:
        writer.close()


async def test_bytes_flow_both_ways(proxy: TcpProxy) -> None:
    assert proxy.mode is Mode.PASS
    assert await roundtrip(proxy.port, b"x" * 200_000) == b"x" * 200_000


async def test_cut_resets_live_and_new_connections(proxy: TcpProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"hello")
    assert await asyncio.wait_for(reader.readexactly(5), 5) == b"hello"
    proxy.cut()
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        await asyncio.wait_for(reader.readexactly(1), 5)
    writer.close()
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        await roundtrip(proxy.port)
    proxy.restore()
    assert await roundtrip(proxy.port) == b"ping"


async def test_refuse_stops_listening_until_restored(proxy: TcpProxy) -> None:
    proxy.refuse()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", proxy.port)
    proxy.restore()
    assert await roundtrip(proxy.port) == b"ping"


async def test_blackhole_swallows_everything_until_restored(proxy: TcpProxy) -> None:
    proxy.blackhole()
    with pytest.raises(TimeoutError):
        await roundtrip(proxy.port, wait=0.3)
    proxy.restore()
    assert await roundtrip(proxy.port) == b"ping"
    assert proxy.accepted >= 2


async def test_a_unix_socket_upstream(tmp_path: Path) -> None:
    path = str(tmp_path / "echo.sock")
    server = await asyncio.start_unix_server(_echo, path)
    async with server:
        with TcpProxy(path) as proxy:
            assert await roundtrip(proxy.port, b"pong") == b"pong"
