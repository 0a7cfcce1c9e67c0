from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from guardian_common.auth import Reader
from guardian_common.service import runtime_of
from guardian_compliance.findings.repository import FindingRepository

router = APIRouter(prefix="/api/v1/findings", tags=["findings"])


class FindingOut(BaseModel):
    check_id: str
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    service: str
    status: Literal["PASS", "FAIL", "ERROR"]
    severity: str
    reason: str
    evidence: dict[str, Any]
    check_version: int
    observed_at: datetime
    first_seen: datetime
    last_seen: datetime
    status_since: datetime
    last_scan_id: str
    state: Literal["active", "stale", "closed"]
    closed_at: datetime | None


class FindingList(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[FindingOut]


@router.get("", response_model=FindingList, summary="Current findings, filtered")
async def list_findings(
    request: Request,
    _: Reader,
    status: Literal["PASS", "FAIL", "ERROR"] | None = None,
    check_id: Annotated[list[str] | None, Query()] = None,
    resource_type: str | None = None,
    account_id: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    region: str | None = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FindingList:
    async with runtime_of(request).require_pool().acquire() as conn:
        total, rows = await FindingRepository(conn).list(
            status=status,
            check_ids=check_id,
            resource_type=resource_type,
            account_id=account_id,
            region=region,
            include_closed=include_closed,
            limit=limit,
            offset=offset,
        )
    items = [FindingOut.model_validate({k: r[k] for k in FindingOut.model_fields}) for r in rows]
    return FindingList(total=total, limit=limit, offset=offset, items=items)
