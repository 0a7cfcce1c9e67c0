from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from guardian_common.auth import Admin, Editor, Reader
from guardian_common.service import runtime_of
from guardian_evidence.items.schemas import (
    EvidenceIndex,
    EvidenceType,
    ItemList,
    ItemOut,
    LockIn,
    ReviewIn,
    TombstoneList,
    TombstoneOut,
)
from guardian_evidence.items.service import EvidenceService
from guardian_evidence.validity import Status

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string"},
                        "description": {"type": "string"},
                        "type": {"type": "string", "enum": [t.value for t in EvidenceType]},
                        "owner": {"type": "string"},
                        "control": {"type": "array", "items": {"type": "string"}},
                        "frequency": {"type": "string"},
                        "period_label": {"type": "string"},
                        "period_start": {"type": "string", "format": "date"},
                        "period_end": {"type": "string", "format": "date"},
                    },
                }
            }
        },
    }
}
_VERSION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "evidence_too_large"},
    415: {"description": "media_type_not_allowed"},
}

ItemId = Annotated[str, Path(pattern=r"^ev-[0-9a-f]{16}$")]


def _service(request: Request) -> EvidenceService:
    service: EvidenceService = runtime_of(request).extras["evidence"]
    return service


@router.post(
    "",
    response_model=ItemOut,
    status_code=201,
    summary="Create an evidence item with its first version (multipart: metadata fields and 'file')",
    openapi_extra=_UPLOAD_BODY,
    responses=_UPLOAD_ERRORS,
)
async def create_item(request: Request, principal: Editor) -> ItemOut:
    return await _service(request).create(
        principal, request.headers.get("content-type"), request.headers.get("content-length"), request.stream()
    )


@router.get("", response_model=ItemList, summary="Search evidence")
async def list_items(
    request: Request,
    _: Reader,
    control: str | None = None,
    type: EvidenceType | None = None,
    owner: str | None = None,
    status: Status | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in title, description, period, file name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ItemList:
    return await _service(request).search(
        control=control,
        evidence_type=type.value if type else None,
        owner=owner,
        status=status,
        text=q,
        limit=limit,
        offset=offset,
    )


@router.get("/index", response_model=EvidenceIndex, summary="Which version was current when, over an audit period")
async def period_index(
    request: Request,
    _: Reader,
    from_: Annotated[date, Query(alias="from")],
    to: date,
    control: str | None = None,
) -> EvidenceIndex:
    return await _service(request).index(from_, to, control)


@router.get("/deletions", response_model=TombstoneList, summary="Deleted evidence: who, when, why and what")
async def deletions(request: Request, _: Reader) -> TombstoneList:
    return await _service(request).tombstones()


@router.get("/{item_id}", response_model=ItemOut, summary="An evidence item with its versions and reviews")
async def get_item(request: Request, item_id: ItemId, _: Reader) -> ItemOut:
    return await _service(request).get(item_id)


@router.post(
    "/{item_id}/versions",
    response_model=ItemOut,
    status_code=201,
    summary="Upload a new version (supersedes the previous ones once accepted)",
    openapi_extra=_VERSION_BODY,
    responses=_UPLOAD_ERRORS,
)
async def add_version(request: Request, item_id: ItemId, principal: Editor) -> ItemOut:
    return await _service(request).add_version(
        item_id,
        principal,
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
    )


@router.get(
    "/{item_id}/versions/{version}/content",
    summary="Download a version; its SHA-256 is verified first (409 evidence_corrupted when it does not match)",
    response_class=StreamingResponse,
)
async def download(
    request: Request, item_id: ItemId, version: Annotated[int, Path(ge=1)], _: Reader
) -> StreamingResponse:
    service = _service(request)
    served = await service.version_to_serve(item_id, version)
    return StreamingResponse(
        service.stream(served),
        media_type=served.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(served.filename, safe='')}",
            "Content-Length": str(served.size_bytes),
            "X-Evidence-SHA256": served.sha256,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/{item_id}/versions/{version}/review", response_model=ItemOut, summary="Accept or reject a version")
async def review(
    request: Request, item_id: ItemId, version: Annotated[int, Path(ge=1)], body: ReviewIn, principal: Editor
) -> ItemOut:
    return await _service(request).review(item_id, version, principal, body)


@router.put("/{item_id}/lock", response_model=ItemOut, summary="Keep the item until a date (a locked audit period)")
async def lock(request: Request, item_id: ItemId, body: LockIn, principal: Admin) -> ItemOut:
    return await _service(request).lock(item_id, principal, body)


@router.delete("/{item_id}", response_model=TombstoneOut, summary="Delete an item, leaving a tombstone")
async def delete_item(
    request: Request,
    item_id: ItemId,
    principal: Editor,
    reason: Annotated[str, Query(min_length=1, max_length=2000)],
) -> TombstoneOut:
    return await _service(request).delete(item_id, principal, reason)
