"""Reports over REST: ``/api/v1/reports/...``. Any role may read and download (auditors included)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from guardian_common.auth import Reader
from guardian_common.errors import ERROR_RESPONSES
from guardian_reporting.issued import IssuedIn, record_issue
from guardian_reporting.package import fingerprint, key_path, load_or_create_signing_key, public_pem
from guardian_reporting.report.build import ReportBuilder, ReportRequest
from guardian_reporting.report.exports import Format, auditor_package, render
from guardian_reporting.report.model import report_schema
from guardian_reporting.report.tables import Table
from guardian_reporting.settings import ReportingSettings
from guardian_reporting.sources import DEFAULT_FRAMEWORK, Sources

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {
        "description": "The report in the format asked for, as an attachment",
        "content": {
            "application/json": {},
            "application/pdf": {},
            "text/csv": {},
            "application/zip": {},
        },
    },
    502: {"description": "upstream_unavailable: a service the report reads from failed"},
}


def _now(request: Request) -> datetime:
    """The reporting clock: tests put a fixed one on ``app.state.reporting_clock``."""
    clock = getattr(request.app.state, "reporting_clock", None)
    return clock() if callable(clock) else datetime.now(UTC)


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def signing_key(request: Request) -> Ed25519PrivateKey:
    """The deployment's key, loaded (or created, mode 0600) once per app."""
    cached = getattr(request.app.state, "report_signing_key", None)
    if isinstance(cached, Ed25519PrivateKey):
        return cached
    settings: ReportingSettings = request.app.state.settings
    # Two first requests at once may both load it: creation is O_EXCL, so both get the same key.
    key = await asyncio.to_thread(load_or_create_signing_key, key_path(settings))
    request.app.state.report_signing_key = key
    return key


@router.get("/schema", summary="The JSON Schema of a report (format=json)")
async def schema(_: Reader) -> dict[str, Any]:
    return report_schema()


@router.get(
    "/signing-key",
    summary="The deployment's Ed25519 public key that signs auditor packages (PEM)",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
async def public_signing_key(request: Request, _: Reader) -> Response:
    key = await signing_key(request)
    return Response(
        public_pem(key),
        media_type="application/x-pem-file",
        headers={
            "X-Key-SHA256": fingerprint(key),
            "Content-Disposition": 'inline; filename="guardian-signing-key.pem"',
        },
    )


@router.get(
    "/scopes/{scope_id}",
    summary="A report for a scope, now, at a point in time or over an audit period",
    response_class=Response,
    responses=_FILE_RESPONSES,
)
async def report(
    request: Request,
    principal: Reader,
    scope_id: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")],
    format: Annotated[Format, Query(description="json, pdf, csv, ocsf or package (the signed zip)")] = "json",
    table: Annotated[
        Table | None, Query(description="With format=csv: controls, findings, deviations, populations")
    ] = None,
    period: Annotated[str | None, Query(description="An audit period of the scope (id or name)")] = None,
    at: Annotated[datetime | None, Query(description="A point in time with a time zone; default now")] = None,
    framework: Annotated[str, Query(pattern=r"^[a-z0-9_]{1,40}$")] = DEFAULT_FRAMEWORK,
) -> Response:
    settings: ReportingSettings = request.app.state.settings
    wanted = ReportRequest(scope_id=scope_id, framework_id=framework, period_id=period, at=at)
    if format == "csv" and table is None:
        table = "controls"
    async with Sources.for_user(settings, principal, api_key=_api_key(request)) as sources:
        built = await ReportBuilder(sources, generated_by=principal.name or principal.key_id, now=_now(request)).build(
            wanted
        )
        if format == "package":
            rendered = await auditor_package(built, sources, await signing_key(request))
        else:
            rendered = render(built, format, table)
    body = rendered.content
    if format == "json":
        response: Response = JSONResponse(
            built.model_dump(mode="json"),
            headers={"Content-Disposition": f'inline; filename="{rendered.filename}"'},
        )
        body = bytes(response.body)
    await record_issue(
        request,
        IssuedIn(
            scope_id=scope_id,
            framework_id=framework,
            period=period,
            at_time=at,
            format=format,
            table_name=table if format == "csv" else None,
            filename=rendered.filename,
            content=body,
            generated_by=principal.name or principal.key_id,
            generated_at=_now(request),
        ),
    )
    if format == "json":
        return response
    return Response(
        rendered.content,
        media_type=rendered.media_type,
        headers={"Content-Disposition": f'attachment; filename="{rendered.filename}"'},
    )
