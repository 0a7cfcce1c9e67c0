"""The Compliance Dashboard: server-rendered pages under ``/dashboard``.

Every page needs a principal (auditor or above); behind the gateway that is the signed
``X-Guardian-Principal`` of the signed-in user, and every upstream read is made on that user's
behalf. The pages are left out of the OpenAPI document: they are HTML for people, not API.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from guardian_common.auth import Principal, Role, require
from guardian_common.errors import BadRequest, GuardianError, NotFound
from guardian_reporting.settings import ReportingSettings
from guardian_reporting.sources import Scope, Sources
from guardian_reporting.web import views
from guardian_reporting.web.cache import ReadCache
from guardian_reporting.web.render import BASE, Frame, environment, render, static_dir
from guardian_reporting.web.timing import CURRENT, PageTiming, TimedTransport

_STATIC_NAME = re.compile(r"^[a-z0-9_-]+\.(css|js)$")
_MEDIA = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One pooled HTTP client for every page's upstream reads (a client per request costs a TLS context)."""
    settings: ReportingSettings = app.state.settings
    # Idle connections are dropped before uvicorn's 5 s keep-alive would drop them under us.
    transport = TimedTransport(httpx.AsyncHTTPTransport(limits=httpx.Limits(keepalive_expiry=2.0)))
    async with httpx.AsyncClient(timeout=settings.upstream_timeout_seconds, transport=transport) as client:
        app.state.dashboard_http = client
        app.state.dashboard_cache = ReadCache(settings.dashboard_cache_seconds)
        yield


router = APIRouter(prefix=BASE, include_in_schema=False, lifespan=_lifespan)

Viewer = Annotated[Principal, require(Role.AUDITOR)]


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def _sources(request: Request, principal: Viewer) -> AsyncIterator[Sources]:
    settings: ReportingSettings = request.app.state.settings
    client: httpx.AsyncClient | None = getattr(request.app.state, "dashboard_http", None)
    async with Sources.for_user(settings, principal, api_key=_api_key(request), client=client) as src:
        yield src


Src = Annotated[Sources, Depends(_sources)]


async def _frame(request: Request, src: Sources, principal: Principal, active: str, **params: str | None) -> Frame:
    scopes = await src.scopes()
    if not scopes:
        raise NotFound("There is no scope yet: create one in compliance first.", code="scope_not_found")
    wanted = request.query_params.get("scope") or "default"
    scope: Scope | None = next((s for s in scopes if s.id == wanted), None)
    if scope is None:
        raise NotFound(f"There is no scope {wanted!r}.", code="scope_not_found")
    period_id = request.query_params.get("period") or None
    period = scope.period(period_id) if period_id else None
    clean = {k: v for k, v in params.items() if v is not None and v != ""}
    cache: ReadCache = getattr(request.app.state, "dashboard_cache", None) or ReadCache(0)
    return Frame(
        cache=cache,
        principal=principal,
        scopes=scopes,
        scope=scope,
        period=period,
        path=request.url.path,
        active=active,
        params=clean,
    )


async def _page(build: Callable[[], Awaitable[str]]) -> HTMLResponse:
    """Render a page; a known error (bad filter, unknown control or scope) becomes an HTML error page."""
    timing = PageTiming()
    token = CURRENT.set(timing)
    try:
        body = await build()
        return HTMLResponse(body, headers={"Server-Timing": timing.header()})
    except GuardianError as exc:
        body = (
            environment()
            .get_template("dashboard/error.html")
            .render(
                title="Something is not right" if exc.status >= 500 else "Cannot show this page",
                status=exc.status,
                code=exc.code,
                detail=exc.detail,
                home=BASE,
                static_url=lambda name: f"{BASE}/static/{name}",
            )
        )
        return HTMLResponse(body, status_code=exc.status)
    finally:
        CURRENT.reset(token)


@router.get("/", response_class=RedirectResponse)
async def slash(request: Request, _: Viewer) -> RedirectResponse:
    query = request.url.query
    return RedirectResponse(BASE + (f"?{query}" if query else ""), status_code=307)


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request,
    principal: Viewer,
    src: Src,
    category: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    q: str | None = None,
) -> HTMLResponse:
    async def build() -> str:
        frame = await _frame(request, src, principal, "overview", category=category, status=status, owner=owner, q=q)
        data = await views.overview(src, frame, category=category, status=status, owner=owner, q=views.text(q))
        return render(
            "dashboard/overview.html",
            frame,
            "Overview",
            data=data,
            statuses=[(s, s.replace("_", " ").title()) for s in views.CONTROL_STATUSES],
            q=q or "",
        )

    return await _page(build)


@router.get("/controls/{control_id}", response_class=HTMLResponse)
async def control(
    request: Request, control_id: str, principal: Viewer, src: Src, offset: str | None = None
) -> HTMLResponse:
    async def build() -> str:
        frame = await _frame(request, src, principal, "overview")
        data = await views.control_page(src, frame, control_id, views.offset_of(offset))
        return render(
            "dashboard/control.html",
            frame,
            f"Control {data.detail.control.id}: {data.detail.control.title}",
            data=data,
        )

    return await _page(build)


@router.get("/findings", response_class=HTMLResponse)
async def findings(
    request: Request,
    principal: Viewer,
    src: Src,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    account: str | None = None,
    region: str | None = None,
    check: str | None = None,
    q: str | None = None,
    offset: str | None = None,
) -> HTMLResponse:
    async def build() -> str:
        params = {
            "status": status,
            "severity": severity,
            "service": service,
            "account": account,
            "region": region,
            "check": check,
            "q": q,
        }
        frame = await _frame(request, src, principal, "findings", **params)
        data = await views.findings_page(src, frame, **{**params, "q": views.text(q)}, offset=views.offset_of(offset))
        return render(
            "dashboard/findings.html",
            frame,
            "Findings",
            data=data,
            statuses=[(s, s.title()) for s in views.FINDING_STATUSES],
            severities=[(s, s.title()) for s in views.SEVERITIES],
            q=q or "",
        )

    return await _page(build)


@router.get("/encryption", response_class=HTMLResponse)
async def encryption(
    request: Request,
    principal: Viewer,
    src: Src,
    state: str | None = None,
    resource_type: str | None = None,
    account: str | None = None,
    region: str | None = None,
    offset: str | None = None,
) -> HTMLResponse:
    async def build() -> str:
        params = {"state": state, "resource_type": resource_type, "account": account, "region": region}
        frame = await _frame(request, src, principal, "encryption", **params)
        data = await views.encryption_page(src, frame, **params, offset=views.offset_of(offset))
        return render(
            "dashboard/encryption.html",
            frame,
            "Encryption at rest",
            data=data,
            states=[(s, s.title()) for s in (*views.ENCRYPTION_STATES, "all")],
        )

    return await _page(build)


@router.get("/scans", response_class=HTMLResponse)
async def scans(request: Request, principal: Viewer, src: Src) -> HTMLResponse:
    async def build() -> str:
        frame = await _frame(request, src, principal, "scans")
        rows = await views.scan_rows(src, frame)
        return render("dashboard/scans.html", frame, "Scans", rows=rows)

    return await _page(build)


@router.get("/scans/{scan_id}/progress", response_class=HTMLResponse)
async def scan_progress(scan_id: str, _: Viewer, src: Src) -> HTMLResponse:
    """One scan's progress as an HTML fragment: what the scans page's polling script swaps in."""

    async def build() -> str:
        row = await views.scan_row(src, scan_id)
        return environment().get_template("dashboard/_scan_row.html").render(row=row)

    return await _page(build)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The dashboard's stylesheet and its one small script; no credential needed, nothing else served."""
    if not _STATIC_NAME.match(name):
        raise BadRequest("Not a dashboard asset name.", code="invalid_asset")
    path = static_dir() / name
    exists = await asyncio.to_thread(path.is_file)
    if not exists:
        raise NotFound(f"No dashboard asset {name!r}.", code="asset_not_found")
    extension = name.rsplit(".", 1)[1]
    return FileResponse(path, media_type=_MEDIA[extension], headers={"Cache-Control": "public, max-age=3600"})
