from __future__ import annotations

from pydantic import AliasChoices, Field

from guardian_common.settings import ServiceSettings


class CollectorSettings(ServiceSettings):
    port: int = 8081
    # AWS_ENDPOINT_URL is honoured as the AWS SDKs do; GUARDIAN_AWS_ENDPOINT_URL wins when both are set.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GUARDIAN_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    aws_home_region: str = "us-east-1"
    # Regions scanned when a request names none; empty means every enabled region.
    regions: list[str] = Field(default_factory=list)
    per_service_concurrency: int = Field(default=8, ge=1, le=64)
    # Registered accounts collected at the same time (each also within per_service_concurrency).
    max_parallel_accounts: int = Field(default=4, ge=1, le=64)
    aws_max_attempts: int = Field(default=6, ge=1, le=20)
    # The schedule created at first start (continuous monitoring without setup); empty for none.
    default_schedule_cron: str = "0 2 * * *"
    schedule_poll_seconds: float = Field(default=15.0, gt=0)
    # At shutdown, running scans get this long to finish before they are abandoned (keep it under the
    # pod's termination grace period).
    shutdown_drain_seconds: float = Field(default=20.0, ge=0)
    # A running scan whose runner stopped beating for this long is abandoned.
    abandon_after_seconds: float = 120.0
