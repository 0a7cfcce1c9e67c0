"""The assembled report: one document for a scope and a point in time or an audit period.

Every export (JSON, CSV, PDF, OCSF, the auditor package) is rendered from this one model, so they
can never disagree. Its JSON Schema is published at ``GET /api/v1/reports/schema`` and described in
``docs/report-schema.md``; ``schema_version`` changes only additively within a major version.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

NOT_ASSESSED = (
    "Guardian evaluates the technical configuration of the AWS resources inside this scope's boundary"
    " and the evidence documents attached to controls. It does not assess organisational policies,"
    " procedures or people-side controls (such as security awareness training, hiring and"
    " termination practices, vendor management or board oversight) beyond the evidence attached,"
    " nor systems outside the boundary, nor the controls of carved-out subservice organisations,"
    " which rely on their own SOC 2 reports. The readiness score is an indicator computed from"
    " these results, not an auditor's opinion."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Generator(_Strict):
    product: str = "Guardian"
    service: str = "reporting"
    schema_version: str = SCHEMA_VERSION
    generated_at: datetime
    generated_by: str = Field(description="The user (API key name or id) the report was made for")


class Window(_Strict):
    """What the report covers: a point in time, or an audit period (dates inclusive)."""

    kind: Literal["point", "period"]
    at: datetime = Field(description="The instant the posture is shown for (a period's end, or now)")
    period_id: str | None = None
    period_name: str | None = None
    period_type: str | None = Field(default=None, description="type1 or type2")
    start: date | None = None
    end: date | None = None
    locked: bool | None = None


class CarveOut(_Strict):
    organisation: str
    services: str
    method: str
    criteria: list[str] = Field(description="Criterion ids with coverage, e.g. 'CC6.4 (full)'")
    report_evidence_id: str | None = None


class ScopeInfo(_Strict):
    id: str
    name: str
    version: int
    categories: list[str]
    account_ids: list[str]
    regions: list[str]
    tags: dict[str, list[str]]
    carve_outs: list[CarveOut]
    user_entity_controls: list[str]
    not_applicable: list[dict[str, str]] = Field(description="kind, id and written justification of each mark")


class Basis(_Strict):
    """Which result the posture comes from."""

    source: Literal["live", "stored"] = Field(
        description="live: computed from current findings; stored: the result saved when a scan was finalised"
    )
    scan_id: str
    scan_state: str
    partial: bool
    finalised_at: datetime | None
    computed_at: datetime | None


class Versions(_Strict):
    framework: str
    control_library: str
    check_catalogue: str | None
    checks: dict[str, Any] = Field(default_factory=dict, description="check id -> version")
    controls: dict[str, Any] = Field(default_factory=dict, description="control id -> version")
    scope_version: int | None = None


class CategoryScore(_Strict):
    category: str
    name: str
    score: float | None
    passing: int
    applicable: int


class ReadinessSection(_Strict):
    score: float | None = Field(description="PASS controls / applicable controls, 0..1; null when none apply")
    percent: str = Field(description="The score as shown to people, e.g. '62.5%' or 'n/a'")
    passing: int
    applicable: int
    in_scope: int
    not_applicable: int
    by_status: dict[str, int]
    by_category: list[CategoryScore]
    formula: str


class RequirementRow(_Strict):
    id: str
    category: str
    title: str
    status: str
    controls: list[str]
    reason: str
    justification: str | None = None
    carved_out_to: list[str] = Field(default_factory=list)


class CheckRow(_Strict):
    check_id: str
    title: str
    severity: str
    status: str
    passed: int
    failed: int
    errored: int
    accepted: int


class ResourceRow(_Strict):
    """A resource that does not pass a control's check, with the reason the check gave."""

    check_id: str
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    status: str = Field(description="FAIL, ERROR or ACCEPTED (a failure covered by a risk acceptance)")
    severity: str
    reason: str
    acceptance_id: str | None = None


class ControlRow(_Strict):
    id: str
    title: str
    owner: str
    kind: str
    status: str
    reason: str
    requirements: list[str]
    categories: list[str]
    checks: list[CheckRow]
    evidence_required: list[str]
    justification: str | None = None
    failing_resources: list[ResourceRow] | None = Field(
        description="null when not known for this point; for a stored past result, the failing resources at"
        " that instant from the monitoring history's failure intervals (ERROR resources not included)"
    )


class FindingRow(_Strict):
    check_id: str
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    status: str
    evaluated_status: str
    severity: str
    reason: str
    observed_at: datetime
    first_seen: datetime | None = None
    status_since: datetime | None = None
    controls: list[str] = Field(description="Controls of the report that use this finding's check")
    acceptance_id: str | None = None
    accepted_for_controls: dict[str, str] = Field(default_factory=dict)


class AcceptanceRow(_Strict):
    id: str
    covers: str = Field(description="The acceptance's selectors in one line")
    control_id: str | None
    check_id: str | None
    justification: str
    compensating_control: str
    requested_by: str
    approver: str | None
    decided_at: datetime | None
    starts_at: datetime
    expires_at: datetime
    ends_at: datetime = Field(description="End of the covered interval: the expiry, or an earlier revocation")
    status: str


class EvidenceRow(_Strict):
    item_id: str
    title: str
    type: str
    control_ids: list[str]
    version: int
    filename: str
    sha256: str
    reviewed_by: str
    current_from: datetime
    current_to: datetime | None
    packaged_as: str | None = Field(default=None, description="Path inside the auditor package, when packaged")


class EvidenceSection(_Strict):
    window_from: date
    window_to: date
    entries: list[EvidenceRow]
    uncovered: list[str] = Field(description="Items without an accepted, valid version during the window")


class DeviationRow(_Strict):
    """A failure interval of a control or check: when detected, when resolved, and against which SLA."""

    control_ids: list[str]
    check_id: str | None
    resource_arn: str | None
    account_id: str | None = None
    region: str | None = None
    severity: str | None = None
    detected_at: datetime | None
    resolved_at: datetime | None = Field(description="null: still open at the end of the window")
    sla_days: float | None = None
    time_to_resolve_days: float | None = None
    sla: str | None = Field(
        default=None, description="met, missed, open_within_sla, open_overdue or no_sla (history only)"
    )
    sla_met: bool | None = Field(default=None, description="null when no SLA applies or it is still running")
    reopened: bool = False
    acceptance_id: str | None = None
    reason: str = ""


class ControlDeviationSummary(_Strict):
    control_id: str
    share_passing: float | None = Field(description="Passing share of monitored time; unmonitored never counts")
    deviation_count: int
    open_count: int
    sla_misses: int
    accepted_count: int


class Availability(_Strict):
    available: bool
    reason: str | None = Field(default=None, description="Why the section is missing, when it is")


class CoverageRow(_Strict):
    account_id: str | None
    region: str | None
    service: str | None
    monitored_share: float | None = Field(description="Share of the window with a complete scan, 0..1")
    gaps: list[str] = Field(description="Intervals without a complete scan ('not monitored')")


class CoverageSection(Availability):
    monitored_share: float | None = Field(
        default=None, description="Share of the elapsed window in which every unit in scope had a complete scan"
    )
    not_monitored: list[str] = Field(default_factory=list, description="Times when some unit lacked a complete scan")
    rows: list[CoverageRow] = Field(default_factory=list)


class DeviationSection(Availability):
    source: Literal["history", "accepted_failures"] | None = Field(
        default=None,
        description="history: every failure interval over the window; accepted_failures: failures covered by a"
        " risk acceptance at the report's instant (no history service)",
    )
    sla_days: dict[str, float] = Field(default_factory=dict, description="SLA per severity, in days")
    deviation_count: int | None = None
    sla_misses: int | None = None
    controls: list[ControlDeviationSummary] = Field(default_factory=list)
    items: list[DeviationRow] = Field(default_factory=list)


class TrendPointRow(_Strict):
    bucket: datetime = Field(description="Start of the day or week")
    scans: int
    monitored: bool = Field(description="False: no finalised scan in the bucket (never counted as passing)")
    readiness: float | None = Field(description="Readiness at the bucket's last scan, 0..1")


class TrendSection(Availability):
    granularity: str | None = Field(default=None, description="day or week")
    points: list[TrendPointRow] = Field(default_factory=list)


class PopulationRow(_Strict):
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    tags: dict[str, str] = Field(default_factory=dict)
    config_hash: str | None = None
    configuration: dict[str, Any] = Field(default_factory=dict)


class PopulationSection(Availability):
    as_of: datetime | None = None
    source: Literal["history", "inventory"] | None = None
    items: list[PopulationRow] = Field(default_factory=list)


class Report(_Strict):
    """A SOC 2 readiness report for one scope at one instant or over one period."""

    generator: Generator
    framework: dict[str, str] = Field(description="id, name, title and version of the framework")
    scope: ScopeInfo
    window: Window
    basis: Basis
    versions: Versions
    readiness: ReadinessSection
    requirements: list[RequirementRow]
    controls: list[ControlRow]
    findings: list[FindingRow] | None = Field(description="null when findings are not known for this point")
    acceptances: list[AcceptanceRow]
    evidence: EvidenceSection
    trend: TrendSection = Field(
        default_factory=lambda: TrendSection(available=False, reason="Trends are shown for a period.")
    )
    coverage: CoverageSection
    deviations: DeviationSection
    populations: PopulationSection
    not_assessed: str = NOT_ASSESSED
    notes: list[str] = Field(default_factory=list, description="What is incomplete in this report, and why")

    def control(self, control_id: str) -> ControlRow | None:
        return next((c for c in self.controls if c.id == control_id), None)


def report_schema() -> dict[str, Any]:
    schema = Report.model_json_schema(mode="serialization")
    schema["$id"] = f"https://guardian.invalid/schemas/report-{SCHEMA_VERSION}.json"
    schema["title"] = "Guardian SOC 2 report"
    return schema
