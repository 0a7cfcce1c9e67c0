"""Scheduled scans: cron per scan scope, fired once per due time across every collector replica.

A run missed while the collector was down fires once when it comes back (not once per missed
slot), and the next due time is computed from then.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from croniter import croniter

from guardian_collector.outbox import OUTBOX
from guardian_collector.scans.schemas import ScanOut, ScanRequest
from guardian_collector.schedules.repository import ScheduleRepository
from guardian_collector.schedules.schemas import ScheduleIn, ScheduleOut, ScheduleUpdate
from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.errors import Conflict, GuardianError, NotFound
from guardian_common.logging import get_logger

log = get_logger("guardian.collector.schedules")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class InvalidSchedule(GuardianError):
    code = "invalid_schedule"
    status = 422


class ScanStarter(Protocol):
    def __call__(self, request: ScanRequest, requested_by: str | None) -> Awaitable[ScanOut]: ...


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """The first due time strictly after ``after``, computed in the schedule's time zone."""
    zone = ZoneInfo(timezone)
    following: datetime = croniter(cron, after.astimezone(zone)).get_next(datetime)
    return following.astimezone(UTC)


def audited(schedule: ScheduleOut | None) -> dict[str, Any] | None:
    """What an audit entry keeps of a schedule: its definition, not its run bookkeeping."""
    if schedule is None:
        return None
    return schedule.model_dump(mode="json", exclude={"recent_runs", "next_run_at", "updated_at"})


def validate(cron: str, timezone: str) -> None:
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise InvalidSchedule(
            f"{cron!r} is not a five-field cron expression (minute hour day-of-month month day-of-week).",
            code="invalid_cron",
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(f"{timezone!r} is not a known IANA time zone.", code="invalid_timezone") from exc


@dataclass
class ScheduleService:
    pool: asyncpg.Pool
    start_scan: ScanStarter
    clock: Clock = utcnow
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def create(self, body: ScheduleIn, by: str | None, actor: Principal | None = None) -> ScheduleOut:
        validate(body.cron, body.timezone)
        schedule_id = f"sch-{uuid.uuid4().hex[:12]}"
        values = {
            **body.model_dump(),
            "schedule_id": schedule_id,
            "next_run_at": next_run(body.cron, body.timezone, self.clock()),
            "created_by": by,
        }
        async with db.transaction(self.pool) as conn:
            repo = ScheduleRepository(conn)
            if not await repo.insert(values):
                raise Conflict(f"A schedule named {body.name!r} exists already.", code="schedule_exists")
            after = await repo.get(schedule_id)
            await audit.record(
                conn,
                OUTBOX,
                actor=actor,
                action="schedule.created",
                target_type="schedule",
                target_id=schedule_id,
                before=None,
                after=audited(after),
                at=self.clock(),
            )
        return await self.get(schedule_id)

    async def ensure_default(self, cron: str) -> None:
        """At first start, scan everything daily: continuous monitoring needs no setup."""
        async with db.transaction(self.pool) as conn:
            repo = ScheduleRepository(conn)
            if await repo.count():
                return
            await repo.insert(
                {
                    "schedule_id": "sch-default",
                    "name": "default",
                    "cron": cron,
                    "timezone": "UTC",
                    "regions": None,
                    "services": None,
                    "enabled": True,
                    "next_run_at": next_run(cron, "UTC", self.clock()),
                    "created_by": "guardian-default",
                }
            )
            await audit.record(
                conn,
                OUTBOX,
                actor=None,
                action="schedule.created",
                target_type="schedule",
                target_id="sch-default",
                before=None,
                after=audited(await repo.get("sch-default")),
                at=self.clock(),
            )

    async def get(self, schedule_id: str) -> ScheduleOut:
        async with self.pool.acquire() as conn:
            found = await ScheduleRepository(conn).get(schedule_id)
        if found is None:
            raise NotFound(f"No schedule has the id {schedule_id!r}.", code="schedule_not_found")
        return found

    async def all(self) -> list[ScheduleOut]:
        async with self.pool.acquire() as conn:
            return await ScheduleRepository(conn).all()

    async def update(self, schedule_id: str, body: ScheduleUpdate, actor: Principal | None = None) -> ScheduleOut:
        current = await self.get(schedule_id)
        merged = current.model_dump()
        given = body.model_dump(exclude_unset=True)
        # null means "all" for regions and services; a schedule always has a cron, a zone and a state.
        if nulled := sorted(name for name in ("cron", "timezone", "enabled") if name in given and given[name] is None):
            raise InvalidSchedule(
                f"{', '.join(nulled)} cannot be null; leave a field out to keep it.", code="invalid_schedule"
            )
        merged.update(given)
        validate(merged["cron"], merged["timezone"])
        merged["next_run_at"] = next_run(merged["cron"], merged["timezone"], self.clock())
        async with db.transaction(self.pool) as conn:
            repo = ScheduleRepository(conn)
            before = await repo.get(schedule_id)
            await repo.update(schedule_id, merged)
            after = await repo.get(schedule_id)
            if before is not None and audited(before) != audited(after):
                await audit.record(
                    conn,
                    OUTBOX,
                    actor=actor,
                    action="schedule.updated",
                    target_type="schedule",
                    target_id=schedule_id,
                    before=audited(before),
                    after=audited(after),
                    at=self.clock(),
                )
        return await self.get(schedule_id)

    async def delete(self, schedule_id: str, actor: Principal | None = None) -> None:
        async with db.transaction(self.pool) as conn:
            repo = ScheduleRepository(conn)
            before = await repo.get(schedule_id)
            if not await repo.delete(schedule_id):
                raise NotFound(f"No schedule has the id {schedule_id!r}.", code="schedule_not_found")
            await audit.record(
                conn,
                OUTBOX,
                actor=actor,
                action="schedule.deleted",
                target_type="schedule",
                target_id=schedule_id,
                before=audited(before),
                after=None,
                at=self.clock(),
            )

    async def run_now(self, schedule_id: str) -> ScheduleOut:
        """Fire a schedule now, in addition to its regular runs."""
        schedule = await self.get(schedule_id)
        due = self.clock()
        async with db.transaction(self.pool) as conn:
            await ScheduleRepository(conn).record_firing(schedule_id, due, due)
        await self._launch(schedule_id, due, schedule.regions, schedule.services)
        return await self.get(schedule_id)

    async def tick(self) -> int:
        """Fire every due schedule once; returns how many fired here."""
        now = self.clock()
        fired: list[tuple[str, datetime, list[str] | None, list[str] | None]] = []
        async with db.transaction(self.pool) as conn:
            repo = ScheduleRepository(conn)
            for row in await repo.claim_due(now):
                # Advance from now, not from the missed due time: a missed run fires once.
                await repo.advance(row["schedule_id"], next_run(row["cron"], row["timezone"], now))
                if await repo.record_firing(row["schedule_id"], row["next_run_at"], now):
                    fired.append(
                        (
                            row["schedule_id"],
                            row["next_run_at"],
                            list(row["regions"]) if row["regions"] is not None else None,
                            list(row["services"]) if row["services"] is not None else None,
                        )
                    )
        for schedule_id, due, regions, services in fired:
            await self._launch(schedule_id, due, regions, services)
        return len(fired)

    async def _launch(
        self, schedule_id: str, due: datetime, regions: list[str] | None, services: list[str] | None
    ) -> None:
        scan_id: str | None = None
        detail: str | None = None
        try:
            scan = await self.start_scan(ScanRequest(regions=regions, services=services), f"schedule:{schedule_id}")
        except GuardianError as exc:
            outcome, detail = "skipped", f"{exc.code}: {exc.detail}"
        except Exception as exc:
            outcome, detail = "failed", f"{type(exc).__name__}: {exc}"
        else:
            outcome, scan_id = "started", scan.scan_id
        async with db.transaction(self.pool) as conn:
            await ScheduleRepository(conn).record_outcome(schedule_id, due, outcome, scan_id, detail)
        log.info("schedule_fired", schedule_id=schedule_id, outcome=outcome, scan_id=scan_id, detail=detail)

    async def run_forever(self, poll_seconds: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:
                log.warning("schedule_tick_failed", error=str(exc))
            await asyncio.sleep(poll_seconds)
