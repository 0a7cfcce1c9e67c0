"""Risk acceptances ("exceptions"): request, approve or reject, read."""

from __future__ import annotations

from fastapi import APIRouter, Request

from guardian_common.auth import Admin, Editor, Reader
from guardian_common.service import runtime_of
from guardian_compliance.acceptances.schemas import (
    AcceptanceCreate,
    AcceptanceList,
    AcceptanceOut,
    AcceptanceStatus,
    DecisionIn,
    RevokeIn,
)
from guardian_compliance.acceptances.service import AcceptanceService
from guardian_compliance.clock import Now
from guardian_compliance.settings import ComplianceSettings

router = APIRouter(prefix="/api/v1/acceptances", tags=["risk acceptances"])


def _service(request: Request, clock: Now) -> AcceptanceService:
    settings: ComplianceSettings = request.app.state.settings
    return AcceptanceService(runtime_of(request).require_pool(), clock, settings.acceptance_max_days)


@router.get("", response_model=AcceptanceList, summary="Risk acceptances, optionally by status")
async def list_acceptances(
    request: Request, _: Reader, clock: Now, status: AcceptanceStatus | None = None
) -> AcceptanceList:
    return await _service(request, clock).list(status)


@router.post("", response_model=AcceptanceOut, status_code=201, summary="Request a risk acceptance")
async def create_acceptance(request: Request, body: AcceptanceCreate, principal: Editor, clock: Now) -> AcceptanceOut:
    return await _service(request, clock).create(body, principal)


@router.get("/{acceptance_id}", response_model=AcceptanceOut, summary="One risk acceptance with its history")
async def get_acceptance(request: Request, acceptance_id: str, _: Reader, clock: Now) -> AcceptanceOut:
    return await _service(request, clock).get(acceptance_id)


@router.post(
    "/{acceptance_id}/approve",
    response_model=AcceptanceOut,
    summary="Approve (an admin other than the requester)",
)
async def approve_acceptance(
    request: Request, acceptance_id: str, principal: Admin, clock: Now, body: DecisionIn | None = None
) -> AcceptanceOut:
    return await _service(request, clock).approve(acceptance_id, principal, body.note if body else None)


@router.post("/{acceptance_id}/reject", response_model=AcceptanceOut, summary="Reject (admin)")
async def reject_acceptance(
    request: Request, acceptance_id: str, principal: Admin, clock: Now, body: DecisionIn | None = None
) -> AcceptanceOut:
    return await _service(request, clock).reject(acceptance_id, principal, body.note if body else None)


@router.post(
    "/{acceptance_id}/revoke",
    response_model=AcceptanceOut,
    summary="Revoke an approved acceptance early (admin, with a reason; effective at once)",
)
async def revoke_acceptance(
    request: Request, acceptance_id: str, body: RevokeIn, principal: Admin, clock: Now
) -> AcceptanceOut:
    return await _service(request, clock).revoke(acceptance_id, principal, body.reason)
