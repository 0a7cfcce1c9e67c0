from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from guardian_common.auth import Reader
from guardian_common.service import runtime_of
from guardian_compliance.clock import Now
from guardian_compliance.posture.service import scoped_findings
from guardian_compliance.scope.service import load_scope

router = APIRouter(prefix="/api/v1/findings", tags=["findings"])

DisplayStatus = Literal["PASS", "FAIL", "ERROR", "ACCEPTED"]


class FindingOut(BaseModel):
    check_id: str
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    service: str
    # ACCEPTED: the check fails, and a risk acceptance in force covers it (evaluated_status says FAIL).
    status: DisplayStatus
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
    evaluated_status: Literal["PASS", "FAIL", "ERROR"]
    acceptance_id: str | None = None
    accepted_by: str | None = None
    # Acceptances scoped to one control: the finding is accepted there, and still fails elsewhere.
    accepted_for_controls: dict[str, str] = Field(default_factory=dict)


class FindingList(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[FindingOut]


@router.get("", response_model=FindingList, summary="Current findings, filtered")
async def list_findings(
    request: Request,
    _: Reader,
    clock: Now,
    status: DisplayStatus | None = None,
    check_id: Annotated[list[str] | None, Query()] = None,
    resource_type: str | None = None,
    account_id: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    region: str | None = None,
    include_closed: bool = False,
    scope: Annotated[str | None, Query(description="Only findings inside this scope's boundary")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FindingList:
    stored_status = "FAIL" if status == "ACCEPTED" else status
    async with runtime_of(request).require_pool().acquire() as conn:
        boundary = await load_scope(conn, scope) if scope is not None else None
        found, _rules = await scoped_findings(
            conn,
            boundary,
            clock.now(),
            status=stored_status,
            check_ids=check_id,
            resource_type=resource_type,
            account_id=account_id,
            region=region,
            include_closed=include_closed,
        )
    if status is not None:
        found = [f for f in found if f.display_status == status]
    page = found[offset : offset + limit]
    items = []
    for f in page:
        rule = f.coverage.everywhere
        items.append(
            FindingOut.model_validate(
                {
                    **{k: v for k, v in f.row.items() if k in FindingOut.model_fields},
                    "status": f.display_status,
                    "evaluated_status": f.row["status"],
                    "acceptance_id": rule.id if rule else None,
                    "accepted_by": rule.approver if rule else None,
                    "accepted_for_controls": {c: r.id for c, r in sorted(f.coverage.per_control.items())},
                }
            )
        )
    return FindingList(total=len(found), limit=limit, offset=offset, items=items)
