"""Fixtures of the gateway's unit tests: its schema, migrated, in a fresh database; a clock to move."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from guardian_common import db
from guardian_gateway.database import MIGRATIONS, SCHEMA
from guardian_testkit.resources import admin, drop_database


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 30, 10, tzinfo=UTC))


@pytest.fixture(scope="module")
def gateway_database(postgres_base: str) -> Iterator[str]:
    """One migrated database per test module; each test empties the tables (see ``pool``)."""
    name = f"guardian_t_{uuid.uuid4().hex[:12]}"
    url = f"{postgres_base}/{name}"
    asyncio.run(admin(postgres_base, f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(db.migrate(url, SCHEMA, MIGRATIONS))
        yield url
    finally:
        asyncio.run(drop_database(postgres_base, name))


@pytest.fixture
async def pool(gateway_database: str) -> AsyncIterator[asyncpg.Pool]:
    created = await db.create_pool(gateway_database, SCHEMA, max_size=5)
    try:
        async with created.acquire() as conn:
            await conn.execute("TRUNCATE api_keys, rate_limit_windows")
        yield created
    finally:
        await created.close()
