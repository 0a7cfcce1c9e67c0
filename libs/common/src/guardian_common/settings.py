"""Typed settings shared by every service; each service subclasses :class:`ServiceSettings`.

Settings are built in the app factory (never at import) from ``GUARDIAN_*`` variables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_AUTH_SECRET = "guardian-development-only-secret"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUARDIAN_", extra="ignore", populate_by_name=True)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/guardian"
    nats_url: str = "nats://127.0.0.1:4222"
    # Prefix of every subject and stream this deployment uses; tests give each run its own.
    bus_prefix: str = Field(default="guardian", pattern=r"^[a-z][a-z0-9_]{0,30}$")
    auth_secret: str = DEV_AUTH_SECRET
    log_level: str = "INFO"
    log_json: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    # Verifies the principal the gateway forwards (``X-Guardian-Principal``); shared by every service.
    # Apply this service's migrations at start-up; turn off where a migration job runs them.
    run_migrations: bool = True
    internal_secret: str | None = None
    # When true, API keys sent straight to the service are refused: only the gateway's credential counts.
    require_gateway: bool = False
    # How long start-up waits for PostgreSQL and NATS to answer before giving up (they may start later).
    startup_wait_seconds: float = Field(default=60.0, ge=0)
    # How often this service's outbox (domain events, audit entries) is relayed to NATS.
    outbox_relay_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> ServiceSettings:
        if self.environment == "production" and self.auth_secret == DEV_AUTH_SECRET:
            raise ValueError("GUARDIAN_AUTH_SECRET must be set to a real secret in production")
        if self.environment == "production" and len(self.auth_secret) < 32:
            raise ValueError("GUARDIAN_AUTH_SECRET must be at least 32 characters in production")
        if self.environment == "production" and self.require_gateway and not self.internal_secret:
            raise ValueError("GUARDIAN_REQUIRE_GATEWAY needs GUARDIAN_INTERNAL_SECRET in production")
        return self
