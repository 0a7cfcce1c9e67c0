"""The audit chain in the gateway's database: appended once per entry, serialised, and every kind of
tampering found: a changed entry, a removed one, and a chain rewritten consistently from some entry
on (caught only by a head exported before the rewrite)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from guardian_common import db
from guardian_common.outbox import stop_task
from guardian_gateway.audit import chain
from guardian_gateway.audit.consumer import AuditEvent, append_events
from guardian_gateway.audit.export import FileHeadSink, export_forever, export_once
from guardian_gateway.audit.repository import AuditRepository, Filters, entry_of
from guardian_gateway.audit.service import AuditService
from guardian_gateway.database import MIGRATIONS, SCHEMA


class StepClock:
    """The time, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC))


@pytest.fixture
async def audit_pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A gateway schema of its own per test: the chain's table refuses TRUNCATE, so nothing is shared."""
    await db.migrate(fresh_database, SCHEMA, MIGRATIONS)
    created = await db.create_pool(fresh_database, SCHEMA, max_size=6)
    try:
        yield created
    finally:
        await created.close()


def event(n: int, **data: Any) -> AuditEvent:
    """An audit.recorded event as a service's outbox relays it."""
    body = {
        "entry_id": f"entry-{n}",
        "actor": {"id": f"key{n % 3}", "role": "editor", "name": f"person {n % 3}"},
        "action": "scope.updated" if n % 2 else "control.created",
        "target": {"type": "scope" if n % 2 else "control", "id": f"target-{n}"},
        "before": None if n % 2 == 0 else {"name": f"before {n}", "tags": {"env": ["prod"]}},
        "after": {
            "name": f"after {n} — ünïcode",
            "ratio": 0.1 + n,
            "big": 2**53 + n,
            "huge_float": 1e16 * n,
            "tiny": 1.5e-7,
            "whole": 2.0,
            "nested": [1, {"b": None}],
        },
        "at": (datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(seconds=n, microseconds=n)).isoformat(),
        "source": "compliance" if n % 2 else "evidence",
        **data,
    }
    return AuditEvent.model_validate(
        {
            "event_id": f"{body['source']}:outbox:{n}",
            "event_type": "audit.recorded",
            "schema_version": 1,
            "source": body["source"],
            "occurred_at": body["at"],
            "data": body,
        }
    )


async def append(pool: asyncpg.Pool, events: list[AuditEvent], clock: StepClock) -> int:
    async with db.transaction(pool) as conn:
        return await append_events(conn, events, clock())


async def rows(pool: asyncpg.Pool) -> list[chain.Entry]:
    async with pool.acquire() as conn:
        return [entry_of(r) for r in await conn.fetch("SELECT * FROM audit_log ORDER BY seq")]


async def tamper(pool: asyncpg.Pool, *statements: tuple[str, list[Any]]) -> None:
    """What someone with the database owner's rights can do: switch off the guard, then edit."""
    async with db.transaction(pool) as conn:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        for sql, args in statements:
            await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


async def verdict(pool: asyncpg.Pool, sink: FileHeadSink | None = None) -> dict[str, Any]:
    return (await AuditService(pool, sink).verify()).model_dump(mode="json")


async def test_entries_are_chained_in_order_each_on_the_hash_of_the_one_before(
    audit_pool: asyncpg.Pool, clock: StepClock
) -> None:
    assert await append(audit_pool, [event(1), event(2)], clock) == 2
    clock.advance(minutes=1)
    assert await append(audit_pool, [event(3)], clock) == 1

    stored = await rows(audit_pool)
    assert [e.seq for e in stored] == [1, 2, 3]
    assert stored[0].prev_hash == chain.GENESIS
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    assert all(e.hash == e.computed_hash() for e in stored)
    first = stored[0]
    assert first.actor == {"id": "key1", "role": "editor", "name": "person 1"}
    assert (first.action, first.target_type, first.target_id, first.source) == (
        "scope.updated",
        "scope",
        "target-1",
        "compliance",
    )
    assert first.before == {"name": "before 1", "tags": {"env": ["prod"]}}
    assert first.after["big"] == 2**53 + 1
    assert first.at == datetime(2026, 3, 2, 9, 0, 1, 1, tzinfo=UTC)

    report = await verdict(audit_pool)
    assert report["intact"] is True
    assert report["entries"] == 3
    assert report["head"]["seq"] == 3
    assert report["head"]["hash"] == stored[-1].hash
    assert report["broken"] is None


async def test_a_redelivered_event_is_appended_once(audit_pool: asyncpg.Pool, clock: StepClock) -> None:
    assert await append(audit_pool, [event(1), event(1), event(2)], clock) == 2
    assert await append(audit_pool, [event(2), event(1)], clock) == 0
    assert await append(audit_pool, [event(3), event(2)], clock) == 1
    assert [e.entry_id for e in await rows(audit_pool)] == ["entry-1", "entry-2", "entry-3"]
    assert (await verdict(audit_pool))["intact"] is True


async def test_the_application_cannot_update_delete_or_truncate_entries(
    audit_pool: asyncpg.Pool, clock: StepClock
) -> None:
    await append(audit_pool, [event(1)], clock)
    async with audit_pool.acquire() as conn:
        for sql in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(sql)
    assert len(await rows(audit_pool)) == 1


async def test_a_changed_entry_is_found_and_named(audit_pool: asyncpg.Pool, clock: StepClock) -> None:
    await append(audit_pool, [event(n) for n in range(1, 6)], clock)
    await tamper(audit_pool, ("UPDATE audit_log SET after = $1 WHERE seq = 3", [{"name": "quietly different"}]))

    report = await verdict(audit_pool)
    assert report["intact"] is False
    assert report["broken"]["seq"] == 3
    assert report["broken"]["entry_id"] == "entry-3"
    assert "changed" in report["broken"]["reason"]
    assert report["entries"] == 5


async def test_a_changed_actor_or_time_is_found_too(audit_pool: asyncpg.Pool, clock: StepClock) -> None:
    await append(audit_pool, [event(n) for n in range(1, 4)], clock)
    await tamper(
        audit_pool,
        ("UPDATE audit_log SET actor = jsonb_set(actor, '{id}', '\"someone-else\"') WHERE seq = 2", []),
    )
    assert (await verdict(audit_pool))["broken"]["seq"] == 2


async def test_a_removed_entry_is_found(audit_pool: asyncpg.Pool, clock: StepClock) -> None:
    await append(audit_pool, [event(n) for n in range(1, 5)], clock)
    await tamper(audit_pool, ("DELETE FROM audit_log WHERE seq = 2", []))
    report = await verdict(audit_pool)
    assert report["broken"]["seq"] == 2
    assert "missing" in report["broken"]["reason"]


async def rewrite_from(pool: asyncpg.Pool, seq: int, change: dict[str, Any]) -> None:
    """Change entry ``seq`` and recompute every hash from there on, consistently: the chain alone looks fine."""
    entries = await rows(pool)
    prev = entries[seq - 2].hash if seq > 1 else chain.GENESIS
    statements: list[tuple[str, list[Any]]] = []
    for old in entries[seq - 1 :]:
        fields = {k: v for k, v in old.__dict__.items() if k not in ("hash", "prev_hash")}
        if old.seq == seq:
            fields.update(change)
        new = chain.link(**{**fields, "prev_hash": prev})
        statements.append(
            (
                "UPDATE audit_log SET after = $2, prev_hash = $3, hash = $4 WHERE seq = $1",
                [new.seq, new.after, new.prev_hash, new.hash],
            )
        )
        prev = new.hash
    await tamper(pool, *statements)


async def test_a_rewritten_chain_is_found_only_through_a_head_exported_before(
    audit_pool: asyncpg.Pool, clock: StepClock, tmp_path: Path
) -> None:
    sink = FileHeadSink(tmp_path / "heads" / "audit-heads.jsonl")
    await append(audit_pool, [event(n) for n in range(1, 4)], clock)
    exported = await export_once(audit_pool, sink, clock())
    assert exported is not None
    assert exported.seq == 3
    clock.advance(hours=1)
    await append(audit_pool, [event(n) for n in range(4, 6)], clock)

    await rewrite_from(audit_pool, 2, {"after": {"name": "what we wish had happened"}})

    alone = await verdict(audit_pool)
    assert alone["intact"] is True, "a consistent rewrite passes the chain check alone"
    report = await verdict(audit_pool, sink)
    assert report["intact"] is False
    assert report["heads_checked"] == 1
    assert report["heads_source"] == f"file:{sink.path}"
    assert report["broken"]["seq"] == 3
    assert "rewritten" in report["broken"]["reason"]


async def test_a_truncated_chain_is_found_through_an_exported_head(
    audit_pool: asyncpg.Pool, clock: StepClock, tmp_path: Path
) -> None:
    sink = FileHeadSink(tmp_path / "heads.jsonl")
    await append(audit_pool, [event(n) for n in range(1, 5)], clock)
    await export_once(audit_pool, sink, clock())
    await tamper(audit_pool, ("DELETE FROM audit_log WHERE seq >= 3", []))
    report = await verdict(audit_pool, sink)
    assert report["broken"]["seq"] == 4
    assert "truncated" in report["broken"]["reason"]


async def test_the_head_is_exported_once_per_move_of_the_chain(
    audit_pool: asyncpg.Pool, clock: StepClock, tmp_path: Path
) -> None:
    sink = FileHeadSink(tmp_path / "heads.jsonl")
    assert await export_once(audit_pool, sink, clock()) is None  # nothing to export yet
    await append(audit_pool, [event(1), event(2)], clock)
    first = await export_once(audit_pool, sink, clock())
    assert await export_once(audit_pool, sink, clock()) is None
    await append(audit_pool, [event(3)], clock)
    clock.advance(hours=1)
    second = await export_once(audit_pool, sink, clock())

    lines = [json.loads(line) for line in sink.path.read_text().splitlines()]
    stored = await rows(audit_pool)
    assert first is not None
    assert second is not None
    assert [(line["seq"], line["hash"]) for line in lines] == [(2, stored[1].hash), (3, stored[2].hash)]
    assert await sink.read() == [first, second]
    async with audit_pool.acquire() as conn:
        recorded = await conn.fetch("SELECT seq, destination FROM audit_head_exports ORDER BY seq")
    assert [(r["seq"], r["destination"]) for r in recorded] == [(2, sink.destination), (3, sink.destination)]
    assert (await verdict(audit_pool, sink))["intact"] is True


async def test_a_damaged_heads_file_is_reported_not_ignored(
    audit_pool: asyncpg.Pool, clock: StepClock, tmp_path: Path
) -> None:
    sink = FileHeadSink(tmp_path / "heads.jsonl")
    sink.path.write_text('{"seq": 1, "hash": "abc"}\n')
    await append(audit_pool, [event(1)], clock)
    with pytest.raises(Exception, match="hash is 64 hexadecimal") as info:
        await AuditService(audit_pool, sink).verify()
    assert getattr(info.value, "code", None) == "audit_heads_unreadable"


async def test_replicas_appending_at_the_same_time_never_fork_the_chain(
    audit_pool: asyncpg.Pool, clock: StepClock
) -> None:
    batches = [[event(n) for n in range(start, start + 10)] for start in range(1, 61, 10)]
    appended = await asyncio.gather(*(append(audit_pool, batch, clock) for batch in batches))
    assert sum(appended) == 60
    stored = await rows(audit_pool)
    assert [e.seq for e in stored] == list(range(1, 61))
    assert (await verdict(audit_pool))["intact"] is True


async def test_entries_are_filtered_by_actor_action_target_and_time_and_paged(
    audit_pool: asyncpg.Pool, clock: StepClock
) -> None:
    await append(audit_pool, [event(n) for n in range(1, 11)], clock)
    service = AuditService(audit_pool)

    page = await service.page(Filters(), 0, 4)
    assert [e.seq for e in page.items] == [1, 2, 3, 4]
    assert page.next_after == 4
    rest = await service.page(Filters(), 8, 4)
    assert [e.seq for e in rest.items] == [9, 10]
    assert rest.next_after is None

    by_actor = await service.page(Filters(actor="person 1"), 0, 100)
    assert {e.seq for e in by_actor.items} == {1, 4, 7, 10}
    assert {e.seq for e in (await service.page(Filters(actor="key2"), 0, 100)).items} == {2, 5, 8}
    assert len((await service.page(Filters(action="scope.updated"), 0, 100)).items) == 5
    assert len((await service.page(Filters(action="control.*"), 0, 100)).items) == 5
    assert [e.seq for e in (await service.page(Filters(target="target-3"), 0, 100)).items] == [3]
    assert [e.seq for e in (await service.page(Filters(target="scope:target-3"), 0, 100)).items] == [3]
    assert (await service.page(Filters(target="control:target-3"), 0, 100)).items == []
    start = datetime(2026, 3, 2, 9, 0, 3, tzinfo=UTC)
    window = await service.page(Filters(since=start, until=start + timedelta(seconds=3)), 0, 100)
    assert [e.seq for e in window.items] == [3, 4, 5]


async def test_the_head_is_the_last_entry(audit_pool: asyncpg.Pool, clock: StepClock) -> None:
    async with audit_pool.acquire() as conn:
        assert await AuditRepository(conn).head() is None
    await append(audit_pool, [event(1), event(2)], clock)
    head = await AuditService(audit_pool).head()
    assert head.seq == 2
    assert head.hash == (await rows(audit_pool))[1].hash


async def test_the_scheduled_export_writes_the_head_as_soon_as_it_starts(
    audit_pool: asyncpg.Pool, clock: StepClock, tmp_path: Path
) -> None:
    sink = FileHeadSink(tmp_path / "heads.jsonl")
    await append(audit_pool, [event(1), event(2)], clock)
    task = asyncio.create_task(export_forever(audit_pool, sink, 3600.0, clock))
    try:
        for _ in range(300):
            if await sink.read():
                break
            await asyncio.sleep(0.05)
    finally:
        await stop_task(task)
    assert [h.seq for h in await sink.read()] == [2]
