"""The collector service: app factory and lifespan."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from guardian_collector.accounts.router import router as accounts_router
from guardian_collector.accounts.service import AccountService
from guardian_collector.collectors import all_collectors
from guardian_collector.meta_router import router as meta_router
from guardian_collector.outbox import OUTBOX
from guardian_collector.scans.router import router as scans_router
from guardian_collector.scans.service import ScanService
from guardian_collector.schedules.router import router as schedules_router
from guardian_collector.schedules.service import ScheduleService
from guardian_collector.settings import CollectorSettings
from guardian_common.outbox import stop_task
from guardian_common.service import Runtime, build_app


def create_app(settings: CollectorSettings | None = None) -> FastAPI:
    settings = settings or CollectorSettings()
    all_collectors()

    async def on_start(runtime: Runtime) -> None:
        scans = ScanService(
            pool=runtime.require_pool(), js=runtime.require_js(), subjects=runtime.subjects, settings=settings
        )
        schedules = ScheduleService(pool=runtime.require_pool(), start_scan=scans.start)
        if settings.default_schedule_cron:
            await schedules.ensure_default(settings.default_schedule_cron)
        runtime.extras["scans"] = scans
        runtime.extras["accounts"] = AccountService(
            pool=runtime.require_pool(),
            home_region=settings.aws_home_region,
            endpoint_url=settings.aws_endpoint_url,
            max_attempts=settings.aws_max_attempts,
        )
        runtime.extras["schedules"] = schedules
        runtime.extras["scheduler"] = asyncio.create_task(schedules.run_forever(settings.schedule_poll_seconds))
        runtime.extras["relay"] = OUTBOX.start_relay(
            runtime.require_pool(), runtime.require_js(), runtime.subjects, settings.outbox_relay_seconds
        )

    async def on_stop(runtime: Runtime) -> None:
        await stop_task(runtime.extras.get("relay"))
        await stop_task(runtime.extras.get("scheduler"))
        service = runtime.extras.get("scans")
        if isinstance(service, ScanService):
            await service.stop()

    return build_app(
        name="collector",
        title="Guardian collector",
        description="Reads AWS with a read-only role and publishes one snapshot per resource.",
        settings=settings,
        routers=[scans_router, schedules_router, accounts_router, meta_router],
        schema="collector",
        migrations_package="guardian_collector.migrations",
        on_start=on_start,
        on_stop=on_stop,
    )
