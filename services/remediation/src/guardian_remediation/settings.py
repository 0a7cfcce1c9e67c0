from __future__ import annotations

from pydantic import Field

from guardian_common.settings import ServiceSettings


class RemediationSettings(ServiceSettings):
    port: int = 8086
    # Its own write credentials or role: never the collector's read-only ones.
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    aws_role_arn: str | None = None
    # A named profile of the remediation process's own credentials file (optional).
    aws_profile: str | None = None
    aws_max_attempts: int = Field(default=3, ge=1, le=10)
    compliance_url: str = "http://127.0.0.1:8083"
    collector_url: str = "http://127.0.0.1:8081"
    upstream_timeout_seconds: float = Field(default=60.0, gt=0)
    approval_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # A single-person team may approve its own plans; every such approval is recorded as self-approved.
    allow_self_approval: bool = False
    # The most resources one plan may fix (a bulk selection larger than this is refused).
    max_plan_resources: int = Field(default=500, ge=1, le=5000)
    # How long verification waits for the targeted scan's evaluations before reporting what is missing.
    verify_timeout_seconds: float = Field(default=300.0, gt=0)
    verify_poll_seconds: float = Field(default=1.0, gt=0)
