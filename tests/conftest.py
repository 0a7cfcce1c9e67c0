"""Cross-service fixtures: real PostgreSQL, real NATS, a moto server behind our fault proxy, and the
three services running on loopback with a database and a bus prefix of their own per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    moto_server.reset()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
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


@pytest.fixture
async def running(postgres_base: str, nats_url: str, proxy: FaultProxy, tmp_path: Path) -> AsyncIterator[Running]:
    """Every service, with its own database and bus prefix, reading AWS through the fault proxy."""
    token = uuid.uuid4().hex[:10]
    database = f"guardian_t_{token}"
    prefix = f"t{token}"
    database_url = f"{postgres_base}/{database}"
    config = StackConfig(
        home=tmp_path,
        database_url=database_url,
        nats_url=nats_url,
        bus_prefix=prefix,
        auth_secret=f"test-secret-{token}-{uuid.uuid4().hex}",
        aws_endpoint_url=proxy.url,
        regions=REGIONS,
        log_level="WARNING",
    )
    stack = await LocalStack(config).start()
    endpoints = Endpoints(stack.url("collector"), stack.url("compliance"), stack.url("evaluator"))
    client = GuardianClient(endpoints, mint_key(stack.auth_secret, Role.ADMIN, "test-admin")[1])
    try:
        yield Running(stack=stack, client=client, database_url=database_url, prefix=prefix, proxy=proxy)
    finally:
        await client.close()
        await stack.stop()
        await delete_streams(nats_url, prefix)
        await drop_database(postgres_base, database)
