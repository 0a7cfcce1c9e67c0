"""The collector service: app factory and lifespan."""

from __future__ import annotations

from fastapi import FastAPI

from guardian_collector.collectors import all_collectors
from guardian_collector.meta_router import router as meta_router
from guardian_collector.scans.router import router as scans_router
from guardian_collector.scans.service import ScanService
from guardian_collector.settings import CollectorSettings
from guardian_common.service import Runtime, build_app


def create_app(settings: CollectorSettings | None = None) -> FastAPI:
    settings = settings or CollectorSettings()
    all_collectors()

    async def on_start(runtime: Runtime) -> None:
        runtime.extras["scans"] = ScanService(
            pool=runtime.require_pool(), js=runtime.require_js(), subjects=runtime.subjects, settings=settings
        )

    async def on_stop(runtime: Runtime) -> None:
        service = runtime.extras.get("scans")
        if isinstance(service, ScanService):
            await service.stop()

    return build_app(
        name="collector",
        title="Guardian collector",
        description="Reads AWS with a read-only role and publishes one snapshot per resource.",
        settings=settings,
        routers=[scans_router, meta_router],
        schema="collector",
        migrations_package="guardian_collector.migrations",
        on_start=on_start,
        on_stop=on_stop,
    )
