"""The compliance service: app factory and lifespan."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from guardian_common import db
from guardian_common.logging import get_logger
from guardian_common.service import Runtime, build_app
from guardian_compliance.consumers import build_consumers
from guardian_compliance.findings.router import router as findings_router
from guardian_compliance.frameworks.router import router as frameworks_router
from guardian_compliance.inventory.router import router as inventory_router
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.scans.finalise import try_finalise
from guardian_compliance.scans.repository import ScanRepository
from guardian_compliance.scans.router import router as scans_router
from guardian_compliance.settings import ComplianceSettings

log = get_logger("guardian.compliance")


async def finalise_overdue(runtime: Runtime, settings: ComplianceSettings) -> None:
    """Scans still open past the deadline become INCOMPLETE, saying what is missing."""
    pool = runtime.require_pool()
    while True:
        await asyncio.sleep(settings.deadline_poll_seconds)
        try:
            async with pool.acquire() as conn:
                overdue = await ScanRepository(conn).overdue(settings.scan_deadline_seconds)
            for scan_id in overdue:
                async with db.transaction(pool) as conn:
                    await try_finalise(conn, scan_id, deadline_passed=True)
        except Exception as exc:
            log.warning("deadline_sweep_failed", error=str(exc))


def create_app(settings: ComplianceSettings | None = None) -> FastAPI:
    settings = settings or ComplianceSettings()

    async def on_start(runtime: Runtime) -> None:
        pool = runtime.require_pool()
        async with db.transaction(pool) as conn:
            repo = PostureRepository(conn)
            if not await repo.subscriptions():
                for framework_id in settings.default_subscriptions:
                    await repo.subscribe(framework_id, "default")
        consumers = build_consumers(runtime.require_js(), runtime.subjects, pool, settings.batch_size)
        for consumer in consumers:
            await consumer.start()
        runtime.extras["consumers"] = consumers
        runtime.extras["deadline"] = asyncio.create_task(finalise_overdue(runtime, settings))

    async def on_stop(runtime: Runtime) -> None:
        task = runtime.extras.get("deadline")
        if isinstance(task, asyncio.Task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(c.stop() for c in runtime.extras.get("consumers", [])))

    return build_app(
        name="compliance",
        title="Guardian compliance",
        description="Inventory, findings and their history, SOC 2 controls and criteria, readiness.",
        settings=settings,
        routers=[frameworks_router, findings_router, scans_router, inventory_router],
        schema="compliance",
        migrations_package="guardian_compliance.migrations",
        on_start=on_start,
        on_stop=on_stop,
    )
