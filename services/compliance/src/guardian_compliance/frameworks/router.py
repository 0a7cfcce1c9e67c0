"""Frameworks, subscriptions, requirements, controls, readiness and the JSON export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from guardian_common.auth import Editor, Reader
from guardian_common.service import runtime_of
from guardian_compliance.frameworks.model import ControlStatus
from guardian_compliance.frameworks.schemas import (
    ControlDetail,
    ControlList,
    Export,
    FrameworkOut,
    ReadinessOut,
    RequirementList,
    SubscriptionOut,
)
from guardian_compliance.frameworks.service import FrameworkService

router = APIRouter(prefix="/api/v1/frameworks", tags=["frameworks"])


def _service(request: Request) -> FrameworkService:
    return FrameworkService(runtime_of(request).require_pool())


@router.get("", response_model=list[FrameworkOut], summary="Frameworks and whether you subscribe to them")
async def list_frameworks(request: Request, _: Reader) -> list[FrameworkOut]:
    return await _service(request).list()


@router.get("/{framework_id}", response_model=FrameworkOut, summary="One framework")
async def get_framework(request: Request, framework_id: str, _: Reader) -> FrameworkOut:
    return await _service(request).get(framework_id)


@router.put("/{framework_id}/subscription", response_model=SubscriptionOut, summary="Subscribe to a framework")
async def subscribe(request: Request, framework_id: str, principal: Editor) -> SubscriptionOut:
    return await _service(request).subscribe(framework_id, principal.name or principal.key_id)


@router.delete("/{framework_id}/subscription", response_model=SubscriptionOut, summary="Unsubscribe")
async def unsubscribe(request: Request, framework_id: str, _: Editor) -> SubscriptionOut:
    return await _service(request).unsubscribe(framework_id)


@router.get("/{framework_id}/readiness", response_model=ReadinessOut, summary="Readiness with its formula")
async def readiness(request: Request, framework_id: str, _: Reader) -> ReadinessOut:
    return await _service(request).readiness(framework_id)


@router.get("/{framework_id}/requirements", response_model=RequirementList, summary="Criteria with status")
async def requirements(
    request: Request,
    framework_id: str,
    _: Reader,
    category: Annotated[str | None, Query(description="security, availability, ...")] = None,
    status: ControlStatus | None = None,
) -> RequirementList:
    return await _service(request).requirements(framework_id, category, status)


@router.get("/{framework_id}/controls", response_model=ControlList, summary="Controls with status")
async def controls(
    request: Request,
    framework_id: str,
    _: Reader,
    category: str | None = None,
    status: ControlStatus | None = None,
    requirement: Annotated[str | None, Query(description="Only controls mapped to this criterion")] = None,
) -> ControlList:
    return await _service(request).controls(framework_id, category, status, requirement)


@router.get(
    "/{framework_id}/controls/{control_id}",
    response_model=ControlDetail,
    summary="One control with its checks and failing resources",
)
async def control(request: Request, framework_id: str, control_id: str, _: Reader) -> ControlDetail:
    return await _service(request).control(framework_id, control_id)


@router.get("/{framework_id}/export", response_model=Export, summary="The latest final results as JSON")
async def export(request: Request, framework_id: str, _: Reader) -> dict[str, Any]:
    return await _service(request).export(framework_id)
