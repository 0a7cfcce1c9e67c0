"""Chain heads exported to an S3 bucket with Object Lock (moto server over HTTP): each head an object
in COMPLIANCE mode that cannot be deleted before its retain-until date, read back to catch a rewrite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from botocore.exceptions import ClientError

from guardian_common import db
from guardian_gateway.audit import chain
from guardian_gateway.audit.consumer import AuditEvent, append_events
from guardian_gateway.audit.export import HeadsUnreadable, S3HeadSink, export_once
from guardian_gateway.audit.lifecycle import head_sink
from guardian_gateway.audit.repository import entry_of
from guardian_gateway.audit.service import AuditService
from guardian_gateway.database import MIGRATIONS, SCHEMA
from guardian_gateway.settings import GatewaySettings
from guardian_testkit.moto import MotoServer

BUCKET = "guardian-audit-heads"
# moto enforces the lock against its own (real) clock, so retain-until dates start from the real time.
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def s3(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    moto_server.reset()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = moto_server.client("s3")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return client


@pytest.fixture
def sink(moto_server: MotoServer, s3: Any) -> S3HeadSink:
    return S3HeadSink(bucket=BUCKET, prefix="heads/", retain_days=30, clock=lambda: NOW, endpoint_url=moto_server.url)


@pytest.fixture
async def audit_pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(fresh_database, SCHEMA, MIGRATIONS)
    created = await db.create_pool(fresh_database, SCHEMA, max_size=4)
    try:
        yield created
    finally:
        await created.close()


def event(n: int) -> AuditEvent:
    at = (NOW + timedelta(seconds=n)).isoformat()
    return AuditEvent.model_validate(
        {
            "event_id": f"collector:outbox:{n}",
            "event_type": "audit.recorded",
            "schema_version": 1,
            "source": "collector",
            "occurred_at": at,
            "data": {
                "entry_id": f"e{n}",
                "actor": {"id": "k1", "role": "editor", "name": "ops"},
                "action": "schedule.updated",
                "target": {"type": "schedule", "id": "sch-1"},
                "before": {"cron": f"{n} * * * *"},
                "after": {"cron": f"{n + 1} * * * *"},
                "at": at,
                "source": "collector",
            },
        }
    )


async def append(pool: asyncpg.Pool, numbers: range) -> None:
    async with db.transaction(pool) as conn:
        await append_events(conn, [event(n) for n in numbers], NOW)


def test_the_settings_choose_the_bucket_over_the_file() -> None:
    both = GatewaySettings(
        internal_secret="x" * 32, audit_head_bucket=BUCKET, audit_head_file="/tmp/heads.jsonl", audit_head_prefix="p/"
    )
    chosen = head_sink(both, lambda: NOW)
    assert isinstance(chosen, S3HeadSink)
    assert chosen.destination == f"s3://{BUCKET}/p/"
    assert head_sink(GatewaySettings(internal_secret="x" * 32), lambda: NOW) is None


async def test_each_head_is_a_compliance_locked_object_that_cannot_be_deleted(
    audit_pool: asyncpg.Pool, sink: S3HeadSink, s3: Any
) -> None:
    await append(audit_pool, range(1, 4))
    head = await export_once(audit_pool, sink, NOW)
    assert head is not None

    key = sink.key(3)
    # moto answers GetObjectRetention with a 500; HeadObject reports the same lock.
    stored = s3.head_object(Bucket=BUCKET, Key=key)
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    assert stored["ObjectLockRetainUntilDate"] == NOW + timedelta(days=30)
    version = stored["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert await sink.read() == [chain.Head(seq=3, hash=head.hash, at=head.at)]


async def test_a_rewritten_chain_is_found_through_the_heads_in_the_bucket(
    audit_pool: asyncpg.Pool, sink: S3HeadSink
) -> None:
    await append(audit_pool, range(1, 3))
    await export_once(audit_pool, sink, NOW)
    await append(audit_pool, range(3, 5))
    await export_once(audit_pool, sink, NOW)
    assert [h.seq for h in await sink.read()] == [2, 4]
    assert (await AuditService(audit_pool, sink).verify()).intact

    async with db.transaction(audit_pool) as conn:
        entries = [entry_of(r) for r in await conn.fetch("SELECT * FROM audit_log ORDER BY seq")]
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        prev = chain.GENESIS
        for old in entries:
            fields = {k: v for k, v in old.__dict__.items() if k not in ("hash", "prev_hash")}
            if old.seq == 1:
                fields["before"] = {"cron": "never happened"}
            new = chain.link(**fields, prev_hash=prev)
            await conn.execute(
                "UPDATE audit_log SET before = $2, prev_hash = $3, hash = $4 WHERE seq = $1",
                new.seq,
                new.before,
                new.prev_hash,
                new.hash,
            )
            prev = new.hash
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")

    assert (await AuditService(audit_pool).verify()).intact, "the rewrite is consistent within the database"
    report = await AuditService(audit_pool, sink).verify()
    assert not report.intact
    assert report.heads_checked == 2
    assert report.broken is not None
    assert report.broken.seq == 2
    assert "rewritten" in report.broken.reason


async def test_a_missing_bucket_makes_verification_fail_loudly(moto_server: MotoServer, s3: Any) -> None:
    gone = S3HeadSink(
        bucket="no-such-bucket", prefix="h/", retain_days=1, clock=lambda: NOW, endpoint_url=moto_server.url
    )
    with pytest.raises(HeadsUnreadable, match="could not be read"):
        await gone.read()
