from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from guardian_common.auth import Reader
from guardian_common.errors import NotFound
from guardian_common.service import runtime_of
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.scans.repository import ScanRepository

router = APIRouter(prefix="/api/v1", tags=["scans"])


class UnitOut(BaseModel):
    region: str
    service: str
    status: str
    snapshots: int
    errors: int
    first_error: str | None


class ScanOut(BaseModel):
    scan_id: str
    account_id: str | None
    regions: list[str]
    services: list[str]
    state: str
    final: bool
    partial: bool
    total_snapshots: int | None
    evaluated: int
    started_at: datetime | None
    collected_at: datetime | None
    finalised_at: datetime | None
    missing: dict[str, Any] | None
    dead_letters: int
    units: list[UnitOut]
    readiness: dict[str, Any]


class ScanList(BaseModel):
    items: list[ScanOut]


class DeadLetterOut(BaseModel):
    event_id: str
    consumer: str
    source_subject: str
    reason: str
    scan_id: str | None
    seq: int | None
    arn: str | None
    resource_type: str | None
    dead_lettered_at: datetime


def _scan(row: Any, units: list[Any], dead: int, readiness: dict[str, Any]) -> ScanOut:
    return ScanOut(
        scan_id=row["scan_id"],
        account_id=row["account_id"],
        regions=list(row["regions"] or []),
        services=list(row["services"] or []),
        state=row["state"],
        final=row["state"] in ("final", "incomplete"),
        partial=row["partial"],
        total_snapshots=row["total_snapshots"],
        evaluated=row["evaluated"],
        started_at=row["started_at"],
        collected_at=row["collected_at"],
        finalised_at=row["finalised_at"],
        missing=row["missing"],
        dead_letters=dead,
        units=[UnitOut(**{k: u[k] for k in UnitOut.model_fields}) for u in units],
        readiness=readiness,
    )


@router.get("/scans/{scan_id}", response_model=ScanOut, summary="A scan's evaluation and final state")
async def get_scan(request: Request, scan_id: str, _: Reader) -> ScanOut:
    async with runtime_of(request).require_pool().acquire() as conn:
        repo = ScanRepository(conn)
        row = await repo.get(scan_id)
        if row is None:
            raise NotFound(f"No scan has the id {scan_id!r}.", code="scan_not_found")
        units = await repo.units(scan_id)
        dead = await repo.dead_letter_count(scan_id)
        results = await PostureRepository(conn).for_scan(scan_id)
    return _scan(row, units, dead, {r["framework_id"]: r["readiness"] for r in results})


@router.get("/scans", response_model=ScanList, summary="Recent scans as compliance sees them")
async def list_scans(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ScanList:
    async with runtime_of(request).require_pool().acquire() as conn:
        rows = await ScanRepository(conn).recent(limit)
    return ScanList(items=[_scan(r, [], 0, {}) for r in rows])


@router.get("/dead-letters", response_model=list[DeadLetterOut], summary="Messages that could not be processed")
async def dead_letters(
    request: Request, _: Reader, scan_id: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[DeadLetterOut]:
    async with runtime_of(request).require_pool().acquire() as conn:
        rows = await ScanRepository(conn).dead_letters(scan_id, limit)
    return [DeadLetterOut(**{k: r[k] for k in DeadLetterOut.model_fields}) for r in rows]
