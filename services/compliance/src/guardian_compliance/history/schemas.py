"""What the monitoring-history endpoints answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from guardian_compliance.history.evidence_deviations import EvidenceDeviation, MissedOccurrence


class Span(BaseModel):
    start: datetime
    end: datetime
    seconds: float


class PeriodOut(BaseModel):
    scope_id: str
    period_id: str | None
    start: datetime
    end: datetime
    # The part of the period that has happened (end, or the service's now if earlier).
    elapsed_until: datetime


class ScanEntry(BaseModel):
    scan_id: str
    account_id: str
    at: datetime
    state: str
    partial: bool
    score: float | None
    passing: int
    applicable: int
    counts: dict[str, Any]


class ScanHistory(BaseModel):
    period: PeriodOut
    framework_id: str
    items: list[ScanEntry]


class IntervalOut(BaseModel):
    check_id: str
    resource_arn: str
    resource_name: str | None
    resource_type: str
    account_id: str
    region: str
    severity: str
    detected_at: datetime
    detected_scan: str
    resolved_at: datetime | None
    resolved_scan: str | None
    resolved_as: str | None
    reopened: bool


class StatusItem(BaseModel):
    id: str
    status: str


class ScanDetail(BaseModel):
    scan_id: str
    scope_id: str
    framework_id: str
    account_id: str
    at: datetime
    state: str
    partial: bool
    score: float | None
    by_category: list[dict[str, Any]]
    controls: list[StatusItem]
    requirements: list[StatusItem]
    new: list[IntervalOut] = Field(description="Failures first detected by this scan (new since the last scan)")
    resolved: list[IntervalOut] = Field(description="Failures this scan found resolved (since the last scan)")


class StatusSpan(BaseModel):
    status: str
    start: datetime
    end: datetime
    monitored_seconds: float


class ControlTimeline(BaseModel):
    period: PeriodOut
    framework_id: str
    control_id: str
    spans: list[StatusSpan]


class FindingHistory(BaseModel):
    check_id: str
    resource_arn: str
    first_seen: datetime | None
    last_seen: datetime | None
    current_status: str | None
    state: str | None
    intervals: list[IntervalOut]


class FindingHistoryList(BaseModel):
    period: PeriodOut
    items: list[FindingHistory]


class UnitCoverage(BaseModel):
    account_id: str
    region: str
    service: str
    complete_collections: int
    monitored: list[Span]
    not_monitored: list[Span]
    monitored_seconds: float
    share_monitored: float | None


class CoverageOut(BaseModel):
    period: PeriodOut
    window_hours: float
    units: list[UnitCoverage]
    every_unit_monitored: list[Span]
    not_monitored: list[Span] = Field(description="Times when at least one unit in scope lacked a complete scan")
    scans: list[dict[str, Any]]


SlaState = Literal["met", "missed", "open_within_sla", "open_overdue", "no_sla"]


class Deviation(IntervalOut):
    hours_to_resolve: float | None
    hours_open: float
    sla_days: float | None
    sla: SlaState
    accepted: bool
    acceptance_ids: list[str]


class ControlFailure(BaseModel):
    detected_at: datetime
    resolved_at: datetime | None
    findings: list[str] = Field(description="check_id|resource_arn of the deviations overlapping this failure")
    resources: list[str]


class ControlDeviations(BaseModel):
    control_id: str
    checks: list[str]
    monitored_seconds: float
    passing_seconds: float
    share_passing: float | None = Field(description="Passing share of monitored time; unmonitored time never counts")
    deviation_count: int
    open_count: int
    sla_misses: int
    accepted_count: int
    failures: list[ControlFailure]
    deviations: list[Deviation]
    missed_occurrences: list[MissedOccurrence] = Field(
        default_factory=list, description="Occurrences of a recurring control that passed without accepted evidence"
    )
    evidence_deviations: list[EvidenceDeviation] = Field(
        default_factory=list,
        description="Occurrences not covered on time (missed, or accepted late); counted in deviation_count",
    )


class ControlDeviation(Deviation):
    control_id: str


class DeviationsOut(BaseModel):
    period: PeriodOut
    framework_id: str
    sla_days: dict[str, float]
    deviation_count: int
    sla_misses: int
    controls: list[ControlDeviations] = Field(
        description="Per control. Paged (limit or cursor given): summaries only (failures and deviations empty),"
        " on the first page only (later pages: empty); deviation_count and sla_misses are on every page"
    )
    paged: bool = Field(default=False, description="Whether this answer is paged (limit given)")
    items: list[ControlDeviation] = Field(
        default_factory=list,
        description="Paged answer only: this page of deviations, ordered by control, detected at, check, resource",
    )
    next_cursor: str | None = Field(
        default=None, description="Paged answer only: pass as cursor for the next page; null when nothing follows"
    )


class PopulationItem(BaseModel):
    arn: str
    resource_type: str
    name: str | None
    account_id: str
    region: str | None
    service: str
    scan_id: str
    scanned_at: datetime
    stale: bool
    config_hash: str | None
    configuration: dict[str, Any] | None


class PopulationOut(BaseModel):
    scope_id: str
    as_of: datetime
    count: int = Field(description="Items in this answer (this page, when paged)")
    total: int | None = Field(
        default=None, description="First page of a paged answer (limit, no cursor): in-scope resources in all pages"
    )
    items: list[PopulationItem]
    next_cursor: str | None = Field(
        default=None, description="With limit: pass as cursor for the next page; null when nothing follows"
    )


class FieldChangeOut(BaseModel):
    path: str
    change: str
    before: Any
    after: Any


class DriftItem(BaseModel):
    arn: str
    resource_type: str
    name: str
    account_id: str
    region: str
    at: datetime
    scan_id: str
    before_hash: str
    after_hash: str
    changes: list[FieldChangeOut]
    turned_failing: list[str] = Field(description="Checks this change turned from PASS to FAIL")
    turned_passing: list[str]
    actor: str | None = Field(
        default=None,
        description="Who made the change: the caller's ARN of the latest CloudTrail write event naming the"
        " resource between the previous and this observation; 'unknown (CloudTrail not readable)' when the"
        " event history could not be read; null when no event was found",
    )
    actor_event: str | None = Field(default=None, description="That event's name (e.g. PutBucketEncryption)")
    actor_event_time: datetime | None = None


class DriftOut(BaseModel):
    period: PeriodOut
    count: int
    items: list[DriftItem]


class TrendCategory(BaseModel):
    category: str
    score: float | None


class TrendPoint(BaseModel):
    bucket: datetime
    scans: int
    monitored: bool
    readiness: float | None = Field(description="Readiness at the bucket's last scan")
    min: float | None
    max: float | None
    mean: float | None
    categories: list[TrendCategory]


class TrendsOut(BaseModel):
    period: PeriodOut
    framework_id: str
    granularity: Literal["day", "week"]
    points: list[TrendPoint]
