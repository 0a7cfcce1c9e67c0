"""Cross-service fixtures: real PostgreSQL, real NATS, a moto server behind our fault proxy, and the
services running on loopback with a database and a bus prefix of their own.

``running`` starts a stack per test. A module whose tests only read, or whose tests each make
resources of their own, uses ``shared_running`` instead: one stack for the whole module (starting
every service costs seconds). Such a module runs its tests in the module's event loop, where the
stack's servers live::

    pytestmark = pytest.mark.asyncio(loop_scope="module")

    @pytest.fixture(scope="module")
    def running(shared_running: Running) -> Running:
        return shared_running

and gives its own async fixtures ``loop_scope="module"`` too (``pytest_asyncio.fixture``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from guardian_cli.client import Endpoints, GuardianClient
from guardian_cli.stack import LocalStack, StackConfig
from guardian_common.auth import Role, mint_key
from guardian_testkit.faults import FaultProxy
from guardian_testkit.moto import MotoServer
from guardian_testkit.resources import delete_streams, drop_database

REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def _aws_env(patch: pytest.MonkeyPatch) -> None:
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.delenv("AWS_PROFILE", raising=False)
    patch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    moto_server.reset()
    _aws_env(monkeypatch)
    return moto_server


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto.url) as fp:
        yield fp


@dataclass
class Running:
    stack: LocalStack
    client: GuardianClient
    database_url: str
    prefix: str
    proxy: FaultProxy

    def key(self, role: Role) -> str:
        return mint_key(self.stack.auth_secret, role, f"test-{role.value}")[1]


@contextlib.asynccontextmanager
async def local_stack(
    postgres_base: str, nats_url: str, home: Path, aws_endpoint_url: str | None = None, **overrides: Any
) -> AsyncIterator[LocalStack]:
    """A stack on a new database and bus prefix of its own, both removed when it stops.

    ``overrides`` are further ``StackConfig`` fields (a rate limit, gateway-only services...).
    """
    token = uuid.uuid4().hex[:10]
    database = f"guardian_t_{token}"
    prefix = f"t{token}"
    fields: dict[str, Any] = {
        "home": home,
        "database_url": f"{postgres_base}/{database}",
        "nats_url": nats_url,
        "bus_prefix": prefix,
        "auth_secret": f"test-secret-{token}-{uuid.uuid4().hex}",
        "aws_endpoint_url": aws_endpoint_url,
        "regions": REGIONS,
        "log_level": "WARNING",
        **overrides,
    }
    stack = await LocalStack(StackConfig(**fields)).start()
    try:
        yield stack
    finally:
        await stack.stop()
        await delete_streams(nats_url, prefix)
        await drop_database(postgres_base, database)


@contextlib.asynccontextmanager
async def running_stack(postgres_base: str, nats_url: str, proxy: FaultProxy, home: Path) -> AsyncIterator[Running]:
    async with local_stack(postgres_base, nats_url, home, proxy.url) as stack:
        endpoints = Endpoints(stack.url("collector"), stack.url("compliance"), stack.url("evaluator"))
        client = GuardianClient(endpoints, mint_key(stack.auth_secret, Role.ADMIN, "test-admin")[1])
        try:
            yield Running(
                stack=stack,
                client=client,
                database_url=stack.database_url,
                prefix=stack.config.bus_prefix,
                proxy=proxy,
            )
        finally:
            await client.close()


@pytest.fixture
async def running(postgres_base: str, nats_url: str, proxy: FaultProxy, tmp_path: Path) -> AsyncIterator[Running]:
    """Every service, with its own database and bus prefix, reading AWS through the fault proxy."""
    async with running_stack(postgres_base, nats_url, proxy, tmp_path) as stack:
        yield stack


@pytest.fixture(scope="module")
def module_aws(moto_server: MotoServer) -> Iterator[MotoServer]:
    """The session's moto server, emptied, with the AWS environment set for the whole module."""
    moto_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        _aws_env(patch)
        yield moto_server


@pytest.fixture(scope="module")
def module_proxy(module_aws: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(module_aws.url) as fp:
        yield fp


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_running(
    postgres_base: str, nats_url: str, module_proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """Like ``running``, started once for a module (see the module docstring for how to use it)."""
    async with running_stack(postgres_base, nats_url, module_proxy, tmp_path_factory.mktemp("stack")) as stack:
        yield stack
