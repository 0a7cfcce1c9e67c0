"""The Action Centre's REST shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

PlanState = Literal[
    "proposed", "approved", "rejected", "executing", "executed", "verifying", "verified", "verification_failed"
]


class ParamOut(BaseModel):
    name: str
    kind: str
    description: str
    default: Any
    choices: list[Any]
    minimum: int | None
    maximum: int | None


class RolePassOut(BaseModel):
    service: str = Field(description="The AWS service the role is handed to (iam:PassedToService)")
    role_prefix: str = Field(description="The write policy lets the action pass only roles named with this prefix")
    purpose: str


class ActionOut(BaseModel):
    id: str
    version: int
    title: str
    description: str
    resource_type: str
    checks: list[str]
    permissions: list[str]
    passes_roles: list[RolePassOut] = Field(default_factory=list)
    parameters: list[ParamOut]
    in_place: bool
    reads: list[str]
    verify_services: list[str]
    expected: str


class ActionList(BaseModel):
    items: list[ActionOut]


class PlanRequest(BaseModel):
    check_id: str = Field(pattern=r"^[a-z0-9_]{1,120}$", description="The failing check to fix")
    action_id: str | None = Field(default=None, description="The action; default: the one action fixing the check")
    resource_arn: str | None = Field(
        default=None, max_length=2048, description="One finding's resource; omit for every resource failing the check"
    )
    account_id: str | None = Field(default=None, pattern=r"^\d{12}$", description="Bulk: only this account")
    region: str | None = Field(default=None, max_length=40, description="Bulk: only this region")
    parameters: dict[str, Any] = Field(default_factory=dict, description="The action's parameters")


class ApprovalRequest(BaseModel):
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="The hash of the plan content being approved")


class RejectRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class CallOut(BaseModel):
    service: str
    operation: str
    region: str
    arguments: dict[str, Any]
    permission: str


class ItemOut(BaseModel):
    position: int
    resource_arn: str
    resource_name: str
    resource_type: str
    account_id: str
    region: str
    disposition: Literal["fix", "already_compliant", "manual", "unreadable"]
    state_before: dict[str, Any] | None
    state_hash: str | None
    calls: list[CallOut]
    steps: list[str]
    expected: str
    warnings: list[str]


class ApprovalOut(BaseModel):
    approval_id: str
    decision: Literal["approved", "rejected"]
    content_hash: str
    decided_by: dict[str, str]
    self_approved: bool
    reason: str | None
    decided_at: datetime
    expires_at: datetime | None


class ResultOut(BaseModel):
    position: int
    resource_arn: str
    outcome: Literal["fixed", "already_compliant", "skipped_changed", "manual", "unreadable", "failed", "gone"]
    detail: str
    calls_made: list[dict[str, Any]]
    state_after: dict[str, Any] | None
    at: datetime


class ExecutionOut(BaseModel):
    execution_id: str
    executed_by: dict[str, str]
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, int] | None
    results: list[ResultOut]
    rerun: bool = False


class VerificationOut(BaseModel):
    resource_arn: str
    check_id: str
    status: str
    reason: str
    scan_id: str
    at: datetime


class PlanOut(BaseModel):
    plan_id: str
    action_id: str
    action_version: int
    action_title: str
    check_id: str
    parameters: dict[str, Any]
    selection: dict[str, Any]
    state: PlanState
    content_hash: str
    requested_by: dict[str, str]
    created_at: datetime
    updated_at: datetime
    items: list[ItemOut]
    approval: ApprovalOut | None = None
    execution: ExecutionOut | None = None
    verification_scan_id: str | None = None
    verification_summary: dict[str, Any] | None = None
    verifications: list[VerificationOut] = Field(default_factory=list)


class PlanSummary(BaseModel):
    plan_id: str
    action_id: str
    check_id: str
    state: PlanState
    resources: int
    requested_by: dict[str, str]
    created_at: datetime
    updated_at: datetime


class PlanList(BaseModel):
    items: list[PlanSummary]
