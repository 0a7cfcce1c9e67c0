"""The gateway: app factory and lifespan.

At start-up it reads every service's OpenAPI document, builds the route table and the merged
document from them, and opens one HTTP client for forwarding. Health, readiness and metrics are its
own and open, as in every service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI

from guardian_common.logging import get_logger
from guardian_common.outbox import stop_task
from guardian_common.service import Runtime, build_app
from guardian_gateway.audit.lifecycle import start_audit, stop_audit
from guardian_gateway.audit.router import router as audit_router
from guardian_gateway.clock import Clock, utcnow
from guardian_gateway.database import MIGRATIONS, OUTBOX, SCHEMA
from guardian_gateway.errors import install_gateway_error_handler
from guardian_gateway.keys.router import router as keys_router
from guardian_gateway.keys.service import KeyService
from guardian_gateway.middleware import BodyLimitMiddleware, RequestIdMiddleware
from guardian_gateway.ratelimit import WINDOW_SECONDS, RateLimiter
from guardian_gateway.routing.openapi import merge_openapi
from guardian_gateway.routing.proxy import UPSTREAM_LIMITS, Forwarder
from guardian_gateway.routing.proxy import router as proxy_router
from guardian_gateway.routing.table import HTTP_METHODS, ROUTED_PREFIX, build_route_table
from guardian_gateway.sessions.router import router as sessions_router
from guardian_gateway.sessions.setup import start_sessions, stop_sessions
from guardian_gateway.settings import GatewaySettings
from guardian_gateway.webhooks.router import router as webhooks_router
from guardian_gateway.webhooks.runtime import start_webhooks, stop_webhooks

log = get_logger("guardian.gateway")


class UpstreamDocumentError(RuntimeError):
    """A service's OpenAPI document could not be read; the gateway cannot know its routes."""


async def fetch_specs(
    client: httpx.AsyncClient, upstreams: Mapping[str, str], wait_seconds: float
) -> dict[str, dict[str, Any]]:
    """Each service's /openapi.json, retried until ``wait_seconds`` pass (services may start later)."""
    deadline = time.monotonic() + wait_seconds
    specs: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    while True:
        for name, base in upstreams.items():
            if name in specs:
                continue
            try:
                response = await client.get(f"{base}/openapi.json")
                response.raise_for_status()
                document = response.json()
                if not isinstance(document, dict):
                    raise ValueError("the document is not a JSON object")
                specs[name] = document
            except (httpx.HTTPError, ValueError) as exc:
                problems[name] = f"{type(exc).__name__}: {exc}"
        if len(specs) == len(upstreams):
            return specs
        if time.monotonic() >= deadline:
            missing = ", ".join(
                f"{name} at {upstreams[name]} ({problems[name]})" for name in upstreams if name not in specs
            )
            raise UpstreamDocumentError(f"could not read the OpenAPI document of: {missing}")
        await asyncio.sleep(0.25)


def own_api_routes(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        if path.startswith(ROUTED_PREFIX)
        for method in item
        if method.upper() in HTTP_METHODS
    ]


async def sweep_rate_limits(limiter: RateLimiter) -> None:
    while True:
        await asyncio.sleep(WINDOW_SECONDS)
        try:
            await limiter.sweep()
        except Exception as exc:
            log.warning("rate_limit_sweep_failed", error=str(exc))


def create_app(settings: GatewaySettings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    settings = settings or GatewaySettings()
    internal_secret = settings.internal_secret
    assert internal_secret is not None  # GatewaySettings refuses to exist without it

    async def on_start(runtime: Runtime) -> None:
        pool = runtime.require_pool()
        limiter = RateLimiter(pool, settings.rate_limit_per_minute, clock)
        runtime.extras["keys"] = KeyService(pool, clock)
        runtime.extras["limiter"] = limiter
        client = httpx.AsyncClient(
            timeout=settings.upstream_timeout_seconds, follow_redirects=False, limits=UPSTREAM_LIMITS
        )
        runtime.extras["client"] = client
        start_sessions(runtime, settings, client, clock)
        upstreams = settings.upstreams()
        specs = await fetch_specs(client, upstreams, settings.upstream_wait_seconds)
        table = build_route_table(specs, reserved=own_api_routes(app.openapi()))
        app.openapi_schema = merge_openapi(app.openapi(), specs, table)
        runtime.extras["forwarder"] = Forwarder(client, table, upstreams, internal_secret)
        runtime.extras["sweeper"] = asyncio.create_task(sweep_rate_limits(limiter))
        runtime.extras["relay"] = OUTBOX.start_relay(
            pool, runtime.require_js(), runtime.subjects, settings.outbox_relay_seconds
        )
        await start_audit(runtime, settings, clock)
        await start_webhooks(runtime, settings, clock)
        log.info("routes_built", routes=len(table.routes), services=sorted(specs))

    async def on_stop(runtime: Runtime) -> None:
        await stop_webhooks(runtime)
        await stop_sessions(runtime)
        await stop_audit(runtime)
        await stop_task(runtime.extras.get("relay"))
        await stop_task(runtime.extras.get("sweeper"))
        client = runtime.extras.get("client")
        if isinstance(client, httpx.AsyncClient):
            await client.aclose()

    app = build_app(
        name="gateway",
        title="Guardian gateway",
        description="API keys, routing to the services, rate limits and one OpenAPI document.",
        settings=settings,
        routers=[keys_router, audit_router, sessions_router, webhooks_router, proxy_router],
        schema=SCHEMA,
        migrations_package=MIGRATIONS,
        on_start=on_start,
        on_stop=on_stop,
    )
    install_gateway_error_handler(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
