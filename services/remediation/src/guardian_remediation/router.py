from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from guardian_common.auth import Admin, Editor, Reader
from guardian_common.service import runtime_of
from guardian_remediation.schemas import (
    ActionList,
    ActionOut,
    ApprovalRequest,
    PlanList,
    PlanOut,
    PlanRequest,
    PlanState,
    RejectRequest,
)
from guardian_remediation.service import RemediationService

router = APIRouter(prefix="/api/v1/remediation", tags=["remediation"])


def _service(request: Request) -> RemediationService:
    service: RemediationService = runtime_of(request).extras["remediation"]
    return service


def _authorization(request: Request) -> str | None:
    return request.headers.get("authorization")


@router.get("/actions", response_model=ActionList, summary="The remediation catalogue")
async def list_actions(request: Request, _: Reader) -> ActionList:
    return ActionList(items=_service(request).actions())


@router.get("/actions/{action_id}", response_model=ActionOut, summary="One action of the catalogue")
async def get_action(request: Request, action_id: str, _: Reader) -> ActionOut:
    return ActionOut.model_validate(_service(request).action(action_id).describe())


@router.post("/plans", response_model=PlanOut, status_code=201, summary="Plan a fix: one finding or every failing one")
async def create_plan(request: Request, body: PlanRequest, principal: Editor) -> PlanOut:
    return await _service(request).plan(principal, _authorization(request), body)


@router.get("/plans", response_model=PlanList, summary="Recent plans")
async def list_plans(
    request: Request,
    _: Reader,
    state: PlanState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PlanList:
    return PlanList(items=await _service(request).recent(limit, state))


@router.get("/plans/{plan_id}", response_model=PlanOut, summary="A plan: calls, approval, results, verification")
async def get_plan(request: Request, plan_id: str, _: Reader) -> PlanOut:
    return await _service(request).get(plan_id)


@router.post("/plans/{plan_id}/approve", response_model=PlanOut, summary="Approve a plan's content hash (admin)")
async def approve_plan(request: Request, plan_id: str, body: ApprovalRequest, principal: Admin) -> PlanOut:
    return await _service(request).approve(principal, plan_id, body.content_hash)


@router.post("/plans/{plan_id}/reject", response_model=PlanOut, summary="Reject a plan (admin)")
async def reject_plan(request: Request, plan_id: str, body: RejectRequest, principal: Admin) -> PlanOut:
    return await _service(request).reject(principal, plan_id, body.reason)


@router.post("/plans/{plan_id}/execute", response_model=PlanOut, summary="Run an approved plan")
async def execute_plan(request: Request, plan_id: str, principal: Editor) -> PlanOut:
    return await _service(request).execute(principal, plan_id)


@router.post(
    "/plans/{plan_id}/verify",
    response_model=PlanOut,
    status_code=202,
    summary="Re-collect and re-evaluate the changed resources; the plan shows the verdicts when done",
)
async def verify_plan(request: Request, plan_id: str, principal: Editor) -> PlanOut:
    return await _service(request).verify(principal, _authorization(request), plan_id)
