"""pytest fixtures shared by every test folder (loaded with ``-p guardian_testkit.fixtures``).

PostgreSQL and NATS: the machine's when they answer on their standard loopback ports, else
embedded ones started once per session.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from guardian_testkit.infra import EmbeddedNats, EmbeddedPostgres, machine_nats, machine_postgres


@pytest.fixture(scope="session")
def infra_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="guardian-tests-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def postgres_base(infra_dir: Path) -> Iterator[str]:
    """A server URL without database name."""
    url = machine_postgres()
    if url is not None:
        yield url
        return
    server = EmbeddedPostgres(infra_dir / "pgdata").start()
    try:
        yield server.tcp_base()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(infra_dir: Path) -> Iterator[str]:
    url = machine_nats()
    if url is not None:
        yield url
        return
    server = EmbeddedNats(infra_dir / "nats").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def fresh_database(postgres_base: str) -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = f"guardian_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{postgres_base}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{postgres_base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
