"""The remediation service (Action Centre): app factory and lifespan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from guardian_common.outbox import stop_task
from guardian_common.service import Runtime, build_app
from guardian_remediation.aws import AwsClients
from guardian_remediation.outbox import OUTBOX
from guardian_remediation.router import router
from guardian_remediation.service import RemediationService, utcnow
from guardian_remediation.settings import RemediationSettings
from guardian_remediation.upstream import Upstream


def create_app(settings: RemediationSettings | None = None, now: Callable[[], datetime] | None = None) -> FastAPI:
    settings = settings or RemediationSettings()

    async def on_start(runtime: Runtime) -> None:
        pool = runtime.require_pool()
        aws = AwsClients(settings)
        service = RemediationService(
            pool=pool, settings=settings, aws=aws, upstream=Upstream(settings), now=now or utcnow
        )
        runtime.extras["aws"] = aws
        runtime.extras["remediation"] = service
        runtime.extras["outbox_relay"] = OUTBOX.start_relay(
            pool, runtime.require_js(), runtime.subjects, settings.outbox_relay_seconds
        )
        await service.resume()

    async def on_stop(runtime: Runtime) -> None:
        service = runtime.extras.get("remediation")
        if isinstance(service, RemediationService):
            await service.stop()
            await service.upstream.close()
        await stop_task(runtime.extras.get("outbox_relay"))
        aws = runtime.extras.get("aws")
        if isinstance(aws, AwsClients):
            await aws.close()

    return build_app(
        name="remediation",
        title="Guardian remediation",
        description="The Action Centre: planned, approved, re-checked and verified fixes with a separate write role.",
        settings=settings,
        routers=[router],
        schema="remediation",
        migrations_package="guardian_remediation.migrations",
        on_start=on_start,
        on_stop=on_stop,
    )
