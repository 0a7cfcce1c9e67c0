"""Starting and stopping the audit log's moving parts inside the gateway's lifespan."""

from __future__ import annotations

import asyncio

from guardian_common.outbox import stop_task
from guardian_common.service import Runtime
from guardian_gateway.audit.consumer import build_consumer
from guardian_gateway.audit.export import FileHeadSink, HeadSink, S3HeadSink, export_forever
from guardian_gateway.audit.service import AuditService
from guardian_gateway.clock import Clock
from guardian_gateway.settings import GatewaySettings


def head_sink(settings: GatewaySettings, clock: Clock) -> HeadSink | None:
    """Where chain heads go, from the settings; None when neither a file nor a bucket is configured."""
    if settings.audit_head_bucket:
        return S3HeadSink(
            bucket=settings.audit_head_bucket,
            prefix=settings.audit_head_prefix,
            retain_days=settings.audit_head_retain_days,
            clock=clock,
            region=settings.audit_head_s3_region,
            endpoint_url=settings.audit_head_s3_endpoint_url,
        )
    if settings.audit_head_file is not None:
        return FileHeadSink(settings.audit_head_file)
    return None


async def start_audit(runtime: Runtime, settings: GatewaySettings, clock: Clock) -> None:
    pool = runtime.require_pool()
    sink = head_sink(settings, clock)
    runtime.extras["audit"] = AuditService(pool, sink)
    consumer = build_consumer(runtime.require_js(), runtime.subjects, pool, clock)
    await consumer.start()
    runtime.extras["audit_consumer"] = consumer
    if sink is not None:
        runtime.extras["audit_export"] = asyncio.create_task(
            export_forever(pool, sink, settings.audit_head_export_seconds, clock), name="audit-head-export"
        )


async def stop_audit(runtime: Runtime) -> None:
    await stop_task(runtime.extras.pop("audit_export", None))
    consumer = runtime.extras.pop("audit_consumer", None)
    if consumer is not None:
        await consumer.stop()
