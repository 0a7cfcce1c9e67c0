"""The control matrix: list, read with history, create, edit, retire, import and export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from guardian_common.auth import Editor, Principal, Reader
from guardian_common.errors import BadRequest
from guardian_common.service import runtime_of
from guardian_compliance.clock import Now
from guardian_compliance.controls.library import LibraryUpdateService, UpdateState
from guardian_compliance.controls.schemas import (
    ControlCreate,
    ControlHistory,
    ControlListOut,
    ControlOut,
    ControlUpdate,
    ImportResult,
    LibraryDecisionIn,
    LibraryUpdateList,
    LibraryUpdateOut,
    RetireIn,
)
from guardian_compliance.controls.service import ControlService, Format

router = APIRouter(prefix="/api/v1/controls", tags=["controls"])

MEDIA = {"csv": "text/csv; charset=utf-8", "yaml": "application/yaml; charset=utf-8"}
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _service(request: Request, clock: Now) -> ControlService:
    return ControlService(runtime_of(request).require_pool(), clock)


def _who(principal: Principal) -> str:
    return principal.name or principal.key_id


@router.get("", response_model=ControlListOut, summary="The control matrix")
async def list_controls(request: Request, _: Reader, clock: Now, include_retired: bool = False) -> ControlListOut:
    items = await _service(request, clock).list(include_retired)
    return ControlListOut(total=len(items), items=items)


@router.get(
    "/export",
    summary="The control matrix as CSV or YAML",
    response_class=Response,
    responses={200: {"content": {MEDIA["csv"]: {}, MEDIA["yaml"]: {}}}},
)
async def export_controls(
    request: Request, _: Reader, clock: Now, format: Annotated[Format, Query()] = "yaml"
) -> Response:
    text = await _service(request, clock).export(format)
    return Response(
        text,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="controls.{format}"'},
    )


# Library update notes: declared before /{control_id} so "library-updates" is never read as a control id.


@router.get(
    "/library-updates",
    response_model=LibraryUpdateList,
    summary="Bundled library updates for controls the company edited (review, then accept or dismiss)",
)
async def list_library_updates(
    request: Request,
    _: Reader,
    clock: Now,
    state: UpdateState | None = None,
    control_id: str | None = None,
) -> LibraryUpdateList:
    return await LibraryUpdateService(runtime_of(request).require_pool(), clock).list(state, control_id)


@router.post(
    "/library-updates/{update_id}/accept",
    response_model=LibraryUpdateOut,
    summary="Apply a library update's additions to its control (a new version)",
)
async def accept_library_update(
    request: Request, update_id: str, principal: Editor, clock: Now, body: LibraryDecisionIn | None = None
) -> LibraryUpdateOut:
    service = LibraryUpdateService(runtime_of(request).require_pool(), clock)
    return await service.accept(update_id, principal, body.note if body else None)


@router.post(
    "/library-updates/{update_id}/dismiss",
    response_model=LibraryUpdateOut,
    summary="Keep the control as it is; the same additions are not proposed again",
)
async def dismiss_library_update(
    request: Request, update_id: str, principal: Editor, clock: Now, body: LibraryDecisionIn | None = None
) -> LibraryUpdateOut:
    service = LibraryUpdateService(runtime_of(request).require_pool(), clock)
    return await service.dismiss(update_id, principal, body.note if body else None)


@router.post(
    "/import",
    response_model=ImportResult,
    summary="Import controls from CSV or YAML; all or nothing, errors name their line",
    openapi_extra={"requestBody": {"content": {MEDIA["csv"]: {}, MEDIA["yaml"]: {}}, "required": True}},
)
async def import_controls(
    request: Request, principal: Editor, clock: Now, format: Annotated[Format, Query()] = "yaml"
) -> ImportResult:
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise BadRequest("The import is larger than 5 MiB.", code="import_too_large")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest("The import is not UTF-8 text.", code="invalid_import") from exc
    return await _service(request, clock).import_(format, text, _who(principal), actor=principal)


@router.post("", response_model=ControlOut, status_code=201, summary="Add a control")
async def create_control(request: Request, body: ControlCreate, principal: Editor, clock: Now) -> ControlOut:
    return await _service(request, clock).create(body, _who(principal), actor=principal)


@router.get("/{control_id}", response_model=ControlHistory, summary="One control with every version")
async def get_control(request: Request, control_id: str, _: Reader, clock: Now) -> ControlHistory:
    return await _service(request, clock).get(control_id)


@router.patch("/{control_id}", response_model=ControlOut, summary="Edit a control (a new version)")
async def update_control(
    request: Request, control_id: str, body: ControlUpdate, principal: Editor, clock: Now
) -> ControlOut:
    return await _service(request, clock).update(control_id, body, _who(principal), actor=principal)


@router.post("/{control_id}/retire", response_model=ControlOut, summary="Retire a control (never deleted)")
async def retire_control(
    request: Request, control_id: str, principal: Editor, clock: Now, body: RetireIn | None = None
) -> ControlOut:
    return await _service(request, clock).retire(
        control_id, body.note if body else None, _who(principal), actor=principal
    )
