"""The evidence service: app factory and lifespan."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from guardian_common.outbox import stop_task
from guardian_common.service import Runtime, build_app
from guardian_evidence import outbox
from guardian_evidence.clock import Clock, SystemClock
from guardian_evidence.items.router import router as items_router
from guardian_evidence.items.service import EvidenceService
from guardian_evidence.settings import EvidenceSettings
from guardian_evidence.storage import open_storage


def create_app(settings: EvidenceSettings | None = None, *, clock: Clock | None = None, relay: bool = True) -> FastAPI:
    """``relay=False`` leaves the outbox to the caller (tests drive :func:`outbox.relay_once`)."""
    settings = settings or EvidenceSettings()
    the_clock = clock or SystemClock()

    async def on_start(runtime: Runtime) -> None:
        storage = await open_storage(settings)
        runtime.extras["storage"] = storage
        runtime.extras["evidence"] = EvidenceService(
            pool=runtime.require_pool(), storage=storage, settings=settings, clock=the_clock
        )
        if relay:
            runtime.extras["relay"] = asyncio.create_task(
                outbox.relay_forever(
                    runtime.require_pool(),
                    runtime.require_js(),
                    runtime.subjects,
                    the_clock,
                    settings.outbox_relay_seconds,
                ),
                name="evidence-outbox-relay",
            )

    async def on_stop(runtime: Runtime) -> None:
        await stop_task(runtime.extras.get("relay"))
        storage = runtime.extras.get("storage")
        if storage is not None:
            await storage.close()

    app = build_app(
        name="evidence",
        title="Guardian evidence",
        description="Documents that back procedural controls: uploaded, hashed, reviewed and kept.",
        settings=settings,
        routers=[items_router],
        schema="evidence",
        migrations_package="guardian_evidence.migrations",
        on_start=on_start,
        on_stop=on_stop,
    )
    app.state.clock = the_clock
    return app
