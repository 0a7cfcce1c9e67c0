from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from guardian_common import db
from guardian_testkit.resources import admin, drop_database


@pytest.fixture(scope="module")
def servers(postgres_base: str, nats_url: str) -> tuple[str, str]:
    """(PostgreSQL server URL without database, NATS URL): the session's shared servers."""
    return postgres_base, nats_url


@pytest.fixture(scope="module")
def database(postgres_base: str) -> Iterator[str]:
    """One migrated database per module; tests empty it (guardian_testkit.resources.empty_schema)."""
    name = f"guardian_cmp_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(postgres_base, f'CREATE DATABASE "{name}"'))
    asyncio.run(db.migrate(f"{postgres_base}/{name}", "compliance", "guardian_compliance.migrations"))
    yield f"{postgres_base}/{name}"
    asyncio.run(drop_database(postgres_base, name))
