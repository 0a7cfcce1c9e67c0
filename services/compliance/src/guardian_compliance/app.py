"""The compliance service: app factory and lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from guardian_common import db
from guardian_common.logging import get_logger
from guardian_common.outbox import stop_task
from guardian_common.service import Runtime, build_app
from guardian_compliance.acceptances.router import router as acceptances_router
from guardian_compliance.acceptances.service import sweep
from guardian_compliance.clock import Clock, SystemClock
from guardian_compliance.consumers import build_consumers
from guardian_compliance.controls.router import router as controls_router
from guardian_compliance.controls.service import import_bundled
from guardian_compliance.evidence.router import router as evidence_router
from guardian_compliance.findings.router import router as findings_router
from guardian_compliance.frameworks.router import router as frameworks_router
from guardian_compliance.history.router import router as history_router
from guardian_compliance.inventory.router import encryption_router
from guardian_compliance.inventory.router import router as inventory_router
from guardian_compliance.outbox import relay_forever
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.scans.finalise import try_finalise
from guardian_compliance.scans.repository import ScanRepository
from guardian_compliance.scans.router import router as scans_router
from guardian_compliance.scope.router import router as scopes_router
from guardian_compliance.scope.service import ensure_default_scope
from guardian_compliance.settings import ComplianceSettings

log = get_logger("guardian.compliance")

BACKGROUND = ("deadline", "acceptance_watch", "outbox_relay")


async def finalise_overdue(runtime: Runtime, settings: ComplianceSettings, clock: Clock) -> None:
    """Scans still open past the deadline become INCOMPLETE, saying what is missing."""
    pool = runtime.require_pool()
    while True:
        await asyncio.sleep(settings.deadline_poll_seconds)
        try:
            async with pool.acquire() as conn:
                overdue = await ScanRepository(conn).overdue(settings.scan_deadline_seconds)
            for scan_id in overdue:
                async with db.transaction(pool) as conn:
                    await try_finalise(conn, scan_id, deadline_passed=True, now=clock.now())
        except Exception as exc:
            log.warning("deadline_sweep_failed", error=str(exc))


async def watch_acceptances(runtime: Runtime, settings: ComplianceSettings, clock: Clock) -> None:
    """Expiries and advance warnings become domain events when due (each exactly once)."""
    pool = runtime.require_pool()
    warning = timedelta(days=settings.acceptance_warning_days)
    while True:
        try:
            async with db.transaction(pool) as conn:
                await sweep(conn, clock.now(), warning)
        except Exception as exc:
            log.warning("acceptance_sweep_failed", error=str(exc))
        await asyncio.sleep(settings.acceptance_poll_seconds)


def create_app(settings: ComplianceSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ComplianceSettings()
    service_clock: Clock = clock or SystemClock()

    async def on_start(runtime: Runtime) -> None:
        pool = runtime.require_pool()
        async with db.transaction(pool) as conn:
            now = service_clock.now()
            await ensure_default_scope(conn, now)
            added = await import_bundled(conn, now)
            if added:
                log.info("bundled_controls_imported", count=added)
            repo = PostureRepository(conn)
            if not await repo.subscriptions():
                for framework_id in settings.default_subscriptions:
                    await repo.subscribe(framework_id, "default")
        consumers = build_consumers(runtime.require_js(), runtime.subjects, pool, settings.batch_size, service_clock)
        for consumer in consumers:
            await consumer.start()
        runtime.extras["consumers"] = consumers
        loops: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "deadline": lambda: finalise_overdue(runtime, settings, service_clock),
            "acceptance_watch": lambda: watch_acceptances(runtime, settings, service_clock),
            "outbox_relay": lambda: relay_forever(
                pool, runtime.require_js(), runtime.subjects, settings.outbox_poll_seconds
            ),
        }
        for name, loop in loops.items():
            runtime.extras[name] = asyncio.create_task(loop(), name=f"compliance:{name}")

    async def on_stop(runtime: Runtime) -> None:
        for name in BACKGROUND:
            await stop_task(runtime.extras.get(name))
        await asyncio.gather(*(c.stop() for c in runtime.extras.get("consumers", [])))

    app = build_app(
        name="compliance",
        title="Guardian compliance",
        description=(
            "Inventory, findings and their history, SOC 2 scopes, the control matrix, risk acceptances,"
            " evidence received from the evidence service, criteria status and readiness."
        ),
        settings=settings,
        routers=[
            frameworks_router,
            findings_router,
            scans_router,
            inventory_router,
            encryption_router,
            scopes_router,
            controls_router,
            evidence_router,
            acceptances_router,
            history_router,
        ],
        schema="compliance",
        migrations_package="guardian_compliance.migrations",
        on_start=on_start,
        on_stop=on_stop,
    )
    app.state.clock = service_clock
    return app
