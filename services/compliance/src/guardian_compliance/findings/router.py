from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from guardian_common.auth import Reader
from guardian_common.errors import BadRequest
from guardian_common.service import runtime_of
from guardian_compliance.acceptances.repository import AcceptanceRepository
from guardian_compliance.clock import Now
from guardian_compliance.findings import queries
from guardian_compliance.posture.service import ScopedFinding, cover
from guardian_compliance.scope.service import load_scope

router = APIRouter(prefix="/api/v1/findings", tags=["findings"])

DisplayStatus = Literal["PASS", "FAIL", "ERROR", "ACCEPTED"]
_SERVICE = re.compile(r"^[a-z0-9-]{1,64}$")


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


Severity = Literal["critical", "high", "medium", "low", "info"]


async def _listed(
    conn: asyncpg.Connection,
    where: queries.FindingFilter,
    status: DisplayStatus | None,
    now: datetime,
    sort: queries.Sort,
    limit: int,
    offset: int,
) -> tuple[int, list[ScopedFinding]]:
    """One page of findings and the number matching, with the display status decided per finding.

    Only FAIL findings are ever accepted, so only a FAIL or ACCEPTED filter depends on acceptances:
    the failures a rule in force covers everywhere are found first (few rows), then FAIL pages the
    rest in SQL and ACCEPTED pages those.
    """
    rules = await AcceptanceRepository(conn).approved_rules(now)
    if status in ("FAIL", "ACCEPTED"):
        candidates = await queries.acceptance_candidates(conn, where, rules, sort=sort)
        accepted = [
            f for f in (ScopedFinding(r, cover(rules, r)) for r in candidates) if f.display_status == "ACCEPTED"
        ]
        if status == "ACCEPTED":
            return len(accepted), accepted[offset : offset + limit]
        where = replace(where, exclude=[(f.row["check_id"], f.row["resource_arn"]) for f in accepted])
    total = await queries.count(conn, where)
    rows = await queries.page(conn, where, sort=sort, limit=limit, offset=offset) if offset < total else []
    return total, [ScopedFinding(r, cover(rules, r)) for r in rows]


@router.get("", response_model=FindingList, summary="Current findings, filtered, sorted and paged")
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
    severity: Annotated[list[Severity] | None, Query(description="Any of these severities")] = None,
    service: Annotated[
        list[str] | None, Query(description="Any of these AWS services (s3, ec2, ...)", max_length=50)
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Text in the resource name or ARN, the check id, the reason or the resource type",
        ),
    ] = None,
    sort: Annotated[queries.Sort, Query(description="Order of the list; every order is stable")] = "status",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FindingList:
    if service is not None and any(not _SERVICE.match(s) for s in service):
        raise BadRequest("service must be an AWS service name such as s3 or ec2.", code="invalid_service")
    text = q.strip() if q is not None else None
    stored_status = "FAIL" if status == "ACCEPTED" else status
    async with runtime_of(request).require_pool().acquire() as conn:
        boundary = await load_scope(conn, scope) if scope is not None else None
        where = queries.FindingFilter(
            scope=boundary,
            statuses=[stored_status] if stored_status is not None else None,
            check_ids=check_id,
            severities=severity,
            services=service,
            resource_type=resource_type,
            account_id=account_id,
            region=region,
            text=text or None,
            include_closed=include_closed,
        )
        total, page = await _listed(conn, where, status, clock.now(), sort, limit, offset)
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
    return FindingList(total=total, limit=limit, offset=offset, items=items)
