from __future__ import annotations

import re
from typing import Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from guardian_collector.concurrency import PUBLISHED_RATE_LIMITS, Governor, RateLimit, ServiceLimits
from guardian_common.settings import ServiceSettings

# A botocore service name as the governor keys it ("ec2", "s3", "elasticloadbalancing", ...).
AWS_SERVICE_NAME = r"^[a-z0-9][a-z0-9-]{1,62}$"


class ServiceConcurrency(BaseModel):
    """Concurrency bounds of one AWS service; an unset value falls back to the general setting."""

    model_config = ConfigDict(extra="forbid")

    initial: int | None = Field(default=None, ge=1, le=256)
    minimum: int | None = Field(default=None, ge=1, le=256)
    maximum: int | None = Field(default=None, ge=1, le=256)


class ServiceRateLimit(BaseModel):
    """A request rate for one AWS service: ``burst`` at once, refilled at ``per_second``."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0, le=10_000)
    burst: float = Field(ge=1, le=10_000)


class CollectorSettings(ServiceSettings):
    port: int = 8081
    # AWS_ENDPOINT_URL is honoured as the AWS SDKs do; GUARDIAN_AWS_ENDPOINT_URL wins when both are set.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GUARDIAN_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    aws_home_region: str = "us-east-1"
    # Regions scanned when a request names none; empty means every enabled region.
    regions: list[str] = Field(default_factory=list)
    # AWS requests in flight per (service, region) at the start of a scan (the adaptive limit's initial value).
    per_service_concurrency: int = Field(default=8, ge=1, le=64)
    # Adaptive concurrency (concurrency.py): each (service, region) limit moves between these bounds, shrinking
    # by aws_concurrency_backoff on a throttling answer and growing by one after a window of successes.
    aws_adaptive_concurrency: bool = True
    aws_concurrency_min: int = Field(default=1, ge=1, le=256)
    aws_concurrency_max: int = Field(default=32, ge=1, le=256)
    # Requests in flight across every service of one scan.
    aws_concurrency_total: int = Field(default=256, ge=1, le=4096)
    aws_concurrency_backoff: float = Field(default=0.5, gt=0, lt=1)
    # Per-service overrides, e.g. {"iam": {"maximum": 8}}; and request rates added to (or replacing) the
    # ones AWS publishes, e.g. {"s3": {"per_second": 100, "burst": 200}}.
    aws_service_concurrency: dict[str, ServiceConcurrency] = Field(default_factory=dict)
    aws_rate_limits: dict[str, ServiceRateLimit] = Field(default_factory=dict)
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

    @model_validator(mode="after")
    def _consistent_concurrency(self) -> Self:
        if not self.aws_concurrency_min <= self.per_service_concurrency <= self.aws_concurrency_max:
            raise ValueError(
                "need GUARDIAN_AWS_CONCURRENCY_MIN <= GUARDIAN_PER_SERVICE_CONCURRENCY "
                "<= GUARDIAN_AWS_CONCURRENCY_MAX, "
                f"got {self.aws_concurrency_min}, {self.per_service_concurrency}, {self.aws_concurrency_max}"
            )
        for name in [*self.aws_service_concurrency, *self.aws_rate_limits]:
            if not re.match(AWS_SERVICE_NAME, name):
                raise ValueError(f"not an AWS service name: {name!r} (use botocore's, e.g. 'ec2', 's3', 'iam')")
        try:
            self.governor()
        except ValueError as exc:
            raise ValueError(f"GUARDIAN_AWS_SERVICE_CONCURRENCY: {exc}") from exc
        return self

    def governor(self) -> Governor:
        """The governor these settings describe (each scan gets a fresh one through its AwsTarget)."""
        return Governor(
            initial=self.per_service_concurrency,
            minimum=self.aws_concurrency_min,
            maximum=self.aws_concurrency_max,
            total=self.aws_concurrency_total,
            backoff=self.aws_concurrency_backoff,
            services=self.service_limits(),
            rate_limits={**PUBLISHED_RATE_LIMITS, **self.rate_limits()},
        )

    def service_limits(self) -> dict[str, ServiceLimits]:
        return {
            name: ServiceLimits(initial=own.initial, minimum=own.minimum, maximum=own.maximum)
            for name, own in self.aws_service_concurrency.items()
        }

    def rate_limits(self) -> dict[str, RateLimit]:
        return {name: RateLimit(per_second=r.per_second, burst=r.burst) for name, r in self.aws_rate_limits.items()}
