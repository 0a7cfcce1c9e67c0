"""The frame every service's app factory builds on.

``build_app`` gives each service the same lifespan (open the database pool and the NATS connection,
run migrations, create streams, start the service's own workers; close everything in reverse) and
the same open endpoints: ``/healthz`` (the process is alive), ``/readyz`` (database and NATS answer)
and ``/metrics`` (Prometheus). Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from nats.aio.client import Client as NatsClient
from nats.errors import NoServersError
from nats.js import JetStreamContext
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from guardian_common import bus, db
from guardian_common.errors import ERROR_RESPONSES, install_error_handlers
from guardian_common.logging import configure_logging, get_logger
from guardian_common.metrics import REQUEST_SECONDS
from guardian_common.settings import ServiceSettings

log = get_logger("guardian.service")
# How long a stopping service waits for its database connections to be returned before closing them.
POOL_CLOSE_SECONDS = 10.0


@dataclass
class Runtime:
    """Connections a running service holds; built in the lifespan, stored on ``app.state``."""

    name: str
    settings: ServiceSettings
    subjects: bus.Subjects
    pool: asyncpg.Pool | None = None
    nc: NatsClient | None = None
    js: JetStreamContext | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def require_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError(f"{self.name} has no database")
        return self.pool

    def require_js(self) -> JetStreamContext:
        if self.js is None:
            raise RuntimeError(f"{self.name} is not connected to NATS")
        return self.js


Hook = Callable[[Runtime], Awaitable[None]]
T = TypeVar("T")

# Failures worth waiting out at start-up: the server is not (yet) there, or not yet accepting.
UNREACHABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    NoServersError,
)


async def until_reachable(what: str, attempt: Callable[[], Awaitable[T]], wait_seconds: float) -> T:
    """Run ``attempt`` until it succeeds, backing off, for at most ``wait_seconds``.

    Dependencies start in any order (compose, Kubernetes), so a service waits for its database and
    NATS instead of failing at once; after the wait the last error propagates and the process stops.
    """
    retrying = AsyncRetrying(
        stop=stop_after_delay(wait_seconds),
        wait=wait_exponential(multiplier=0.2, max=5.0),
        retry=retry_if_exception_type(UNREACHABLE),
        before_sleep=lambda state: log.warning(
            "dependency_unreachable",
            dependency=what,
            attempt=state.attempt_number,
            error=str(state.outcome.exception()) if state.outcome is not None else "",
        ),
        reraise=True,
    )
    async for attempt_state in retrying:
        with attempt_state:
            return await attempt()
    raise AssertionError("unreachable")  # AsyncRetrying either returns or re-raises


def build_app(
    *,
    name: str,
    title: str,
    description: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    schema: str | None,
    migrations_package: str | None,
    on_start: Hook | None = None,
    on_stop: Hook | None = None,
    version: str = "0.1.0",
) -> FastAPI:
    configure_logging(settings.log_level, json=settings.log_json)
    subjects = bus.Subjects(settings.bus_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(name=name, settings=settings, subjects=subjects)
        app.state.runtime = runtime
        if schema is not None:
            if settings.run_migrations and settings.environment != "production":
                await until_reachable(
                    "database", lambda: db.ensure_database(settings.database_url), settings.startup_wait_seconds
                )
            # Off where a separate step migrates (Helm hook Job, compose), so the service's own
            # database role needs no DDL rights.
            if migrations_package is not None and settings.run_migrations:
                applied = await until_reachable(
                    "database",
                    lambda: db.migrate(settings.database_url, schema, migrations_package),
                    settings.startup_wait_seconds,
                )
                if applied:
                    log.info("migrations_applied", service=name, applied=applied)
            runtime.pool = await until_reachable(
                "database", lambda: db.create_pool(settings.database_url, schema), settings.startup_wait_seconds
            )
        runtime.nc = await until_reachable(
            "nats", lambda: bus.connect(settings.nats_url, name=f"guardian-{name}"), settings.startup_wait_seconds
        )
        runtime.js = runtime.nc.jetstream()
        await bus.ensure_streams(runtime.js, subjects)
        try:
            if on_start is not None:
                await on_start(runtime)
            log.info("service_started", service=name)
            yield
        finally:
            if on_stop is not None:
                await on_stop(runtime)
            if runtime.nc is not None and not runtime.nc.is_closed:
                # Consumers have finished their batches and unsubscribed; flush what was published.
                await runtime.nc.flush()
                await runtime.nc.close()
            if runtime.pool is not None:
                # close() waits for every borrowed connection to come back; one a cancelled task never
                # returns would hold the shutdown (and a pod's termination) forever.
                try:
                    await asyncio.wait_for(runtime.pool.close(), POOL_CLOSE_SECONDS)
                except TimeoutError:
                    log.warning("pool_close_timed_out", service=name, seconds=POOL_CLOSE_SECONDS)
                    runtime.pool.terminate()
            log.info("service_stopped", service=name)

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    install_error_handlers(app)

    @app.middleware("http")
    async def timing(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        REQUEST_SECONDS.labels(name, request.method, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    @app.get("/healthz", tags=["operations"], include_in_schema=True)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "The database or NATS does not answer"}})
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        checks: dict[str, bool] = {}
        if runtime is not None:
            if schema is not None:
                checks["database"] = runtime.pool is not None and await db.ping(runtime.pool)
            checks["nats"] = runtime.nc is not None and runtime.nc.is_connected
        ready = runtime is not None and all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
