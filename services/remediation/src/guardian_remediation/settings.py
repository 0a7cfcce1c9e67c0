from __future__ import annotations

from pydantic import Field

from guardian_common.settings import ServiceSettings


class RemediationSettings(ServiceSettings):
    port: int = 8086
    # Its own write credentials or role: never the collector's read-only ones.
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    aws_role_arn: str | None = None
    compliance_url: str = "http://127.0.0.1:8083"
    collector_url: str = "http://127.0.0.1:8081"
    upstream_timeout_seconds: float = Field(default=60.0, gt=0)
    approval_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # A single-person team may approve its own plans; every such approval is recorded as self-approved.
    allow_self_approval: bool = False
