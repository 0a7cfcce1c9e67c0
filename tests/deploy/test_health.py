"""Health, readiness and metrics of a running service while its dependencies come and go.

The compliance service (its real app factory) runs under uvicorn on loopback with a NATS server of
its own and PostgreSQL behind a TCP proxy that the test controls. /healthz must answer 200
throughout; /readyz must say 503 while PostgreSQL is cut, refused or black-holed, or while NATS is
stopped, and 200 again once each returns (NATS on the same port, as a restarted pod would be);
/metrics must expose the guardian_* families.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
import uvicorn
from conftest import Running
from prometheus_client.parser import text_string_to_metric_families

from guardian_compliance.app import create_app
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.infra import EmbeddedNats, EmbeddedPostgres, machine_postgres
from guardian_testkit.moto import free_port
from guardian_testkit.tcpproxy import TcpProxy

# Long enough for asyncpg's and NATS' own timeouts and reconnects; polling ends as soon as it can.
SETTLE_SECONDS = 20.0


@dataclass(frozen=True)
class Postgres:
    """Where to administer the server, and what the proxy forwards to."""

    admin_url: str
    upstream: tuple[str, int] | str


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """The machine's PostgreSQL when it answers on 127.0.0.1:5432, else an embedded one."""
    url = machine_postgres()
    if url is not None:
        yield Postgres(admin_url=f"{url}/postgres", upstream=("127.0.0.1", 5432))
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pgdata")).start()
    try:
        admin_url = server.url("postgres")
        socket_dir = Path(parse_qs(urlsplit(admin_url).query)["host"][0])
        (socket,) = [p for p in socket_dir.glob(".s.PGSQL.*") if not p.name.endswith(".lock")]
        yield Postgres(admin_url=admin_url, upstream=str(socket))
    finally:
        server.stop()


@pytest.fixture
def pg_proxy(postgres: Postgres) -> Iterator[TcpProxy]:
    with TcpProxy(postgres.upstream) as proxy:
        yield proxy


@pytest.fixture
async def database(postgres: Postgres) -> AsyncIterator[str]:
    """A database name of this test's own, dropped afterwards (the service creates it)."""
    name = f"guardian_h_{uuid.uuid4().hex[:10]}"
    yield name
    conn = await asyncpg.connect(postgres.admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    server = await asyncio.to_thread(EmbeddedNats(tmp_path / "nats").start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the test runner owns the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
async def service(pg_proxy: TcpProxy, database: str, nats_server: EmbeddedNats) -> AsyncIterator[httpx.AsyncClient]:
    """The compliance service on loopback; yields a client pointed at it."""
    token = uuid.uuid4().hex[:10]
    settings = ComplianceSettings(
        environment="test",
        database_url=f"postgresql://postgres@127.0.0.1:{pg_proxy.port}/{database}",
        nats_url=nats_server.url,
        bus_prefix=f"h{token}",
        auth_secret=f"health-test-{token}-{uuid.uuid4().hex}",
        log_level="ERROR",
        host="127.0.0.1",
        port=free_port(),
    )
    server = _Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                raise RuntimeError(f"the compliance service did not start: {task.exception()!r}")
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.port}", timeout=15.0) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)


async def poll(client: httpx.AsyncClient, path: str, until: Callable[[httpx.Response], bool]) -> httpx.Response:
    """GET ``path`` until ``until`` holds; fail with the last answer after SETTLE_SECONDS."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while True:
        response = await client.get(path)
        if until(response):
            return response
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} stayed {response.status_code} {response.text}")
        await asyncio.sleep(0.1)


def ready(response: httpx.Response) -> bool:
    return response.status_code == 200


def not_ready_because(dependency: str) -> Callable[[httpx.Response], bool]:
    def check(response: httpx.Response) -> bool:
        body: dict[str, Any] = response.json()
        return response.status_code == 503 and body["checks"].get(dependency) is False

    return check


async def assert_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "compliance"}


async def test_a_healthy_service_is_alive_ready_and_measured(service: httpx.AsyncClient) -> None:
    await assert_alive(service)
    response = await service.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": True, "nats": True}}

    metrics = await service.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert {
        "guardian_http_request_seconds",
        "guardian_messages_handled",
        "guardian_dead_letters",
        "guardian_consumer_lag_messages",
    } <= set(families)
    # The requests just made were timed, labelled with this service.
    timed = [
        s
        for s in families["guardian_http_request_seconds"].samples
        if s.name.endswith("_count") and s.labels == {"service": "compliance", "method": "GET", "status": "200"}
    ]
    assert len(timed) == 1
    assert timed[0].value >= 2

    # The service's durable consumers report their lag: nothing was published, so zero. (The gauge is
    # process-wide, and an earlier test may have left values under the same consumer names until
    # these consumers overwrite them, hence the poll.)
    def compliance_lag(response: httpx.Response) -> dict[str, float]:
        return {
            s.labels["consumer"]: s.value
            for f in text_string_to_metric_families(response.text)
            if f.name == "guardian_consumer_lag_messages"
            for s in f.samples
            if s.labels.get("consumer", "").startswith("compliance-")
        }

    measured = await poll(service, "/metrics", lambda r: bool(lag := compliance_lag(r)) and set(lag.values()) == {0})
    assert len(compliance_lag(measured)) >= 2


async def test_readiness_follows_postgres(service: httpx.AsyncClient, pg_proxy: TcpProxy) -> None:
    await poll(service, "/readyz", ready)

    # Connections reset, and every new one reset at once.
    pg_proxy.cut()
    down = await poll(service, "/readyz", not_ready_because("database"))
    assert down.json() == {"status": "not_ready", "checks": {"database": False, "nats": True}}
    await assert_alive(service)
    pg_proxy.restore()
    await poll(service, "/readyz", ready)

    # The server gone: connecting is refused.
    pg_proxy.refuse()
    await poll(service, "/readyz", not_ready_because("database"))
    await assert_alive(service)
    pg_proxy.restore()
    await poll(service, "/readyz", ready)

    # A partition: nothing answers, and only the readiness check's own time limit notices.
    pg_proxy.blackhole()
    await poll(service, "/readyz", not_ready_because("database"))
    await assert_alive(service)
    pg_proxy.restore()
    await poll(service, "/readyz", ready)

    # The 503s were counted like any other answer.
    metrics = await service.get("/metrics")
    (family,) = [f for f in text_string_to_metric_families(metrics.text) if f.name == "guardian_http_request_seconds"]
    assert any(
        s.name.endswith("_count") and s.labels.get("status") == "503" and s.labels.get("service") == "compliance"
        for s in family.samples
    )


async def test_readiness_follows_nats(service: httpx.AsyncClient, nats_server: EmbeddedNats) -> None:
    await poll(service, "/readyz", ready)
    port = nats_server.port

    await asyncio.to_thread(nats_server.stop)
    down = await poll(service, "/readyz", not_ready_because("nats"))
    assert down.json() == {"status": "not_ready", "checks": {"database": True, "nats": False}}
    await assert_alive(service)

    # Back on the same port with the same store, as a restarted server would be.
    await asyncio.to_thread(nats_server.start)
    assert nats_server.port == port
    await poll(service, "/readyz", ready)
    await assert_alive(service)


async def test_every_service_of_a_running_stack_is_alive_ready_and_measured(running: Running) -> None:
    """Each service (gateway, evidence, reporting and remediation included) answers its open operational
    endpoints without a credential, reports database and NATS ready, and exposes its metrics."""
    names = sorted(running.stack.services)
    assert {"collector", "evaluator", "compliance", "evidence", "reporting", "remediation", "gateway"} <= set(names)
    for name in names:
        async with httpx.AsyncClient(base_url=running.stack.url(name), timeout=15.0) as client:
            alive = await client.get("/healthz")
            assert alive.status_code == 200, (name, alive.text)
            assert alive.json() == {"status": "ok", "service": name}
            ready_now = await poll(client, "/readyz", ready)
            checks = ready_now.json()["checks"]
            # The evaluator keeps no state of its own, so it has no database to check.
            expected = {"nats": True} if name == "evaluator" else {"database": True, "nats": True}
            assert checks == expected, (name, checks)
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200, name
            families = {f.name for f in text_string_to_metric_families(metrics.text)}
            assert "guardian_http_request_seconds" in families, name
    # Service-specific families: the collector's AWS calls and scans, the gateway's webhook deliveries.
    async with httpx.AsyncClient(base_url=running.stack.url("collector"), timeout=15.0) as client:
        families = {f.name for f in text_string_to_metric_families((await client.get("/metrics")).text)}
    assert {"guardian_aws_requests", "guardian_scans_finished", "guardian_snapshots_published"} <= families


async def test_a_service_started_before_its_database_waits_for_it(
    pg_proxy: TcpProxy, database: str, nats_server: EmbeddedNats
) -> None:
    """Compose and Kubernetes start everything at once: a service whose PostgreSQL does not answer yet
    keeps trying (with back-off) and starts once it does, instead of crashing."""
    token = uuid.uuid4().hex[:10]
    settings = ComplianceSettings(
        environment="test",
        database_url=f"postgresql://postgres@127.0.0.1:{pg_proxy.port}/{database}",
        nats_url=nats_server.url,
        bus_prefix=f"h{token}",
        auth_secret=f"health-test-{token}-{uuid.uuid4().hex}",
        log_level="ERROR",
        host="127.0.0.1",
        port=free_port(),
        startup_wait_seconds=120,
    )
    pg_proxy.cut()
    server = _Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, log_config=None))
    task = asyncio.create_task(server.serve())
    try:
        # Several refused attempts while the service is still starting, not one failure and an exit.
        while pg_proxy.accepted < 3:
            assert not task.done(), f"the service gave up: {task.exception()!r}"
            await asyncio.sleep(0.05)
        assert not server.started
        pg_proxy.restore()
        while not server.started:
            assert not task.done(), f"the service gave up: {task.exception()!r}"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://{settings.host}:{settings.port}", timeout=15.0) as client:
            await poll(client, "/readyz", ready)
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
