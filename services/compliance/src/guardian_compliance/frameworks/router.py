"""Frameworks, subscriptions, and posture per scope: requirements, controls, readiness, export, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from guardian_common.auth import Editor, Reader
from guardian_common.service import runtime_of
from guardian_compliance.clock import Now
from guardian_compliance.frameworks.mapping import FrameworkMapping, framework_mapping
from guardian_compliance.frameworks.model import ControlStatus
from guardian_compliance.frameworks.schemas import (
    ControlDetail,
    ControlList,
    Export,
    FrameworkOut,
    PostureOut,
    ReadinessBreakdown,
    ReadinessOut,
    RequirementList,
    ResultHistory,
    StoredResultOut,
    SubscriptionOut,
)
from guardian_compliance.frameworks.service import FrameworkService
from guardian_compliance.scope.model import DEFAULT_SCOPE

router = APIRouter(prefix="/api/v1/frameworks", tags=["frameworks"])

ScopeParam = Annotated[str, Query(description="The scope the posture is computed for")]


def _service(request: Request, clock: Now) -> FrameworkService:
    return FrameworkService(runtime_of(request).require_pool(), clock)


@router.get("", response_model=list[FrameworkOut], summary="Frameworks and whether you subscribe to them")
async def list_frameworks(request: Request, _: Reader, clock: Now) -> list[FrameworkOut]:
    return await _service(request, clock).list()


@router.get("/{framework_id}", response_model=FrameworkOut, summary="One framework")
async def get_framework(request: Request, framework_id: str, _: Reader, clock: Now) -> FrameworkOut:
    return await _service(request, clock).get(framework_id)


@router.put("/{framework_id}/subscription", response_model=SubscriptionOut, summary="Subscribe to a framework")
async def subscribe(request: Request, framework_id: str, principal: Editor, clock: Now) -> SubscriptionOut:
    return await _service(request, clock).subscribe(framework_id, principal.name or principal.key_id, actor=principal)


@router.delete("/{framework_id}/subscription", response_model=SubscriptionOut, summary="Unsubscribe")
async def unsubscribe(request: Request, framework_id: str, principal: Editor, clock: Now) -> SubscriptionOut:
    return await _service(request, clock).unsubscribe(framework_id, actor=principal)


@router.get(
    "/{framework_id}/readiness/breakdown",
    response_model=ReadinessBreakdown,
    summary="Readiness of the scope, per environment and per account",
)
async def readiness_breakdown(
    request: Request, framework_id: str, _: Reader, clock: Now, scope: ScopeParam = DEFAULT_SCOPE
) -> ReadinessBreakdown:
    return await _service(request, clock).readiness_breakdown(framework_id, scope)


@router.get("/{framework_id}/readiness", response_model=ReadinessOut, summary="Readiness now, with its formula")
async def readiness(
    request: Request, framework_id: str, _: Reader, clock: Now, scope: ScopeParam = DEFAULT_SCOPE
) -> ReadinessOut:
    return await _service(request, clock).readiness(framework_id, scope)


@router.get(
    "/{framework_id}/posture",
    response_model=PostureOut,
    summary="Readiness, criteria and controls now, from one computation (what an overview page shows)",
)
async def posture(
    request: Request, framework_id: str, _: Reader, clock: Now, scope: ScopeParam = DEFAULT_SCOPE
) -> PostureOut:
    return await _service(request, clock).posture(framework_id, scope)


@router.get("/{framework_id}/requirements", response_model=RequirementList, summary="Criteria with status now")
async def requirements(
    request: Request,
    framework_id: str,
    _: Reader,
    clock: Now,
    category: Annotated[str | None, Query(description="security, availability, ...")] = None,
    status: ControlStatus | None = None,
    scope: ScopeParam = DEFAULT_SCOPE,
) -> RequirementList:
    return await _service(request, clock).requirements(framework_id, category, status, scope)


@router.get("/{framework_id}/controls", response_model=ControlList, summary="Controls with status now")
async def controls(
    request: Request,
    framework_id: str,
    _: Reader,
    clock: Now,
    category: str | None = None,
    status: ControlStatus | None = None,
    requirement: Annotated[str | None, Query(description="Only controls mapped to this criterion")] = None,
    scope: ScopeParam = DEFAULT_SCOPE,
) -> ControlList:
    return await _service(request, clock).controls(framework_id, category, status, requirement, scope)


@router.get(
    "/{framework_id}/controls/{control_id}",
    response_model=ControlDetail,
    summary="One control with its checks and failing resources",
)
async def control(
    request: Request, framework_id: str, control_id: str, _: Reader, clock: Now, scope: ScopeParam = DEFAULT_SCOPE
) -> ControlDetail:
    return await _service(request, clock).control(framework_id, control_id, scope)


@router.get(
    "/{framework_id}/mapping",
    response_model=FrameworkMapping,
    summary="Every requirement with its controls, their checks and evidence, and each mapping's rationale",
)
async def mapping(request: Request, framework_id: str, _: Reader) -> FrameworkMapping:
    async with runtime_of(request).require_pool().acquire() as conn:
        return await framework_mapping(conn, framework_id)


@router.get("/{framework_id}/export", response_model=Export, summary="The posture now, as JSON")
async def export(
    request: Request, framework_id: str, _: Reader, clock: Now, scope: ScopeParam = DEFAULT_SCOPE
) -> dict[str, Any]:
    return await _service(request, clock).export(framework_id, scope)


@router.get(
    "/{framework_id}/results", response_model=ResultHistory, summary="Results stored at each final scan, newest first"
)
async def results(
    request: Request,
    framework_id: str,
    _: Reader,
    clock: Now,
    scope: ScopeParam = DEFAULT_SCOPE,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ResultHistory:
    return await _service(request, clock).history(framework_id, scope, limit)


@router.get(
    "/{framework_id}/results/{scan_id}",
    response_model=StoredResultOut,
    summary="One stored result with the versions that produced it",
)
async def result(
    request: Request, framework_id: str, scan_id: str, _: Reader, clock: Now, scope: ScopeParam = DEFAULT_SCOPE
) -> StoredResultOut:
    return await _service(request, clock).stored(framework_id, scope, scan_id)
