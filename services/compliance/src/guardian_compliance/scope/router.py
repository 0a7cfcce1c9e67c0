"""Scopes, their audit periods and not-applicable marks."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from guardian_common.auth import Admin, Editor, Principal, Reader
from guardian_common.service import runtime_of
from guardian_compliance.clock import Now
from guardian_compliance.scope.schemas import (
    NotApplicableIn,
    PeriodCreate,
    PeriodOut,
    PeriodUpdate,
    ScopeCreate,
    ScopeOut,
    ScopeUpdate,
    ScopeVersionOut,
)
from guardian_compliance.scope.service import ScopeService

router = APIRouter(prefix="/api/v1/scopes", tags=["scopes"])

Kind = Literal["controls", "requirements"]


def _service(request: Request, clock: Now) -> ScopeService:
    return ScopeService(runtime_of(request).require_pool(), clock)


def _who(principal: Principal) -> str:
    return principal.name or principal.key_id


@router.get("", response_model=list[ScopeOut], summary="Every scope")
async def list_scopes(request: Request, _: Reader, clock: Now) -> list[ScopeOut]:
    return await _service(request, clock).all()


@router.post("", response_model=ScopeOut, status_code=201, summary="Create a scope")
async def create_scope(request: Request, body: ScopeCreate, principal: Editor, clock: Now) -> ScopeOut:
    return await _service(request, clock).create(body, _who(principal), actor=principal)


@router.get("/{scope_id}", response_model=ScopeOut, summary="One scope with its periods")
async def get_scope(request: Request, scope_id: str, _: Reader, clock: Now) -> ScopeOut:
    return await _service(request, clock).get(scope_id)


@router.patch("/{scope_id}", response_model=ScopeOut, summary="Edit categories, boundary, carve-outs, CUECs")
async def update_scope(request: Request, scope_id: str, body: ScopeUpdate, principal: Editor, clock: Now) -> ScopeOut:
    return await _service(request, clock).update(scope_id, body, _who(principal), actor=principal)


@router.get("/{scope_id}/versions", response_model=list[ScopeVersionOut], summary="Every version of a scope")
async def scope_versions(request: Request, scope_id: str, _: Reader, clock: Now) -> list[ScopeVersionOut]:
    return await _service(request, clock).versions(scope_id)


@router.put(
    "/{scope_id}/not-applicable/{kind}/{target_id}",
    response_model=ScopeOut,
    summary="Mark a control or criterion not applicable, with a justification",
)
async def mark_not_applicable(
    request: Request, scope_id: str, kind: Kind, target_id: str, body: NotApplicableIn, principal: Editor, clock: Now
) -> ScopeOut:
    return await _service(request, clock).mark_not_applicable(
        scope_id, kind.removesuffix("s"), target_id, body.justification, _who(principal), actor=principal
    )


@router.delete(
    "/{scope_id}/not-applicable/{kind}/{target_id}", response_model=ScopeOut, summary="Make it applicable again"
)
async def clear_not_applicable(
    request: Request, scope_id: str, kind: Kind, target_id: str, principal: Editor, clock: Now
) -> ScopeOut:
    return await _service(request, clock).clear_not_applicable(
        scope_id, kind.removesuffix("s"), target_id, _who(principal), actor=principal
    )


@router.get("/{scope_id}/periods", response_model=list[PeriodOut], summary="Audit periods of a scope")
async def list_periods(request: Request, scope_id: str, _: Reader, clock: Now) -> list[PeriodOut]:
    return (await _service(request, clock).get(scope_id)).periods


@router.post("/{scope_id}/periods", response_model=PeriodOut, status_code=201, summary="Add an audit period")
async def create_period(
    request: Request, scope_id: str, body: PeriodCreate, principal: Editor, clock: Now
) -> PeriodOut:
    return await _service(request, clock).create_period(scope_id, body, _who(principal), actor=principal)


@router.patch("/{scope_id}/periods/{period_id}", response_model=PeriodOut, summary="Edit an unlocked period")
async def update_period(
    request: Request, scope_id: str, period_id: str, body: PeriodUpdate, principal: Editor, clock: Now
) -> PeriodOut:
    return await _service(request, clock).update_period(scope_id, period_id, body, _who(principal), actor=principal)


@router.delete("/{scope_id}/periods/{period_id}", status_code=204, summary="Delete an unlocked period")
async def delete_period(request: Request, scope_id: str, period_id: str, principal: Editor, clock: Now) -> Response:
    await _service(request, clock).delete_period(scope_id, period_id, _who(principal), actor=principal)
    return Response(status_code=204)


@router.post(
    "/{scope_id}/periods/{period_id}/lock",
    response_model=PeriodOut,
    summary="Lock a period once its report is issued (admin); it never changes again",
)
async def lock_period(request: Request, scope_id: str, period_id: str, principal: Admin, clock: Now) -> PeriodOut:
    return await _service(request, clock).lock_period(scope_id, period_id, _who(principal), actor=principal)
