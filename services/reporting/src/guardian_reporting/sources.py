"""What reporting reads, and from whom: compliance, evidence and the collector over REST.

Reporting owns no findings. Every read is made on behalf of the user who asked: with the
deployment's internal secret the user's principal is signed into ``X-Guardian-Principal`` (fresh for
each request, as the credential is valid for a minute); without one, the caller's API key is passed
on. The upstream's role checks therefore apply to the user, never to reporting itself.

Results are typed with this module's own models (reporting never imports another service's code);
each model ignores fields it does not know, so an additive upstream change breaks nothing. The
monitoring history endpoints (coverage, deviations, populations, trends) are read when compliance
offers them; where it does not, the call returns :class:`NotAvailable` saying why, never an empty
list that would read as "nothing happened".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote, unquote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from guardian_common.auth import PRINCIPAL_HEADER, Principal, sign_principal
from guardian_common.errors import BadRequest, Conflict, Forbidden, GuardianError, NotFound, Unauthenticated
from guardian_reporting.settings import ReportingSettings

DEFAULT_FRAMEWORK = "soc2"
Service = Literal["compliance", "evidence", "collector"]


class UpstreamUnavailable(GuardianError):
    """A service reporting reads from could not be reached or failed: the report cannot be complete."""

    code = "upstream_unavailable"
    status = 502


def _seg(value: str) -> str:
    """One path segment, escaped so an id can never reach another route."""
    return quote(value, safe="")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Scopes and periods ---------------------------------------------------------------------------


class CriterionCoverage(_Model):
    id: str
    coverage: str
    note: str = ""


class SubserviceOrganisation(_Model):
    name: str
    services: str = ""
    method: str = "carve_out"
    criteria: list[CriterionCoverage] = Field(default_factory=list)
    report_evidence_id: str | None = None


class UserEntityControl(_Model):
    description: str
    criteria: list[str] = Field(default_factory=list)


class NotApplicableMark(_Model):
    kind: str
    id: str
    justification: str
    marked_by: str
    marked_at: datetime


class Boundary(_Model):
    account_ids: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    tags: dict[str, list[str]] = Field(default_factory=dict)


class Period(_Model):
    id: str
    scope_id: str
    name: str
    start_date: date
    end_date: date
    type: str
    locked: bool
    locked_at: datetime | None = None
    locked_by: str | None = None


class Scope(_Model):
    id: str
    name: str
    categories: list[str]
    boundary: Boundary
    subservice_organisations: list[SubserviceOrganisation] = Field(default_factory=list)
    user_entity_controls: list[UserEntityControl] = Field(default_factory=list)
    not_applicable: list[NotApplicableMark] = Field(default_factory=list)
    version: int
    periods: list[Period] = Field(default_factory=list)

    def period(self, period_id: str) -> Period:
        for p in self.periods:
            if p.id == period_id or p.name == period_id:
                return p
        known = ", ".join(p.id for p in self.periods) or "none"
        raise NotFound(f"Scope {self.id!r} has no period {period_id!r}; its periods: {known}.", code="period_not_found")


# Frameworks, readiness, requirements and controls -------------------------------------------


class Category(_Model):
    id: str
    name: str
    required: bool = False
    description: str = ""


class Framework(_Model):
    id: str
    name: str
    title: str
    version: str
    subscribed: bool
    categories: list[Category]
    requirement_count: int


class ResultContext(_Model):
    """Which scan a posture comes from and the versions of checks, mappings and parameters behind it."""

    scan_id: str
    scan_state: str
    partial: bool
    finalised_at: datetime | None = None
    framework_version: str
    library_version: str
    catalogue_version: str | None = None
    account_id: str | None = None
    regions: list[str] = Field(default_factory=list)
    scope_id: str = "default"
    scope_version: int | None = None
    computed_at: datetime | None = None
    live: bool = False
    versions: dict[str, Any] = Field(default_factory=dict)


class CategoryReadiness(_Model):
    category: str
    name: str
    score: float | None
    passing: int
    applicable: int


class Readiness(_Model):
    score: float | None
    passing: int
    applicable: int
    in_scope: int
    not_applicable: int
    by_status: dict[str, int]
    by_category: list[CategoryReadiness]
    formula: str


class ReadinessView(_Model):
    framework: str
    result: ResultContext
    readiness: Readiness


class CheckOutcome(_Model):
    check_id: str
    title: str
    severity: str
    status: str
    passed: int
    failed: int
    errored: int
    accepted: int


class ControlResult(_Model):
    id: str
    title: str
    description: str = ""
    owner: str = ""
    frequency: str = ""
    kind: str = ""
    status: str
    reason: str = ""
    requirements: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    checks: list[CheckOutcome] = Field(default_factory=list)
    evidence_required: list[str] = Field(default_factory=list)
    justification: str | None = None


class RequirementResult(_Model):
    id: str
    category: str
    group: str = ""
    title: str
    description: str = ""
    status: str
    controls: list[str] = Field(default_factory=list)
    reason: str = ""
    justification: str | None = None
    carved_out_to: list[str] = Field(default_factory=list)


class RequirementsView(_Model):
    framework: str
    result: ResultContext
    total: int
    items: list[RequirementResult]


class ControlsView(_Model):
    framework: str
    result: ResultContext
    total: int
    items: list[ControlResult]


class PostureView(_Model):
    """``posture()`` data: readiness, criteria and controls from one computation in compliance."""

    framework: str
    result: ResultContext
    readiness: Readiness
    requirements: list[RequirementResult]
    controls: list[ControlResult]


class CheckDetail(CheckOutcome):
    description: str = ""
    remediation: str = ""
    resource_type: str | None = None


class ResourceFinding(_Model):
    """A failing (or errored, or accepted) resource of a control, with the reason and the values read."""

    check_id: str
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    status: str
    severity: str
    reason: str
    observed_at: datetime
    status_since: datetime
    evidence: dict[str, Any] = Field(default_factory=dict)
    evaluated_status: str | None = None
    acceptance_id: str | None = None
    accepted_by: str | None = None


class ControlDetail(_Model):
    framework: str
    result: ResultContext
    control: ControlResult
    checks: list[CheckDetail]
    failing_resources: list[ResourceFinding]
    rationale: dict[str, str] = Field(default_factory=dict)


class StoredResultSummary(_Model):
    scan_id: str
    scope_id: str
    scope_version: int
    computed_at: datetime
    account_id: str | None = None
    scan_state: str
    partial: bool
    score: float | None = None
    readiness: Readiness
    versions: dict[str, Any] = Field(default_factory=dict)


class StoredResult(_Model):
    """The posture stored when one scan was finalised: what a point-in-time report reads."""

    framework: str
    result: ResultContext
    readiness: Readiness
    requirements: list[RequirementResult]
    controls: list[ControlResult]
    deviations: list[dict[str, Any]] = Field(default_factory=list)


class ControlVersion(_Model):
    version: int
    title: str = ""
    change: str | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None


class Resource(_Model):
    """A resource of the inventory as compliance keeps it now, with its normalised configuration."""

    arn: str
    resource_type: str
    name: str
    account_id: str
    region: str
    service: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    config_hash: str = ""
    configuration: dict[str, Any] = Field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    state: str = "active"


# Findings, encryption, acceptances -----------------------------------------------------------


class Finding(_Model):
    check_id: str
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    service: str = ""
    status: str
    severity: str
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    check_version: int | None = None
    observed_at: datetime
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    status_since: datetime | None = None
    last_scan_id: str | None = None
    state: str = "active"
    closed_at: datetime | None = None
    evaluated_status: str | None = None
    acceptance_id: str | None = None
    accepted_by: str | None = None
    accepted_for_controls: dict[str, str] = Field(default_factory=dict)


class FindingPage(_Model):
    total: int
    limit: int
    offset: int
    items: list[Finding]


class EncryptedStore(_Model):
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    state: str
    kms_key_id: str | None = None
    check_id: str
    reason: str


class EncryptionSummary(_Model):
    resource_type: str
    encrypted: int
    unencrypted: int
    unknown: int


class EncryptionInventory(_Model):
    total: int
    encrypted: int = 0
    unencrypted: int = 0
    unknown: int = 0
    by_type: list[EncryptionSummary] = Field(default_factory=list)
    items: list[EncryptedStore] = Field(default_factory=list)


class AcceptanceEvent(_Model):
    action: str
    actor: str
    at: datetime
    note: str | None = None


class Acceptance(_Model):
    id: str
    control_id: str | None = None
    check_id: str | None = None
    arn_pattern: str | None = None
    account_id: str | None = None
    region: str | None = None
    tag_key: str | None = None
    tag_value: str | None = None
    justification: str
    compensating_control: str = ""
    requested_by: str
    requested_at: datetime
    starts_at: datetime
    expires_at: datetime
    # The end of the covered interval: the expiry, or the revocation when it came earlier.
    ends_at: datetime | None = None
    revoked_at: datetime | None = None
    state: str
    status: str
    approver: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    events: list[AcceptanceEvent] = Field(default_factory=list)

    def selectors(self) -> str:
        """The acceptance's reach in one line: what it covers."""
        parts = [
            f"{name}={value}"
            for name, value in (
                ("control", self.control_id),
                ("check", self.check_id),
                ("arn", self.arn_pattern),
                ("account", self.account_id),
                ("region", self.region),
                ("tag", f"{self.tag_key}={self.tag_value}" if self.tag_key else None),
            )
            if value
        ]
        return ", ".join(parts) or "everything"


# Evidence -------------------------------------------------------------------------------------


class EvidencePeriod(_Model):
    label: str | None = None
    start: date | None = None
    end: date | None = None


class EvidenceIndexEntry(_Model):
    item_id: str
    title: str
    type: str
    control_ids: list[str]
    period: EvidencePeriod = Field(default_factory=EvidencePeriod)
    version: int
    sha256: str
    filename: str
    reviewed_by: str
    current_from: datetime
    current_to: datetime | None = None


class EvidenceIndex(_Model):
    """Which accepted evidence version was current when, over a window."""

    window_from: date
    window_to: date
    entries: list[EvidenceIndexEntry]
    uncovered: list[str] = Field(default_factory=list)


class EvidenceVersion(_Model):
    version: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class EvidenceItem(_Model):
    item_id: str
    title: str
    description: str = ""
    type: str
    owner: str
    control_ids: list[str]
    status: str
    counts: bool
    accepted_version: int | None = None
    valid_until: datetime | None = None
    latest_version: int
    versions: list[EvidenceVersion] = Field(default_factory=list)


class EvidenceItems(_Model):
    items: list[EvidenceItem]
    total: int


class ControlEvidenceItem(_Model):
    item_id: str
    title: str
    type: str
    owner: str | None = None
    status: str
    counts: bool
    accepted_version: int | None = None
    latest_version: int | None = None
    valid_until: datetime | None = None


class ControlEvidenceRequirement(_Model):
    type: str
    description: str
    met: bool
    reason_code: str | None = None
    reason: str | None = None
    items: list[ControlEvidenceItem] = Field(default_factory=list)


class ControlEvidence(_Model):
    """What a control's evidence requirements need now, and what is missing."""

    control_id: str
    title: str
    kind: str
    frequency: str
    met: bool
    checked_at: datetime
    missing: list[str] = Field(default_factory=list)
    requirements: list[ControlEvidenceRequirement] = Field(default_factory=list)


class Download(BaseModel):
    filename: str
    media_type: str
    sha256: str
    content: bytes


# Scans ----------------------------------------------------------------------------------------


class ScanUnit(_Model):
    region: str
    service: str
    status: str
    snapshots: int
    errors: int
    first_error: str | None = None


class CollectorScan(_Model):
    """A scan as the collector sees it: collection progress per region and service."""

    scan_id: str
    account_id: str
    regions: list[str]
    services: list[str]
    state: str
    requested_by: str | None = None
    started_at: datetime
    completed_at: datetime | None = None
    published: int
    error: str | None = None
    units: list[ScanUnit] = Field(default_factory=list)


class EvaluationScan(_Model):
    """A scan as compliance sees it: evaluation progress and its final state."""

    scan_id: str
    account_id: str | None = None
    regions: list[str] = Field(default_factory=list)
    state: str
    final: bool
    partial: bool
    total_snapshots: int | None = None
    evaluated: int
    started_at: datetime | None = None
    finalised_at: datetime | None = None
    missing: dict[str, Any] | None = None
    dead_letters: int = 0
    units: list[ScanUnit] = Field(default_factory=list)


class ScanProgress(BaseModel):
    scan_id: str
    collection: CollectorScan | None
    evaluation: EvaluationScan | None


# Monitoring history (optional upstream) ------------------------------------------------------


class NotAvailable(BaseModel):
    """An upstream view this deployment does not offer (yet): said, never shown as empty."""

    available: Literal[False] = False
    feature: str
    reason: str


class HistoryData(BaseModel):
    """A monitoring-history answer (coverage, deviations, populations, trends) kept as sent.

    Its shape belongs to compliance's history API; the report model reads the fields it needs.
    """

    available: Literal[True] = True
    feature: str
    data: dict[str, Any]


History = HistoryData | NotAvailable


class Span(_Model):
    start: datetime
    end: datetime
    seconds: float


class HistoryPeriod(_Model):
    scope_id: str
    period_id: str | None = None
    start: datetime
    end: datetime
    elapsed_until: datetime


class UnitCoverage(_Model):
    account_id: str
    region: str
    service: str
    complete_collections: int = 0
    monitored: list[Span] = Field(default_factory=list)
    not_monitored: list[Span] = Field(default_factory=list)
    monitored_seconds: float = 0.0
    share_monitored: float | None = None


class CoverageAnswer(_Model):
    """``coverage()`` data: when each account/region/service was completely scanned."""

    period: HistoryPeriod
    units: list[UnitCoverage] = Field(default_factory=list)
    every_unit_monitored: list[Span] = Field(default_factory=list)
    not_monitored: list[Span] = Field(default_factory=list)


class DeviationInterval(_Model):
    check_id: str
    resource_arn: str
    resource_name: str | None = None
    resource_type: str = ""
    account_id: str = ""
    region: str = ""
    severity: str = ""
    detected_at: datetime
    resolved_at: datetime | None = None
    reopened: bool = False
    hours_to_resolve: float | None = None
    hours_open: float = 0.0
    sla_days: float | None = None
    sla: str = "no_sla"
    accepted: bool = False
    acceptance_ids: list[str] = Field(default_factory=list)


class EvidenceDeviation(_Model):
    """An occurrence of a recurring control not covered by evidence accepted on time."""

    kind: str
    label: str
    frequency: str = ""
    due: datetime | None = None
    detected_at: datetime
    resolved_at: datetime | None = None
    missing_types: list[str] = Field(default_factory=list)
    late_types: list[str] = Field(default_factory=list)
    covered_late_by: list[str] = Field(default_factory=list)
    reason: str = ""


class ControlDeviations(_Model):
    control_id: str
    checks: list[str] = Field(default_factory=list)
    monitored_seconds: float = 0.0
    passing_seconds: float = 0.0
    share_passing: float | None = None
    deviation_count: int = 0
    open_count: int = 0
    sla_misses: int = 0
    accepted_count: int = 0
    deviations: list[DeviationInterval] = Field(default_factory=list)
    evidence_deviations: list[EvidenceDeviation] = Field(default_factory=list)


class DeviationsAnswer(_Model):
    """``deviations()`` data: failure intervals per control against the SLA."""

    period: HistoryPeriod
    sla_days: dict[str, float] = Field(default_factory=dict)
    deviation_count: int = 0
    sla_misses: int = 0
    controls: list[ControlDeviations] = Field(default_factory=list)


class PopulationItem(_Model):
    arn: str
    resource_type: str
    name: str | None = None
    account_id: str
    region: str | None = None
    service: str = ""
    scan_id: str = ""
    scanned_at: datetime | None = None
    stale: bool = False
    config_hash: str | None = None
    configuration: dict[str, Any] | None = None


class PopulationAnswer(_Model):
    """``populations()`` data: in-scope resources as of a moment."""

    scope_id: str
    as_of: datetime
    count: int
    items: list[PopulationItem] = Field(default_factory=list)


class TrendPoint(_Model):
    bucket: datetime
    scans: int
    monitored: bool
    readiness: float | None = None


class TrendsAnswer(_Model):
    """``trends()`` data: readiness per day or week."""

    period: HistoryPeriod
    granularity: str
    points: list[TrendPoint] = Field(default_factory=list)


T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Credential:
    """On whose behalf upstream reads are made."""

    principal: Principal | None = None
    api_key: str | None = None


def _window(period_id: str | None, start: date | None, end: date | None, scope_id: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if scope_id is not None:
        params["scope_id"] = scope_id
    if period_id is not None:
        params["period_id"] = period_id
    if start is not None:
        params["from"] = start.isoformat()
    if end is not None:
        params["to"] = end.isoformat()
    return params


class Sources:
    """Upstream reads for one user. Build with :meth:`for_user`; close the shared client with
    :meth:`aclose` (or use ``async with``)."""

    def __init__(
        self,
        *,
        compliance_url: str,
        evidence_url: str,
        collector_url: str,
        credential: Credential,
        internal_secret: str | None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if credential.principal is None and credential.api_key is None:
            raise Unauthenticated("Reporting needs the user's principal or API key to read on their behalf.")
        if credential.principal is not None and not internal_secret and credential.api_key is None:
            raise Unauthenticated(
                "Reporting has no internal secret and no API key to read on the user's behalf.",
                code="missing_api_key",
            )
        self._bases: dict[Service, str] = {
            "compliance": compliance_url.rstrip("/"),
            "evidence": evidence_url.rstrip("/"),
            "collector": collector_url.rstrip("/"),
        }
        self._credential = credential
        self._internal_secret = internal_secret or None
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout, transport=transport)

    @classmethod
    def for_user(
        cls,
        settings: ReportingSettings,
        principal: Principal | None = None,
        api_key: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> Sources:
        return cls(
            compliance_url=settings.compliance_url,
            evidence_url=settings.evidence_url,
            collector_url=settings.collector_url,
            credential=Credential(principal=principal, api_key=api_key),
            internal_secret=settings.internal_secret,
            timeout=settings.upstream_timeout_seconds,
            transport=transport,
            client=client,
        )

    async def __aenter__(self) -> Sources:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # Plumbing ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        cred = self._credential
        if cred.principal is not None and self._internal_secret:
            return {PRINCIPAL_HEADER: sign_principal(self._internal_secret, cred.principal)}
        assert cred.api_key is not None  # guaranteed by __init__
        return {"Authorization": f"Bearer {cred.api_key}"}

    async def _send(self, service: Service, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        url = f"{self._bases[service]}{path}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._client.get(url, params=clean, headers=self._headers())
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"Could not reach the {service} service: {exc}.") from exc
        if response.status_code >= 400:
            raise _upstream_error(service, response)
        return response

    async def _get(self, service: Service, path: str, model: type[T], params: Mapping[str, Any] | None = None) -> T:
        response = await self._send(service, path, params)
        return model.model_validate(response.json())

    async def _get_list(
        self, service: Service, path: str, model: type[T], params: Mapping[str, Any] | None = None
    ) -> list[T]:
        response = await self._send(service, path, params)
        return [model.model_validate(item) for item in response.json()]

    async def _optional(self, feature: str, path: str, params: Mapping[str, Any]) -> History:
        """A history endpoint: its answer, or NotAvailable when compliance does not serve it."""
        url = f"{self._bases['compliance']}{path}"
        clean = {k: v for k, v in params.items() if v is not None}
        try:
            response = await self._client.get(url, params=clean, headers=self._headers())
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"Could not reach the compliance service: {exc}.") from exc
        if response.status_code in (404, 405) and _route_missing(response):
            return NotAvailable(
                feature=feature, reason=f"This deployment's compliance service does not offer {path} yet."
            )
        if response.status_code >= 400:
            raise _upstream_error("compliance", response)
        body = response.json()
        return HistoryData(feature=feature, data=body if isinstance(body, dict) else {"items": body})

    # Scopes and frameworks --------------------------------------------------------------------

    async def scopes(self) -> list[Scope]:
        return await self._get_list("compliance", "/api/v1/scopes", Scope)

    async def scope(self, scope_id: str) -> Scope:
        return await self._get("compliance", f"/api/v1/scopes/{_seg(scope_id)}", Scope)

    async def frameworks(self) -> list[Framework]:
        return await self._get_list("compliance", "/api/v1/frameworks", Framework)

    async def framework(self, framework_id: str = DEFAULT_FRAMEWORK) -> Framework:
        return await self._get("compliance", f"/api/v1/frameworks/{_seg(framework_id)}", Framework)

    # Posture now ------------------------------------------------------------------------------

    async def readiness(self, scope_id: str, framework_id: str = DEFAULT_FRAMEWORK) -> ReadinessView:
        path = f"/api/v1/frameworks/{_seg(framework_id)}/readiness"
        return await self._get("compliance", path, ReadinessView, {"scope": scope_id})

    async def posture(self, scope_id: str, framework_id: str = DEFAULT_FRAMEWORK) -> PostureView:
        path = f"/api/v1/frameworks/{_seg(framework_id)}/posture"
        return await self._get("compliance", path, PostureView, {"scope": scope_id})

    async def requirements(
        self,
        scope_id: str,
        framework_id: str = DEFAULT_FRAMEWORK,
        *,
        category: str | None = None,
        status: str | None = None,
    ) -> RequirementsView:
        path = f"/api/v1/frameworks/{_seg(framework_id)}/requirements"
        params = {"scope": scope_id, "category": category, "status": status}
        return await self._get("compliance", path, RequirementsView, params)

    async def controls(
        self,
        scope_id: str,
        framework_id: str = DEFAULT_FRAMEWORK,
        *,
        category: str | None = None,
        status: str | None = None,
        requirement: str | None = None,
    ) -> ControlsView:
        path = f"/api/v1/frameworks/{_seg(framework_id)}/controls"
        params = {"scope": scope_id, "category": category, "status": status, "requirement": requirement}
        return await self._get("compliance", path, ControlsView, params)

    async def control(self, scope_id: str, control_id: str, framework_id: str = DEFAULT_FRAMEWORK) -> ControlDetail:
        path = f"/api/v1/frameworks/{_seg(framework_id)}/controls/{_seg(control_id)}"
        return await self._get("compliance", path, ControlDetail, {"scope": scope_id})

    async def export(self, scope_id: str, framework_id: str = DEFAULT_FRAMEWORK) -> dict[str, Any]:
        """Compliance's own export of the posture now (raw JSON: readiness, findings, deviations)."""
        response = await self._send(
            "compliance", f"/api/v1/frameworks/{_seg(framework_id)}/export", {"scope": scope_id}
        )
        body: dict[str, Any] = response.json()
        return body

    # Posture at a past scan ---------------------------------------------------------------------

    async def results(
        self, scope_id: str, framework_id: str = DEFAULT_FRAMEWORK, limit: int = 1000
    ) -> list[StoredResultSummary]:
        """Results stored at each final scan, newest first."""
        path = f"/api/v1/frameworks/{_seg(framework_id)}/results"
        response = await self._send("compliance", path, {"scope": scope_id, "limit": limit})
        return [StoredResultSummary.model_validate(i) for i in response.json()["items"]]

    async def stored_result(self, scope_id: str, scan_id: str, framework_id: str = DEFAULT_FRAMEWORK) -> StoredResult:
        path = f"/api/v1/frameworks/{_seg(framework_id)}/results/{_seg(scan_id)}"
        return await self._get("compliance", path, StoredResult, {"scope": scope_id})

    async def result_at(
        self, scope_id: str, at: datetime, framework_id: str = DEFAULT_FRAMEWORK
    ) -> StoredResult | None:
        """The newest result stored at or before ``at``; None when no scan was finalised by then."""
        for summary in await self.results(scope_id, framework_id):
            if summary.computed_at <= at:
                return await self.stored_result(scope_id, summary.scan_id, framework_id)
        return None

    # Controls, findings, encryption, acceptances -----------------------------------------------

    async def control_evidence(self, control_id: str) -> ControlEvidence:
        return await self._get("compliance", f"/api/v1/controls/{_seg(control_id)}/evidence", ControlEvidence)

    async def control_versions(self, control_id: str) -> dict[str, Any]:
        """A control of the library with every version (its timeline of edits), as compliance sends it."""
        response = await self._send("compliance", f"/api/v1/controls/{_seg(control_id)}")
        body: dict[str, Any] = response.json()
        return body

    async def findings(
        self,
        *,
        scope_id: str | None = None,
        status: str | None = None,
        check_ids: list[str] | None = None,
        resource_type: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
        severity: str | None = None,
        service: str | None = None,
        text: str | None = None,
        include_closed: bool = False,
        limit: int = 500,
        offset: int = 0,
    ) -> FindingPage:
        """One page of current findings; compliance filters, counts and pages them in its database."""
        params: dict[str, Any] = {
            "scope": scope_id,
            "status": status,
            "check_id": check_ids,
            "resource_type": resource_type,
            "account_id": account_id,
            "region": region,
            "severity": severity,
            "service": service,
            "q": text,
            "include_closed": "true" if include_closed else None,
            "limit": limit,
            "offset": offset,
        }
        return await self._get("compliance", "/api/v1/findings", FindingPage, params)

    async def all_findings(self, scope_id: str | None = None, status: str | None = None) -> list[Finding]:
        """Every current finding of a scope (paged through compliance's 5,000-a-page limit)."""
        out: list[Finding] = []
        offset = 0
        while True:
            page = await self.findings(scope_id=scope_id, status=status, limit=5000, offset=offset)
            out.extend(page.items)
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return out

    async def encryption(
        self,
        *,
        state: str | None = None,
        resource_type: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> EncryptionInventory:
        params = {"state": state, "resource_type": resource_type, "account_id": account_id, "region": region}
        return await self._get("compliance", "/api/v1/inventory/encryption", EncryptionInventory, params)

    async def resources(
        self, *, resource_type: str | None = None, account_id: str | None = None, region: str | None = None
    ) -> list[Resource]:
        """Every resource of the inventory now (paged through compliance's limit)."""
        out: list[Resource] = []
        while True:
            params = {
                "resource_type": resource_type,
                "account_id": account_id,
                "region": region,
                "limit": 5000,
                "offset": len(out),
            }
            body = (await self._send("compliance", "/api/v1/resources", params)).json()
            items = [Resource.model_validate(i) for i in body["items"]]
            out.extend(items)
            if not items or len(out) >= body["total"]:
                return out

    async def acceptances(self, status: str | None = None) -> list[Acceptance]:
        response = await self._send("compliance", "/api/v1/acceptances", {"status": status})
        return [Acceptance.model_validate(i) for i in response.json()["items"]]

    # Evidence ---------------------------------------------------------------------------------

    async def evidence_index(self, start: date, end: date, control_id: str | None = None) -> EvidenceIndex:
        params = {"from": start.isoformat(), "to": end.isoformat(), "control": control_id}
        return await self._get("evidence", "/api/v1/evidence/index", EvidenceIndex, params)

    async def evidence_items(
        self, *, control_id: str | None = None, status: str | None = None, limit: int = 500, offset: int = 0
    ) -> EvidenceItems:
        params = {"control": control_id, "status": status, "limit": limit, "offset": offset}
        return await self._get("evidence", "/api/v1/evidence", EvidenceItems, params)

    async def evidence_content(self, item_id: str, version: int, expected_sha256: str | None = None) -> Download:
        """One evidence version's bytes, hash-checked here too: a mismatch is refused, never packaged."""
        path = f"/api/v1/evidence/{_seg(item_id)}/versions/{int(version)}/content"
        response = await self._send("evidence", path)
        content = response.content
        digest = hashlib.sha256(content).hexdigest()
        announced = response.headers.get("x-evidence-sha256")
        for label, want in (("the evidence service's header", announced), ("the evidence index", expected_sha256)):
            if want is not None and want != digest:
                raise Conflict(
                    f"Evidence {item_id} version {version} does not match {label} (SHA-256 {digest} != {want}).",
                    code="evidence_corrupted",
                )
        return Download(
            filename=_filename(response.headers.get("content-disposition"), f"{item_id}-v{version}"),
            media_type=response.headers.get("content-type", "application/octet-stream"),
            sha256=digest,
            content=content,
        )

    # Scans ------------------------------------------------------------------------------------

    async def scans(self, limit: int = 50) -> list[EvaluationScan]:
        """Recent scans as compliance sees them (evaluation and final state)."""
        response = await self._send("compliance", "/api/v1/scans", {"limit": limit})
        return [EvaluationScan.model_validate(i) for i in response.json()["items"]]

    async def collector_scans(self, limit: int = 50) -> list[CollectorScan]:
        response = await self._send("collector", "/api/v1/scans", {"limit": limit})
        return [CollectorScan.model_validate(i) for i in response.json()["items"]]

    async def scan_progress(self, scan_id: str) -> ScanProgress:
        """A scan's live progress: collection per region and service, and evaluation, each when known."""
        collection: CollectorScan | None = None
        evaluation: EvaluationScan | None = None
        try:
            collection = await self._get("collector", f"/api/v1/scans/{_seg(scan_id)}", CollectorScan)
        except NotFound:
            collection = None
        try:
            evaluation = await self._get("compliance", f"/api/v1/scans/{_seg(scan_id)}", EvaluationScan)
        except NotFound:
            evaluation = None
        if collection is None and evaluation is None:
            raise NotFound(f"No scan has the id {scan_id!r}.", code="scan_not_found")
        return ScanProgress(scan_id=scan_id, collection=collection, evaluation=evaluation)

    # Monitoring history (when compliance offers it) ----------------------------------------------

    async def coverage(
        self, scope_id: str, *, period_id: str | None = None, start: date | None = None, end: date | None = None
    ) -> History:
        return await self._optional("coverage", "/api/v1/coverage", _window(period_id, start, end, scope_id))

    async def deviations(
        self,
        scope_id: str,
        *,
        period_id: str | None = None,
        start: date | None = None,
        end: date | None = None,
        control_id: str | None = None,
    ) -> History:
        params = _window(period_id, start, end, scope_id)
        if control_id is not None:
            params["control_id"] = control_id
        return await self._optional("deviations", "/api/v1/deviations", params)

    async def populations(self, scope_id: str, *, at: date | datetime) -> History:
        """In-scope resources as of a moment, configured as they were then (:class:`PopulationAnswer`)."""
        params = {"scope_id": scope_id, "as_of": at.isoformat()}
        return await self._optional("populations", "/api/v1/populations", params)

    async def trends(
        self,
        scope_id: str,
        *,
        period_id: str | None = None,
        start: date | None = None,
        end: date | None = None,
        granularity: Literal["day", "week"] = "day",
        framework_id: str = DEFAULT_FRAMEWORK,
    ) -> History:
        params = _window(period_id, start, end, scope_id)
        params["granularity"] = granularity
        params["framework"] = framework_id
        return await self._optional("trends", "/api/v1/trends", params)

    async def control_history(
        self, scope_id: str, control_id: str, *, start: date | None = None, end: date | None = None
    ) -> History:
        """A control's status at each final scan (its timeline), when compliance keeps that history."""
        params = _window(None, start, end, scope_id)
        return await self._optional("control history", f"/api/v1/history/controls/{_seg(control_id)}", params)


def _route_missing(response: httpx.Response) -> bool:
    """FastAPI's own 404 for an unknown route ({"detail": "Not Found"}), not a domain NotFound."""
    if response.status_code == 405:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    return isinstance(body, dict) and "error" not in body and body.get("detail") == "Not Found"


def _upstream_error(service: Service, response: httpx.Response) -> GuardianError:
    """The upstream's own error, passed on with its code: the user sees why, not a generic failure."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = body.get("error") if isinstance(body, dict) else None
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, str):
        detail = f"The {service} service answered {response.status_code}."
    by_status: dict[int, type[GuardianError]] = {
        401: Unauthenticated,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        422: BadRequest,
        400: BadRequest,
    }
    kind = by_status.get(response.status_code)
    if kind is None:
        return UpstreamUnavailable(f"The {service} service failed ({response.status_code}): {detail}")
    return kind(detail, code=code if isinstance(code, str) else None)


def _filename(disposition: str | None, fallback: str) -> str:
    """The file name from ``Content-Disposition`` (RFC 5987 ``filename*`` first), made safe for a zip."""
    name = None
    if disposition:
        for part in disposition.split(";"):
            key, _, value = part.strip().partition("=")
            if key.lower() == "filename*" and "''" in value:
                name = unquote(value.split("''", 1)[1])
                break
            if key.lower() == "filename" and value:
                name = value.strip('"')
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in (name or fallback)).strip("._")
    return cleaned or fallback


__all__ = [
    "DEFAULT_FRAMEWORK",
    "Acceptance",
    "CollectorScan",
    "ControlDetail",
    "ControlEvidence",
    "ControlResult",
    "ControlsView",
    "Credential",
    "Download",
    "EncryptionInventory",
    "EvaluationScan",
    "EvidenceIndex",
    "EvidenceItems",
    "Finding",
    "FindingPage",
    "Framework",
    "History",
    "HistoryData",
    "NotAvailable",
    "Period",
    "Readiness",
    "ReadinessView",
    "RequirementResult",
    "RequirementsView",
    "Resource",
    "ScanProgress",
    "Scope",
    "Sources",
    "StoredResult",
    "StoredResultSummary",
    "UpstreamUnavailable",
]
