"""The register of issued reports: every export and package handed out, with the SHA-256 of its bytes.

An auditor holding a PDF or a package can ask whether this deployment issued exactly those bytes, to
whom and when (``GET /api/v1/reports/issued?sha256=...``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from guardian_common import db
from guardian_common.auth import Reader
from guardian_common.service import runtime_of


@dataclass(frozen=True)
class IssuedIn:
    scope_id: str
    framework_id: str
    period: str | None
    at_time: datetime | None
    format: str
    table_name: str | None
    filename: str
    content: bytes
    generated_by: str
    generated_at: datetime


class IssuedOut(BaseModel):
    id: int
    scope_id: str
    framework_id: str
    period: str | None
    at_time: datetime | None
    format: str
    table_name: str | None
    filename: str
    sha256: str
    size_bytes: int
    generated_by: str
    generated_at: datetime


class IssuedList(BaseModel):
    items: list[IssuedOut]


async def record_issue(request: Request, issued: IssuedIn) -> None:
    pool = runtime_of(request).require_pool()
    async with db.transaction(pool) as conn:
        await conn.execute(
            "INSERT INTO issued_reports (scope_id, framework_id, period, at_time, format, table_name, filename,"
            " sha256, size_bytes, generated_by, generated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            issued.scope_id,
            issued.framework_id,
            issued.period,
            issued.at_time,
            issued.format,
            issued.table_name,
            issued.filename,
            hashlib.sha256(issued.content).hexdigest(),
            len(issued.content),
            issued.generated_by,
            issued.generated_at,
        )


router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get("/issued", response_model=IssuedList, summary="Reports and packages this deployment issued")
async def issued_reports(
    request: Request,
    _: Reader,
    scope: Annotated[str | None, Query(max_length=63)] = None,
    sha256: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> IssuedList:
    pool = runtime_of(request).require_pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM issued_reports WHERE ($1::text IS NULL OR scope_id = $1)"
            " AND ($2::text IS NULL OR sha256 = $2) ORDER BY generated_at DESC, id DESC LIMIT $3",
            scope,
            sha256,
            limit,
        )
    return IssuedList(items=[IssuedOut(**dict(r)) for r in rows])
