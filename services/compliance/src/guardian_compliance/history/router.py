"""Monitoring history over REST: per-scan history, coverage, deviations, populations, drift, trends.

Every endpoint reads (auditors may read all of it). A period is a scope's audit period
(``period_id``) or ``from``/``to`` (dates or ISO 8601 times; a bare ``to`` date includes that day);
without either, the last 30 days.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from guardian_common.auth import Reader
from guardian_common.errors import BadRequest
from guardian_common.service import runtime_of
from guardian_compliance.clock import Now
from guardian_compliance.history.schemas import (
    ControlTimeline,
    CoverageOut,
    DeviationsOut,
    DriftOut,
    FindingHistoryList,
    PopulationOut,
    ScanDetail,
    ScanHistory,
    TrendsOut,
)
from guardian_compliance.history.service import (
    HistoryService,
    Period,
    parse_moment,
    population_csv_chunks,
    resolve_period,
)
from guardian_compliance.scope.model import DEFAULT_SCOPE, Scope
from guardian_compliance.scope.service import load_scope
from guardian_compliance.settings import ComplianceSettings

router = APIRouter(prefix="/api/v1", tags=["monitoring history"])

ScopeId = Annotated[str, Query(description="The scope (its boundary filters everything)")]
PeriodId = Annotated[str | None, Query(description="An audit period of the scope")]
From = Annotated[str | None, Query(alias="from", description="Start: a date or an ISO 8601 time")]
To = Annotated[str | None, Query(alias="to", description="End: a date (that day included) or an ISO 8601 time")]
Framework = Annotated[str, Query(description="Framework id")]


@asynccontextmanager
async def _service(request: Request, clock: Now) -> AsyncIterator[tuple[HistoryService, asyncpg.Connection]]:
    settings: ComplianceSettings = request.app.state.settings
    async with runtime_of(request).require_pool().acquire() as conn:
        yield (
            HistoryService(
                conn,
                clock.now(),
                window=timedelta(hours=settings.coverage_window_hours),
                sla_days=settings.sla_days,
                evidence_grace=timedelta(days=settings.evidence_grace_days),
            ),
            conn,
        )


async def _period(
    conn: asyncpg.Connection,
    svc: HistoryService,
    scope_id: str,
    period_id: str | None,
    start: str | None,
    end: str | None,
) -> Period:
    return await resolve_period(conn, scope_id, period_id, start, end, svc.now)


@router.get("/history/scans", response_model=ScanHistory, summary="Readiness and counts at each finalised scan")
async def scan_history(
    request: Request,
    _: Reader,
    clock: Now,
    scope_id: ScopeId = DEFAULT_SCOPE,
    period_id: PeriodId = None,
    start: From = None,
    end: To = None,
    framework: Framework = "soc2",
) -> ScanHistory:
    async with _service(request, clock) as (svc, conn):
        return await svc.scan_history(await _period(conn, svc, scope_id, period_id, start, end), framework)


@router.get(
    "/history/scans/{scan_id}",
    response_model=ScanDetail,
    summary="Each control's and requirement's status at one scan, with failures new and resolved since the last",
)
async def scan_detail(
    request: Request,
    scan_id: str,
    _: Reader,
    clock: Now,
    scope_id: ScopeId = DEFAULT_SCOPE,
    framework: Framework = "soc2",
) -> ScanDetail:
    async with _service(request, clock) as (svc, conn):
        return await svc.scan_detail(await load_scope(conn, scope_id), framework, scan_id)


@router.get(
    "/history/controls/{control_id}",
    response_model=ControlTimeline,
    summary="A control's status over a period, with the monitored part of each stretch",
)
async def control_timeline(
    request: Request,
    control_id: str,
    _: Reader,
    clock: Now,
    scope_id: ScopeId = DEFAULT_SCOPE,
    period_id: PeriodId = None,
    start: From = None,
    end: To = None,
    framework: Framework = "soc2",
) -> ControlTimeline:
    async with _service(request, clock) as (svc, conn):
        period = await _period(conn, svc, scope_id, period_id, start, end)
        return await svc.control_timeline(period, framework, control_id)


@router.get(
    "/history/findings",
    response_model=FindingHistoryList,
    summary="Findings' failure intervals: detected, resolved, reopened",
)
async def finding_history(
    request: Request,
    _: Reader,
    clock: Now,
    scope_id: ScopeId = DEFAULT_SCOPE,
    period_id: PeriodId = None,
    start: From = None,
    end: To = None,
    check_id: str | None = None,
    resource_arn: str | None = None,
    account_id: str | None = None,
) -> FindingHistoryList:
    async with _service(request, clock) as (svc, conn):
        period = await _period(conn, svc, scope_id, period_id, start, end)
        return await svc.finding_history(period, check_id, resource_arn, account_id)


@router.get(
    "/coverage",
    response_model=CoverageOut,
    summary="When each account, region and service was completely scanned; the rest is not monitored",
)
async def coverage(
    request: Request,
    _: Reader,
    clock: Now,
    scope_id: ScopeId = DEFAULT_SCOPE,
    period_id: PeriodId = None,
    start: From = None,
    end: To = None,
) -> CoverageOut:
    async with _service(request, clock) as (svc, conn):
        return await svc.coverage(await _period(conn, svc, scope_id, period_id, start, end))


@router.get(
    "/deviations",
    response_model=DeviationsOut,
    summary="Failure intervals per control with time to resolve against the SLA, acceptances and passing share",
)
async def deviations(
    request: Request,
    _: Reader,
    clock: Now,
    scope_id: ScopeId = DEFAULT_SCOPE,
    period_id: PeriodId = None,
    start: From = None,
    end: To = None,
    control_id: str | None = None,
    framework: Framework = "soc2",
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=10000,
            description="Page: at most this many deviations in items, with next_cursor, and on the first page"
            " per-control summaries (counted in the database). Without limit or cursor: every deviation of every"
            " control, in full, as before.",
        ),
    ] = None,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page (limit defaults to 1000 with a cursor)")
    ] = None,
) -> DeviationsOut:
    async with _service(request, clock) as (svc, conn):
        period = await _period(conn, svc, scope_id, period_id, start, end)
        return await svc.deviations(period, framework, control_id, limit=limit, cursor=cursor)


@router.get(
    "/populations",
    response_model=PopulationOut,
    summary="In-scope resources as of a moment, configured as they were then (JSON, pageable, or streamed CSV)",
    responses={200: {"content": {"text/csv": {}}}},
)
async def populations(
    request: Request,
    _: Reader,
    clock: Now,
    as_of: Annotated[str, Query(description="A date (its end) or an ISO 8601 time")],
    scope_id: ScopeId = DEFAULT_SCOPE,
    resource_type: str | None = None,
    format: Literal["json", "csv"] = "json",
    limit: Annotated[
        int | None,
        Query(ge=1, le=10000, description="JSON only: at most this many items, with next_cursor (total on page 1)"),
    ] = None,
    cursor: Annotated[str | None, Query(description="JSON only: next_cursor of the previous page")] = None,
) -> Response:
    moment = parse_moment(as_of, "as_of", end_of_day=True)
    if format == "csv":
        if limit is not None or cursor is not None:
            raise BadRequest("The CSV export is the whole population: limit and cursor are for JSON.", code="csv_paged")
        async with _service(request, clock) as (svc, conn):
            scope = await load_scope(conn, scope_id)
        name = f"population-{scope.id}-{moment.strftime('%Y%m%dT%H%M%SZ')}.csv"
        return StreamingResponse(
            _population_csv(request, clock, scope, moment, resource_type),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    async with _service(request, clock) as (svc, conn):
        # The service writes the PopulationOut JSON itself (see HistoryService.population).
        body = await svc.population(await load_scope(conn, scope_id), moment, resource_type, limit=limit, cursor=cursor)
    return Response(content=body, media_type="application/json")


async def _population_csv(
    request: Request, clock: Now, scope: Scope, moment: datetime, resource_type: str | None
) -> AsyncIterator[str]:
    """The export from a server-side cursor, a chunk of rows at a time, in one read-only transaction."""
    async with _service(request, clock) as (svc, conn), conn.transaction(isolation="repeatable_read", readonly=True):
        async for chunk in population_csv_chunks(svc.population_stream(scope, moment, resource_type)):
            yield chunk


@router.get(
    "/drift",
    response_model=DriftOut,
    summary="Field-level configuration changes, marking those that turned a check from PASS to FAIL",
)
async def drift(
    request: Request,
    _: Reader,
    clock: Now,
    scope_id: ScopeId = DEFAULT_SCOPE,
    period_id: PeriodId = None,
    start: From = None,
    end: To = None,
    account_id: str | None = None,
    resource_type: str | None = None,
    resource_arn: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> DriftOut:
    async with _service(request, clock) as (svc, conn):
        period = await _period(conn, svc, scope_id, period_id, start, end)
        return await svc.drift(
            period, account_id=account_id, resource_type=resource_type, resource_arn=resource_arn, limit=limit
        )


@router.get("/trends", response_model=TrendsOut, summary="Readiness and per-category pass rate, daily or weekly")
async def trends(
    request: Request,
    _: Reader,
    clock: Now,
    scope_id: ScopeId = DEFAULT_SCOPE,
    period_id: PeriodId = None,
    start: From = None,
    end: To = None,
    framework: Framework = "soc2",
    granularity: Literal["day", "week"] = "day",
) -> TrendsOut:
    async with _service(request, clock) as (svc, conn):
        period = await _period(conn, svc, scope_id, period_id, start, end)
        return await svc.trends(period, framework, granularity)
