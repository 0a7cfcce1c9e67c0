"""Scheduled scans: validation, firing once across replicas, one catch-up run after downtime, time zones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from guardian_collector.scans.schemas import ScanOut, ScanRequest
from guardian_collector.schedules.schemas import ScheduleIn, ScheduleUpdate
from guardian_collector.schedules.service import ScheduleService, next_run
from guardian_common.db import create_pool
from guardian_common.errors import Conflict, GuardianError

JAN = datetime(2027, 1, 15, 10, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Starter:
    """Stands in for ScanService.start: records requests, can refuse like a running scan does."""

    def __init__(self) -> None:
        self.requests: list[tuple[ScanRequest, str | None]] = []
        self.refuse = False

    async def __call__(self, request: ScanRequest, requested_by: str | None) -> ScanOut:
        if self.refuse:
            raise Conflict("Scan scan-x of the same scope is still running.", code="scan_already_running")
        self.requests.append((request, requested_by))
        return ScanOut(
            scan_id=f"scan-{len(self.requests)}",
            account_id="123456789012",
            regions=request.regions or [],
            services=request.services or [],
            state="running",
            requested_by=requested_by,
            started_at=JAN,
            completed_at=None,
            published=0,
            error=None,
        )


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, "collector")
    try:
        yield pool
    finally:
        await pool.close()


async def test_bad_cron_and_time_zone_are_refused_and_nothing_is_stored(pool: asyncpg.Pool) -> None:
    service = ScheduleService(pool, Starter(), FakeClock(JAN))
    with pytest.raises(GuardianError) as bad_cron:
        await service.create(ScheduleIn(name="nightly", cron="every night"), "alice")
    assert (bad_cron.value.status, bad_cron.value.code) == (422, "invalid_cron")
    with pytest.raises(GuardianError) as six_fields:
        await service.create(ScheduleIn(name="nightly", cron="0 0 2 * * *"), "alice")
    assert six_fields.value.code == "invalid_cron"
    with pytest.raises(GuardianError) as bad_zone:
        await service.create(ScheduleIn(name="nightly", timezone="Mars/Olympus"), "alice")
    assert bad_zone.value.code == "invalid_timezone"
    assert await service.all() == []


async def test_default_schedule_is_daily_and_created_once(pool: asyncpg.Pool) -> None:
    service = ScheduleService(pool, Starter(), FakeClock(JAN))
    await service.ensure_default("0 2 * * *")
    await service.ensure_default("0 2 * * *")
    schedules = await service.all()
    assert [(s.name, s.cron, s.next_run_at) for s in schedules] == [
        ("default", "0 2 * * *", datetime(2027, 1, 16, 2, 0, tzinfo=UTC))
    ]


async def test_a_due_schedule_fires_once_and_advances(pool: asyncpg.Pool) -> None:
    clock, starter = FakeClock(JAN), Starter()
    service = ScheduleService(pool, starter, clock)
    created = await service.create(
        ScheduleIn(name="hourly-s3", cron="0 * * * *", regions=["eu-west-1"], services=["s3"]), "alice"
    )
    assert created.next_run_at == datetime(2027, 1, 15, 11, 0, tzinfo=UTC)
    assert await service.tick() == 0

    clock.now = datetime(2027, 1, 15, 11, 0, 5, tzinfo=UTC)
    assert await service.tick() == 1
    assert await service.tick() == 0
    request, by = starter.requests[0]
    assert (request.regions, request.services, by) == (["eu-west-1"], ["s3"], f"schedule:{created.schedule_id}")
    after = await service.get(created.schedule_id)
    assert after.next_run_at == datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
    assert [(r.outcome, r.scan_id) for r in after.recent_runs] == [("started", "scan-1")]


async def test_with_several_replicas_a_schedule_fires_once(pool: asyncpg.Pool) -> None:
    clock, starter = FakeClock(JAN), Starter()
    replicas = [ScheduleService(pool, starter, clock) for _ in range(4)]
    await replicas[0].create(ScheduleIn(name="every-minute", cron="* * * * *"), "alice")
    clock.now = JAN + timedelta(minutes=1)
    fired = await asyncio.gather(*(r.tick() for r in replicas))
    assert sum(fired) == 1
    assert len(starter.requests) == 1


async def test_runs_missed_while_down_fire_once_then_resume_on_time(pool: asyncpg.Pool) -> None:
    clock, starter = FakeClock(JAN), Starter()
    service = ScheduleService(pool, starter, clock)
    created = await service.create(ScheduleIn(name="hourly", cron="0 * * * *"), "alice")
    clock.now = JAN + timedelta(hours=5, minutes=10)  # five due times passed while the collector was down
    assert await service.tick() == 1
    assert await service.tick() == 0
    after = await service.get(created.schedule_id)
    assert after.next_run_at == datetime(2027, 1, 15, 16, 0, tzinfo=UTC)
    assert len(starter.requests) == 1


async def test_a_refused_scan_is_recorded_as_skipped_with_the_reason(pool: asyncpg.Pool) -> None:
    clock, starter = FakeClock(JAN), Starter()
    starter.refuse = True
    service = ScheduleService(pool, starter, clock)
    created = await service.create(ScheduleIn(name="hourly", cron="0 * * * *"), "alice")
    clock.now = JAN + timedelta(hours=1)
    await service.tick()
    runs = (await service.get(created.schedule_id)).recent_runs
    assert [(r.outcome, r.scan_id) for r in runs] == [("skipped", None)]
    assert runs[0].detail is not None
    assert "scan_already_running" in runs[0].detail


async def test_cron_is_read_in_the_schedule_time_zone(pool: asyncpg.Pool) -> None:
    # 02:00 in Paris is 01:00 UTC in winter and 00:00 UTC in summer.
    assert next_run("0 2 * * *", "Europe/Paris", JAN) == datetime(2027, 1, 16, 1, 0, tzinfo=UTC)
    july = datetime(2027, 7, 15, 10, 0, tzinfo=UTC)
    assert next_run("0 2 * * *", "Europe/Paris", july) == datetime(2027, 7, 16, 0, 0, tzinfo=UTC)
    service = ScheduleService(pool, Starter(), FakeClock(JAN))
    created = await service.create(ScheduleIn(name="paris", timezone="Europe/Paris"), "alice")
    assert created.next_run_at == datetime(2027, 1, 16, 1, 0, tzinfo=UTC)


async def test_updates_revalidate_and_recompute_the_next_run(pool: asyncpg.Pool) -> None:
    service = ScheduleService(pool, Starter(), FakeClock(JAN))
    created = await service.create(ScheduleIn(name="daily"), "alice")
    with pytest.raises(GuardianError) as bad:
        await service.update(created.schedule_id, ScheduleUpdate(cron="61 * * * *"))
    assert bad.value.code == "invalid_cron"
    assert (await service.get(created.schedule_id)).cron == "0 2 * * *"
    updated = await service.update(created.schedule_id, ScheduleUpdate(cron="30 10 * * 1-5", enabled=False))
    assert updated.enabled is False
    assert updated.next_run_at == datetime(2027, 1, 18, 10, 30, tzinfo=UTC)  # the next Monday
    await service.delete(created.schedule_id)
    with pytest.raises(GuardianError) as gone:
        await service.get(created.schedule_id)
    assert (gone.value.status, gone.value.code) == (404, "schedule_not_found")
