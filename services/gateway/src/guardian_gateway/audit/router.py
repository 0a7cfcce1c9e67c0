"""The audit log over REST: read it, page it, verify it. Admins and auditors only; editors change
things, and the record of changes is not theirs to read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from guardian_common.auth import Principal, Role
from guardian_common.errors import BadRequest, ErrorBody, Forbidden
from guardian_common.service import runtime_of
from guardian_gateway.audit.repository import Filters
from guardian_gateway.audit.schemas import AuditPage, HeadOut, VerifyOut
from guardian_gateway.audit.service import AuditService
from guardian_gateway.auth import authenticate
from guardian_gateway.clock import aware

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

READERS = frozenset({Role.ADMIN, Role.AUDITOR})
MAX_PAGE = 1000


async def audit_reader(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if principal.role not in READERS:
        raise Forbidden(
            f"The audit log is read by admins and auditors; the key has the {principal.role.value} role.",
            code="insufficient_role",
        )
    return principal


AuditReader = Annotated[Principal, Depends(audit_reader)]


def _utc(moment: datetime | None, name: str) -> datetime | None:
    if moment is None:
        return None
    try:
        return aware(moment).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadRequest(f"'{name}' is outside the range of dates the log can hold.", code="invalid_time") from exc


def _service(request: Request) -> AuditService:
    service: AuditService = runtime_of(request).extras["audit"]
    return service


@router.get("", response_model=AuditPage, summary="Audit entries in chain order, filtered and paged")
async def list_entries(
    request: Request,
    _: AuditReader,
    actor: Annotated[str | None, Query(max_length=200, description="Key id or name of who made the change")] = None,
    action: Annotated[
        str | None, Query(max_length=200, description="An action (scope.updated), or a prefix ending in * (scope.*)")
    ] = None,
    target: Annotated[str | None, Query(max_length=500, description="A target id, or type:id")] = None,
    since: Annotated[datetime | None, Query(alias="from", description="Changes at or after this time")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Changes before this time")] = None,
    after: Annotated[int, Query(ge=0, le=2**62, description="Entries after this seq (paging)")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AuditPage:
    since, until = _utc(since, "from"), _utc(until, "to")
    if since is not None and until is not None and until <= since:
        raise BadRequest("'to' must be later than 'from'.", code="invalid_time_range")
    for name, value in (("actor", actor), ("action", action), ("target", target)):
        if value is not None and "\x00" in value:
            raise BadRequest(f"'{name}' may not contain a NUL character.", code="invalid_filter")
    filters = Filters(actor=actor or None, action=action or None, target=target or None, since=since, until=until)
    return await _service(request).page(filters, after, limit)


@router.get("/head", response_model=HeadOut, summary="The last entry of the chain: what is exported")
async def chain_head(request: Request, _: AuditReader) -> HeadOut:
    return await _service(request).head()


@router.get(
    "/verify",
    response_model=VerifyOut,
    responses={503: {"model": ErrorBody, "description": "The exported chain heads could not be read"}},
    summary="Check the whole chain and the exported heads: intact, or the first broken entry and why",
)
async def verify_chain(request: Request, _: AuditReader) -> VerifyOut:
    return await _service(request).verify()
