"""The Action Centre pages under ``/dashboard/actions``: the remediation catalogue, plans, and plain
HTML forms for the steps the signed-in user's role may take (plan, approve or reject, run, verify).

Every read and change goes to the remediation service on behalf of that user, as the dashboard's
reads go to compliance: the user's principal signed with the internal secret (without one, the
user's own API key). Remediation applies the roles itself (auditor reads, editor plans, runs and
verifies, an admin other than the requester approves); the pages only leave out the forms a role
cannot use. Behind the gateway a form post is authenticated by the session cookie and carries the
session's CSRF token in the ``csrf_token`` field, copied from the readable CSRF cookie; the gateway
checks it before the post reaches this service. A refused step shows an error page with the
remediation service's code and sentence and the HTTP status it gave; nothing is half done here,
since each step is one request to remediation.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from guardian_common.auth import PRINCIPAL_HEADER, Principal, Role, sign_principal
from guardian_common.errors import BadRequest, GuardianError, Unauthenticated
from guardian_reporting.settings import ReportingSettings
from guardian_reporting.sources import Finding, UpstreamUnavailable
from guardian_reporting.web.render import BASE, render
from guardian_reporting.web.router import Src, Viewer, _api_key, _frame, _page

PREFIX = f"{BASE}/actions"
# The gateway's CSRF cookie (readable by pages) and the form field it checks on a cookie-authenticated post.
CSRF_COOKIE = "guardian_csrf"
CSRF_FIELD = "csrf_token"
PLAN_STATES = (
    "proposed",
    "approved",
    "rejected",
    "executing",
    "executed",
    "verifying",
    "verified",
    "verification_failed",
)
STEPS = ("approve", "reject", "execute", "verify")
MAX_FORM_BYTES = 64 * 1024
FINDINGS_SHOWN = 200
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_CHECK = re.compile(r"^[a-z0-9_]{1,120}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Remediation's answers, typed here (reporting never imports another service's code) -------------


class ActionParam(_Model):
    name: str
    kind: str
    description: str
    default: Any = None
    choices: list[Any] = Field(default_factory=list)
    minimum: int | None = None
    maximum: int | None = None


class RolePass(_Model):
    service: str
    role_prefix: str
    purpose: str = ""


class Action(_Model):
    id: str
    version: int
    title: str
    description: str
    resource_type: str
    checks: list[str]
    permissions: list[str]
    passes_roles: list[RolePass] = Field(default_factory=list)
    parameters: list[ActionParam] = Field(default_factory=list)
    in_place: bool = True
    reads: list[str] = Field(default_factory=list)
    expected: str = ""


class Call(_Model):
    service: str
    operation: str
    region: str
    arguments: dict[str, Any]
    permission: str

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, indent=2, sort_keys=True)


class Item(_Model):
    position: int
    resource_arn: str
    resource_name: str
    resource_type: str
    account_id: str
    region: str
    disposition: str
    calls: list[Call] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)
    expected: str
    warnings: list[str] = Field(default_factory=list)


class Approval(_Model):
    decision: str
    content_hash: str
    decided_by: dict[str, str]
    self_approved: bool = False
    reason: str | None = None
    decided_at: datetime
    expires_at: datetime | None = None


class Result(_Model):
    position: int
    resource_arn: str
    outcome: str
    detail: str
    calls_made: list[dict[str, Any]] = Field(default_factory=list)
    at: datetime


class Execution(_Model):
    execution_id: str
    executed_by: dict[str, str]
    started_at: datetime
    finished_at: datetime | None = None
    summary: dict[str, int] | None = None
    results: list[Result] = Field(default_factory=list)


class Verification(_Model):
    resource_arn: str
    check_id: str
    status: str
    reason: str
    scan_id: str
    at: datetime


class Plan(_Model):
    plan_id: str
    action_id: str
    action_title: str
    check_id: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    selection: dict[str, Any] = Field(default_factory=dict)
    state: str
    content_hash: str
    requested_by: dict[str, str]
    created_at: datetime
    updated_at: datetime
    items: list[Item] = Field(default_factory=list)
    approval: Approval | None = None
    execution: Execution | None = None
    verification_scan_id: str | None = None
    verification_summary: dict[str, Any] | None = None
    verifications: list[Verification] = Field(default_factory=list)


class PlanSummary(_Model):
    plan_id: str
    action_id: str
    check_id: str
    state: str
    resources: int
    requested_by: dict[str, str]
    created_at: datetime


# The remediation service, on the user's behalf --------------------------------------------------


class Remediation:
    def __init__(
        self, settings: ReportingSettings, principal: Principal, api_key: str | None, client: httpx.AsyncClient
    ) -> None:
        if not settings.internal_secret and not api_key:
            raise Unauthenticated(
                "Reporting has no internal secret and no API key to reach remediation on the user's behalf.",
                code="missing_api_key",
            )
        self._base = settings.remediation_url.rstrip("/") + "/api/v1/remediation"
        self._settings = settings
        self._principal = principal
        self._api_key = api_key
        self._client = client

    def _headers(self) -> dict[str, str]:
        if self._settings.internal_secret:
            return {PRINCIPAL_HEADER: sign_principal(self._settings.internal_secret, self._principal)}
        return {"Authorization": f"Bearer {self._api_key}"}

    async def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        try:
            response = await self._client.request(
                method, self._base + path, params=params, json=body, headers=self._headers()
            )
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"Could not reach the remediation service: {exc}.") from exc
        if response.status_code >= 400:
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            code = answer.get("error") if isinstance(answer, dict) else None
            detail = answer.get("detail") if isinstance(answer, dict) else None
            if not isinstance(detail, str):
                detail = f"The remediation service answered {response.status_code}."
            if response.status_code >= 500:
                raise UpstreamUnavailable(f"The remediation service failed ({response.status_code}): {detail}")
            raise GuardianError(
                detail, code=code if isinstance(code, str) else "remediation_refused", status=response.status_code
            )
        return response.json()

    async def actions(self) -> list[Action]:
        return [Action.model_validate(a) for a in (await self._call("GET", "/actions"))["items"]]

    async def plans(self, state: str | None, limit: int = 100) -> list[PlanSummary]:
        answer = await self._call("GET", "/plans", params={"limit": limit, **({"state": state} if state else {})})
        return [PlanSummary.model_validate(p) for p in answer["items"]]

    async def plan(self, plan_id: str) -> Plan:
        return Plan.model_validate(await self._call("GET", f"/plans/{quote(plan_id, safe='')}"))

    async def create(self, body: dict[str, Any]) -> Plan:
        return Plan.model_validate(await self._call("POST", "/plans", body=body))

    async def step(self, plan_id: str, step: str, body: dict[str, Any] | None = None) -> Plan:
        path = f"/plans/{quote(plan_id, safe='')}/{step}"
        return Plan.model_validate(await self._call("POST", path, body=body))


async def _remediation(request: Request, principal: Viewer) -> AsyncIterator[Remediation]:
    settings: ReportingSettings = request.app.state.settings
    shared: httpx.AsyncClient | None = getattr(request.app.state, "dashboard_http", None)
    if shared is not None:
        yield Remediation(settings, principal, _api_key(request), shared)
        return
    async with httpx.AsyncClient(timeout=settings.upstream_timeout_seconds) as own:
        yield Remediation(settings, principal, _api_key(request), own)


Rem = Annotated[Remediation, Depends(_remediation)]

router = APIRouter(prefix=PREFIX, include_in_schema=False)


# Helpers ------------------------------------------------------------------------------------------


def _plan_id(value: str) -> str:
    if not _ID.match(value):
        raise BadRequest(f"{value[:80]!r} is not a plan id.", code="invalid_plan_id")
    return value


def _keep(request: Request) -> dict[str, str]:
    """The scope and period the user was looking at, carried to the page a form leads to."""
    return {k: v for k in ("scope", "period") if (v := request.query_params.get(k) or "")}


def _to(path: str, request: Request) -> str:
    query = urlencode(_keep(request))
    return f"{path}?{query}" if query else path


async def _form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (first value of each); anything else is refused."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest("Send the Action Centre's forms as an HTML form.", code="invalid_form")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest("The form is larger than the Action Centre accepts.", code="invalid_form")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items() if values}


def _parameters(action: Action, fields: dict[str, str]) -> dict[str, Any]:
    """The action's parameters from ``param.NAME`` fields; an empty field keeps the action's default."""
    values: dict[str, Any] = {}
    for param in action.parameters:
        raw = fields.get(f"param.{param.name}", "").strip()
        if raw == "":
            continue
        if param.kind == "integer":
            if not re.fullmatch(r"-?\d{1,9}", raw):
                raise BadRequest(f"Parameter {param.name} must be a whole number.", code="invalid_parameters")
            values[param.name] = int(raw)
        elif param.kind == "boolean":
            if raw not in ("true", "false"):
                raise BadRequest(f"Parameter {param.name} must be yes or no.", code="invalid_parameters")
            values[param.name] = raw == "true"
        else:
            values[param.name] = raw
    return values


async def _after(change: Callable[[], Awaitable[str]]) -> Response:
    """Make one change; then go to the page showing it (303), or show why it was refused."""
    try:
        target = await change()
    except GuardianError as exc:
        refused = exc

        async def explain() -> str:
            raise refused

        return await _page(explain)
    return RedirectResponse(target, status_code=303)


def _context(request: Request, principal: Principal) -> dict[str, Any]:
    return {
        "csrf_field": CSRF_FIELD,
        "csrf_token": request.cookies.get(CSRF_COOKIE, ""),
        "can_plan": principal.can(Role.EDITOR),
        "is_admin": principal.can(Role.ADMIN),
        "me": principal.key_id,
        "prefix": PREFIX,
    }


# Pages --------------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def plans_page(request: Request, principal: Viewer, src: Src, rem: Rem, state: str | None = None) -> HTMLResponse:
    async def build() -> str:
        if state and state not in PLAN_STATES:
            raise BadRequest(f"state must be one of {', '.join(PLAN_STATES)}; got {state!r}.", code="invalid_state")
        frame = await _frame(request, src, principal, "actions", state=state)
        plans = await rem.plans(state or None)
        return render(
            "dashboard/actions/index.html",
            frame,
            "Action Centre",
            plans=plans,
            state=state or "",
            states=[(s, s.replace("_", " ")) for s in PLAN_STATES],
            **_context(request, principal),
        )

    return await _page(build)


@router.get("/catalogue", response_class=HTMLResponse)
async def catalogue_page(request: Request, principal: Viewer, src: Src, rem: Rem) -> HTMLResponse:
    async def build() -> str:
        frame = await _frame(request, src, principal, "actions")
        actions = await rem.actions()
        return render(
            "dashboard/actions/catalogue.html",
            frame,
            "Remediation catalogue",
            actions=actions,
            **_context(request, principal),
        )

    return await _page(build)


@router.get("/new", response_class=HTMLResponse)
async def new_plan_page(
    request: Request, principal: Viewer, src: Src, rem: Rem, check: str | None = None, resource: str | None = None
) -> HTMLResponse:
    async def build() -> str:
        if check and not _CHECK.match(check):
            raise BadRequest(f"{check[:80]!r} is not a check id.", code="invalid_check")
        if resource is not None and len(resource) > 2048:
            raise BadRequest("The resource ARN is longer than any ARN.", code="invalid_resource")
        frame = await _frame(request, src, principal, "actions", check=check, resource=resource)
        actions = await rem.actions()
        fixable = sorted({c for a in actions for c in a.checks})
        if check:
            chosen = [a for a in actions if check in a.checks]
            if not chosen:
                raise BadRequest(
                    f"No action in the remediation catalogue fixes {check}; it is fixed by hand.",
                    code="no_action_for_check",
                )
            page = await src.findings(check_ids=[check], status="FAIL", limit=FINDINGS_SHOWN)
        else:
            chosen = []
            page = await src.findings(check_ids=fixable, status="FAIL", limit=FINDINGS_SHOWN)
        failing: list[Finding] = page.items
        if resource:
            failing = [f for f in failing if f.resource_arn == resource]
        return render(
            "dashboard/actions/new.html",
            frame,
            "Plan a fix",
            check=check or "",
            resource=resource or "",
            chosen=chosen,
            failing=failing,
            total=page.total,
            shown=FINDINGS_SHOWN,
            **_context(request, principal),
        )

    return await _page(build)


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
async def plan_page(request: Request, plan_id: str, principal: Viewer, src: Src, rem: Rem) -> HTMLResponse:
    async def build() -> str:
        frame = await _frame(request, src, principal, "actions")
        plan = await rem.plan(_plan_id(plan_id))
        results = {r.resource_arn: r for r in plan.execution.results} if plan.execution else {}
        verdicts: dict[str, list[Verification]] = {}
        for v in plan.verifications:
            verdicts.setdefault(v.resource_arn, []).append(v)
        verifiable = any(r.outcome in ("fixed", "already_compliant", "gone") for r in results.values())
        return render(
            "dashboard/actions/plan.html",
            frame,
            f"Plan {plan.plan_id}",
            plan=plan,
            results=results,
            verdicts=verdicts,
            verifiable=verifiable,
            requester=plan.requested_by.get("id") == principal.key_id,
            **_context(request, principal),
        )

    return await _page(build)


# Forms --------------------------------------------------------------------------------------------


@router.post("/plans")
async def create_plan(request: Request, _: Viewer, rem: Rem) -> Response:
    async def change() -> str:
        fields = await _form(request)
        check_id = fields.get("check_id", "").strip()
        if not _CHECK.match(check_id):
            raise BadRequest("Choose the failing check to fix.", code="invalid_check")
        body: dict[str, Any] = {"check_id": check_id}
        action_id = fields.get("action_id", "").strip()
        if action_id:
            action = next((a for a in await rem.actions() if a.id == action_id), None)
            if action is None:
                raise BadRequest(f"{action_id!r} is not in the remediation catalogue.", code="action_not_in_catalogue")
            body["action_id"] = action_id
            body["parameters"] = _parameters(action, fields)
        resource = fields.get("resource_arn", "").strip()
        if resource:
            body["resource_arn"] = resource
        plan = await rem.create(body)
        return _to(f"{PREFIX}/plans/{quote(plan.plan_id, safe='')}", request)

    return await _after(change)


@router.post("/plans/{plan_id}/{step}")
async def plan_step(request: Request, plan_id: str, step: str, _: Viewer, rem: Rem) -> Response:
    async def change() -> str:
        if step not in STEPS:
            raise BadRequest(f"A plan's steps are {', '.join(STEPS)}; not {step[:40]!r}.", code="invalid_step")
        checked = _plan_id(plan_id)
        fields = await _form(request)
        body: dict[str, Any] | None = None
        if step == "approve":
            approved = fields.get("content_hash", "")
            if not _HASH.match(approved):
                raise BadRequest(
                    "Approve the plan from its page: the form names its content hash.", code="invalid_hash"
                )
            body = {"content_hash": approved}
        elif step == "reject":
            reason = fields.get("reason", "").strip()
            if not reason or len(reason) > 2000:
                raise BadRequest("Say why the plan is rejected, in at most 2,000 characters.", code="invalid_reason")
            body = {"reason": reason}
        await rem.step(checked, step, body)
        return _to(f"{PREFIX}/plans/{quote(checked, safe='')}", request)

    return await _after(change)
