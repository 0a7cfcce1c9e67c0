from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"


class ScanRequest(BaseModel):
    regions: list[str] | None = Field(
        default=None, description="Regions to scan; default: the configured ones, else every enabled region"
    )
    services: list[str] | None = Field(default=None, description="Services to scan; default: all")
    resource_arns: list[str] | None = Field(
        default=None,
        description=(
            "A targeted scan: re-collect only these resources (their services and regions) and publish"
            " snapshots of them alone; nothing else is closed or marked stale. An account context ARN"
            " (arn:aws::REGION:ACCOUNT:account) needs `services` naming the collectors that feed it."
        ),
    )

    def normalised(self) -> ScanRequest:
        return ScanRequest(
            regions=sorted(set(self.regions)) if self.regions else None,
            services=sorted(set(self.services)) if self.services else None,
            resource_arns=sorted(set(self.resource_arns)) if self.resource_arns else None,
        )


class UnitOut(BaseModel):
    region: str
    service: str
    status: Literal["pending", "complete", "partial", "failed"]
    snapshots: int
    errors: int
    first_error: str | None


class ScanOut(BaseModel):
    scan_id: str
    account_id: str
    regions: list[str]
    services: list[str]
    state: Literal["running", "completed", "failed", "abandoned"]
    requested_by: str | None
    started_at: datetime
    completed_at: datetime | None
    published: int
    error: str | None
    units: list[UnitOut] = Field(default_factory=list)
    # A targeted scan (remediation's verification) re-collected named resources only.
    targeted: bool = False


class ScanList(BaseModel):
    items: list[ScanOut]


class CollectionErrorOut(BaseModel):
    region: str
    service: str
    operation: str
    error_code: str
    message: str
    resource_arn: str | None


class CollectorOut(BaseModel):
    service: str
    global_service: bool
    resource_types: list[str]
    permissions: list[str]
