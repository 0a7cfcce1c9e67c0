from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from guardian_collector.collection import AwsTarget, ClientPool, CollectionOutcome, collect_account
from guardian_collector.collectors.base import Resource
from guardian_testkit.moto import MotoServer

ACCOUNT = "123456789012"


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
    return moto_server


Collected = tuple[list[tuple[Resource, str, str]], CollectionOutcome]
CollectFn = Callable[..., Awaitable[Collected]]


@pytest.fixture
def collect(moto: MotoServer) -> CollectFn:
    """Run the real collectors against moto; returns [(resource, unit_region, service)], outcome."""

    async def run(services: list[str], regions: list[str] | None = None, endpoint: str | None = None) -> Collected:
        emitted: list[tuple[Resource, str, str]] = []

        async def emit(resource: Resource, unit_region: str, service: str) -> None:
            emitted.append((resource, unit_region, service))

        target = AwsTarget(endpoint_url=endpoint or moto.url, max_attempts=2)
        async with ClientPool(target) as pool:
            outcome = await collect_account(
                pool, account_id=ACCOUNT, regions=regions or ["us-east-1"], services=services, emit=emit
            )
        return emitted, outcome

    return run


def by_type(emitted: list[tuple[Resource, str, str]], resource_type: str) -> dict[str, Resource]:
    return {r.name: r for r, _, _ in emitted if r.resource_type == resource_type}


def context(emitted: list[tuple[Resource, str, str]], region: str = "global") -> dict[str, Any]:
    for resource, _, _ in emitted:
        if resource.resource_type == "AWS::::Account" and resource.region == region:
            return resource.configuration
    raise AssertionError(f"no account context for {region}")


@pytest.fixture
async def database(fresh_database: str) -> str:
    """A fresh database with the collector's migrations applied."""
    from guardian_common.db import migrate

    await migrate(fresh_database, "collector", "guardian_collector.migrations")
    return fresh_database
