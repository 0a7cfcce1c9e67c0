"""Wiring of sign-in into the gateway's lifespan: the session service, OIDC when configured, a sweeper."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from guardian_common.logging import get_logger
from guardian_common.outbox import stop_task
from guardian_common.service import Runtime
from guardian_gateway.clock import Clock
from guardian_gateway.sessions.oidc import OidcClient, OidcConfig
from guardian_gateway.sessions.service import SessionPolicy, SessionService
from guardian_gateway.settings import GatewaySettings

log = get_logger("guardian.gateway.sessions")

SWEEP_SECONDS = 3600.0


async def _sweep_forever(sessions: SessionService) -> None:
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            await sessions.sweep()
        except Exception as exc:
            log.warning("session_sweep_failed", error=str(exc))


def start_sessions(runtime: Runtime, settings: GatewaySettings, client: httpx.AsyncClient, clock: Clock) -> None:
    assert settings.internal_secret is not None  # GatewaySettings refuses to exist without it
    sessions = SessionService(
        runtime.require_pool(),
        SessionPolicy(
            lifetime=timedelta(seconds=settings.session_lifetime_seconds),
            idle=timedelta(seconds=settings.session_idle_seconds),
        ),
        csrf_secret=settings.internal_secret,
        clock=clock,
    )
    runtime.extras["sessions"] = sessions
    config = OidcConfig.from_settings(settings)
    if config is not None:
        runtime.extras["oidc"] = OidcClient(config, client, clock)
    runtime.extras["session_sweeper"] = asyncio.create_task(_sweep_forever(sessions))


async def stop_sessions(runtime: Runtime) -> None:
    await stop_task(runtime.extras.pop("session_sweeper", None))
