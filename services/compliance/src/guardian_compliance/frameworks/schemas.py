from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from guardian_compliance.posture.status import CheckOutcome, ControlResult, Readiness, RequirementResult


class CategoryOut(BaseModel):
    id: str
    name: str
    required: bool
    description: str


class FrameworkOut(BaseModel):
    id: str
    name: str
    title: str
    version: str
    subscribed: bool
    subscribed_at: datetime | None
    categories: list[CategoryOut]
    requirement_count: int


class SubscriptionOut(BaseModel):
    framework_id: str
    subscribed: bool


class ResultContext(BaseModel):
    scan_id: str
    scan_state: str
    partial: bool
    finalised_at: datetime | None
    framework_version: str
    library_version: str
    catalogue_version: str | None
    account_id: str | None
    regions: list[str]
    scope_id: str = "default"
    scope_version: int | None = None
    computed_at: datetime | None = None
    # True when computed from current state at request time; False for a stored scan result.
    live: bool = False
    versions: dict[str, Any] = Field(default_factory=dict)


class ReadinessOut(BaseModel):
    framework: str
    result: ResultContext
    readiness: Readiness


class AccountReadiness(BaseModel):
    account_id: str
    name: str | None
    environment: str | None
    readiness: Readiness


class EnvironmentReadiness(BaseModel):
    environment: str | None
    account_ids: list[str]
    readiness: Readiness


class ReadinessBreakdown(BaseModel):
    """One scope's readiness as a whole (the organisation, within the boundary), per environment and per
    account; each part computed with the same formula over the part's findings alone."""

    framework: str
    result: ResultContext
    organisation: Readiness
    environments: list[EnvironmentReadiness]
    accounts: list[AccountReadiness]


class RequirementList(BaseModel):
    framework: str
    result: ResultContext
    total: int
    items: list[RequirementResult]


class ControlList(BaseModel):
    framework: str
    result: ResultContext
    total: int
    items: list[ControlResult]


class PostureOut(BaseModel):
    """Readiness, every criterion and every control of a scope, all from one computation."""

    framework: str
    result: ResultContext
    readiness: Readiness
    requirements: list[RequirementResult]
    controls: list[ControlResult]


class ResourceFinding(BaseModel):
    check_id: str
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    status: str
    severity: str
    reason: str
    observed_at: datetime
    status_since: datetime
    evidence: dict[str, Any] = Field(default_factory=dict)
    evaluated_status: str | None = None
    acceptance_id: str | None = None
    accepted_by: str | None = None


class CheckDetail(CheckOutcome):
    description: str
    remediation: str
    resource_type: str | None


class ControlDetail(BaseModel):
    framework: str
    result: ResultContext
    control: ControlResult
    checks: list[CheckDetail]
    failing_resources: list[ResourceFinding]
    rationale: dict[str, str]


class ExportRequirement(BaseModel):
    id: str
    category: str
    status: str
    controls: list[str]
    title: str
    reason: str


class ExportControl(BaseModel):
    id: str
    title: str
    status: str
    requirements: list[str]
    checks: list[str]
    owner: str
    kind: str
    reason: str


class ExportFinding(BaseModel):
    check_id: str
    resource_arn: str
    resource_type: str
    account_id: str
    region: str
    status: str
    severity: str
    reason: str
    resource_name: str
    observed_at: datetime
    evaluated_status: str | None = None
    acceptance_id: str | None = None
    accepted_by: str | None = None


class Export(BaseModel):
    framework: str
    framework_version: str
    generated_at: datetime
    scan_id: str
    scope: dict[str, Any]
    readiness: Readiness
    requirements: list[ExportRequirement]
    controls: list[ExportControl]
    findings: list[ExportFinding]
    versions: dict[str, Any]
    deviations: list[dict[str, Any]] = Field(default_factory=list)


class StoredResultSummary(BaseModel):
    scan_id: str
    scope_id: str
    scope_version: int
    computed_at: datetime
    account_id: str | None
    scan_state: str
    partial: bool
    score: float | None
    readiness: Readiness
    versions: dict[str, Any]


class ResultHistory(BaseModel):
    framework: str
    scope: str
    items: list[StoredResultSummary]


class StoredResultOut(BaseModel):
    framework: str
    result: ResultContext
    readiness: Readiness
    requirements: list[RequirementResult]
    controls: list[ControlResult]
    deviations: list[dict[str, Any]]
