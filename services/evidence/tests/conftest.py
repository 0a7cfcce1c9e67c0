"""Fixtures for the evidence service: the app on real PostgreSQL and NATS, with either storage
backend (a directory, or a bucket on a moto server), an injectable clock and a bus prefix of its own."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from guardian_common.auth import Role, mint_key
from guardian_evidence.app import create_app
from guardian_evidence.clock import ManualClock
from guardian_evidence.items.service import EvidenceService
from guardian_evidence.settings import EvidenceSettings
from guardian_evidence.storage import Storage
from guardian_testkit.moto import MotoServer
from guardian_testkit.resources import delete_streams

START = datetime(2027, 10, 5, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + b"0" * 20000 + b"\n%%EOF\n"
SECRET = "evidence-tests-secret-" + "x" * 20


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def evidence_database(postgres_base: str) -> Iterator[str]:
    """One database for the module's apps, emptied before each test (creating one per test costs more
    than the tests themselves); ``test_migrations_apply_to_a_fresh_database`` covers a fresh one."""
    name = f"guardian_t_evidence_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{postgres_base}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    settings: EvidenceSettings
    database_url: str
    prefix: str
    nats_url: str
    bucket: str | None

    @property
    def service(self) -> EvidenceService:
        service: EvidenceService = self.app.state.runtime.extras["evidence"]
        return service

    @property
    def storage(self) -> Storage:
        return self.service.storage

    def key(self, role: Role = Role.EDITOR, name: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_key(SECRET, role, name)[1]}"}

    async def create(
        self,
        content: bytes,
        *,
        filename: str = "policy.pdf",
        content_type: str = "application/pdf",
        by: str = "alice",
        **fields: Any,
    ) -> httpx.Response:
        form: dict[str, Any] = {
            "title": "Information security policy",
            "type": "policy",
            "owner": "Security",
            "control": ["GRD-GOV-04"],
            "frequency": "annual",
            **fields,
        }
        return await self.client.post(
            "/api/v1/evidence",
            data={k: v for k, v in form.items() if v is not None},
            files={"file": (filename, content, content_type)},
            headers=self.key(Role.EDITOR, by),
        )

    async def add_version(
        self, item_id: str, content: bytes, *, filename: str = "policy-v2.pdf", by: str = "alice"
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/evidence/{item_id}/versions",
            files={"file": (filename, content, "application/pdf")},
            headers=self.key(Role.EDITOR, by),
        )

    async def review(
        self, item_id: str, version: int, decision: str = "accepted", *, by: str = "bob", comment: str = "Checked."
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/evidence/{item_id}/versions/{version}/review",
            json={"decision": decision, "comment": comment},
            headers=self.key(Role.EDITOR, by),
        )

    async def get(self, item_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/evidence/{item_id}", headers=self.key(Role.AUDITOR, "carol"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def count(self, table: str) -> int:
        conn = await asyncpg.connect(self.database_url)
        try:
            value: int = await conn.fetchval(f"SELECT count(*) FROM evidence.{table}")
            return value
        finally:
            await conn.close()

    async def nothing_stored(self) -> None:
        """No item, no version, no event and no object or pending upload in storage."""
        assert await self.count("items") == 0
        assert await self.count("versions") == 0
        assert await self.count("outbox") == 0
        assert await self.storage.keys() == []


Factory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness(
    evidence_database: str,
    nats_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Factory]:
    """Call with the backend ("local" or "s3") and any settings to override; one app per test."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    stack = contextlib.AsyncExitStack()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    async def make(backend: str = "local", **overrides: Any) -> Harness:
        bucket = None
        extra: dict[str, Any] = {}
        if backend == "s3":
            # Only S3 tests start the (session-wide) moto server.
            moto_server: MotoServer = request.getfixturevalue("moto_server")
            bucket = f"evidence-{uuid.uuid4().hex[:12]}"
            moto_server.client("s3").create_bucket(Bucket=bucket)
            extra = {"s3_bucket": bucket, "s3_endpoint_url": moto_server.url}
        settings = EvidenceSettings(
            environment="test",
            database_url=overrides.pop("database_url", evidence_database),
            nats_url=nats_url,
            bus_prefix=prefix,
            auth_secret=SECRET,
            log_json=False,
            log_level="WARNING",
            storage_backend=backend,
            storage_dir=tmp_path / "store",
            **{**extra, **overrides},
        )
        clock = ManualClock(START)
        app = create_app(settings, clock=clock, relay=False)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://evidence")
        )
        async with app.state.runtime.require_pool().acquire() as conn:
            await conn.execute("TRUNCATE items, tombstones, outbox RESTART IDENTITY CASCADE")
        return Harness(app, client, clock, settings, settings.database_url, prefix, nats_url, bucket)

    try:
        yield make
    finally:
        await stack.aclose()
        await delete_streams(nats_url, prefix)


@pytest.fixture(params=["local", "s3"])
async def harness(request: pytest.FixtureRequest, make_harness: Factory) -> Harness:
    """The service on each storage backend in turn."""
    return await make_harness(request.param)


@pytest.fixture
async def local(make_harness: Factory) -> Harness:
    return await make_harness("local")
