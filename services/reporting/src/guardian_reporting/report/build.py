"""Assemble a :class:`Report` from what compliance and evidence say, for a point or a period.

The posture shown is the one in force at the window's instant: live (from current findings) when
that instant is now or later, else the result compliance stored when the newest scan before it was
finalised. A past instant with no stored result is refused: a time never monitored is not passing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from guardian_common.errors import BadRequest, Conflict
from guardian_reporting.report.model import (
    AcceptanceRow,
    Basis,
    CarveOut,
    CategoryScore,
    CheckRow,
    ControlDeviationSummary,
    ControlRow,
    CoverageRow,
    CoverageSection,
    DeviationRow,
    DeviationSection,
    EvidenceRow,
    EvidenceSection,
    FindingRow,
    Generator,
    PopulationRow,
    PopulationSection,
    ReadinessSection,
    Report,
    RequirementRow,
    ResourceRow,
    ScopeInfo,
    TrendPointRow,
    TrendSection,
    Versions,
    Window,
)
from guardian_reporting.sources import (
    DEFAULT_FRAMEWORK,
    Acceptance,
    ControlResult,
    CoverageAnswer,
    DeviationsAnswer,
    Finding,
    HistoryData,
    NotAvailable,
    PopulationAnswer,
    Readiness,
    RequirementResult,
    ResultContext,
    Scope,
    Sources,
    Span,
    TrendsAnswer,
)

# A live posture is used when the instant asked for is this close to now (or later).
LIVE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class ReportRequest:
    scope_id: str
    framework_id: str = DEFAULT_FRAMEWORK
    period_id: str | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.period_id is not None and self.at is not None:
            raise BadRequest("Ask for a period or a point in time, not both.", code="period_and_at")
        if self.at is not None and self.at.tzinfo is None:
            raise BadRequest("The point in time needs a time zone, e.g. 2026-01-31T23:59:59Z.", code="naive_datetime")


def end_of(day: date) -> datetime:
    """The last instant of a day in UTC: a period's end date is inclusive."""
    return datetime.combine(day, time.max, tzinfo=UTC)


def percent(score: float | None) -> str:
    return "n/a" if score is None else f"{score * 100:.1f}%"


def _window(request: ReportRequest, scope: Scope, now: datetime) -> Window:
    if request.period_id is not None:
        p = scope.period(request.period_id)
        if p.start_date > now.date():
            raise BadRequest(f"Period {p.name!r} starts on {p.start_date}, in the future.", code="period_in_future")
        return Window(
            kind="period",
            at=min(end_of(p.end_date), now),
            period_id=p.id,
            period_name=p.name,
            period_type=p.type,
            start=p.start_date,
            end=p.end_date,
            locked=p.locked,
        )
    at = request.at or now
    if at > now + LIVE_TOLERANCE:
        raise BadRequest(
            f"{at.isoformat()} is in the future: a report shows what was, not what will be.", code="at_in_future"
        )
    return Window(kind="point", at=min(at, now))


def _scope_info(scope: Scope) -> ScopeInfo:
    return ScopeInfo(
        id=scope.id,
        name=scope.name,
        version=scope.version,
        categories=sorted(scope.categories),
        account_ids=list(scope.boundary.account_ids),
        regions=list(scope.boundary.regions),
        tags=dict(scope.boundary.tags),
        carve_outs=[
            CarveOut(
                organisation=o.name,
                services=o.services,
                method=o.method,
                criteria=[f"{c.id} ({c.coverage})" for c in o.criteria],
                report_evidence_id=o.report_evidence_id,
            )
            for o in scope.subservice_organisations
        ],
        user_entity_controls=[
            u.description + (f" ({', '.join(u.criteria)})" if u.criteria else "") for u in scope.user_entity_controls
        ],
        not_applicable=[{"kind": m.kind, "id": m.id, "justification": m.justification} for m in scope.not_applicable],
    )


def _readiness(r: Readiness) -> ReadinessSection:
    return ReadinessSection(
        score=r.score,
        percent=percent(r.score),
        passing=r.passing,
        applicable=r.applicable,
        in_scope=r.in_scope,
        not_applicable=r.not_applicable,
        by_status=dict(r.by_status),
        by_category=[
            CategoryScore(category=c.category, name=c.name, score=c.score, passing=c.passing, applicable=c.applicable)
            for c in r.by_category
        ],
        formula=r.formula,
    )


def _versions(ctx: ResultContext) -> Versions:
    v = ctx.versions
    return Versions(
        framework=ctx.framework_version,
        control_library=ctx.library_version,
        check_catalogue=ctx.catalogue_version,
        checks=dict(v.get("checks") or {}),
        controls=dict(v.get("controls") or {}),
        scope_version=ctx.scope_version,
    )


def _requirement_rows(items: Iterable[RequirementResult]) -> list[RequirementRow]:
    return [
        RequirementRow(
            id=r.id,
            category=r.category,
            title=r.title,
            status=r.status,
            controls=list(r.controls),
            reason=r.reason,
            justification=r.justification,
            carved_out_to=list(r.carved_out_to),
        )
        for r in items
    ]


def _resource_rows(control: ControlResult, findings: list[Finding]) -> list[ResourceRow]:
    """The resources that keep a control from passing (or are accepted for it), worst first."""
    checks = {c.check_id for c in control.checks}
    rows = []
    for f in findings:
        if f.check_id not in checks or (f.evaluated_status or f.status) == "PASS":
            continue
        status = f.status
        acceptance = f.acceptance_id
        if status == "FAIL" and control.id in f.accepted_for_controls:
            status, acceptance = "ACCEPTED", f.accepted_for_controls[control.id]
        rows.append(
            ResourceRow(
                check_id=f.check_id,
                resource_arn=f.resource_arn,
                resource_type=f.resource_type,
                resource_name=f.resource_name,
                account_id=f.account_id,
                region=f.region,
                status=status,
                severity=f.severity,
                reason=f.reason,
                acceptance_id=acceptance,
            )
        )
    order = {"FAIL": 0, "ERROR": 1, "ACCEPTED": 2}
    return sorted(rows, key=lambda r: (order.get(r.status, 3), r.check_id, r.resource_arn))


def _failing(
    control: ControlResult, findings: list[Finding] | None, failing_then: Mapping[str, list[ResourceRow]] | None
) -> list[ResourceRow] | None:
    if findings is not None:
        return _resource_rows(control, findings)
    if failing_then is not None:
        return failing_then.get(control.id, [])
    return None


def _control_rows(
    controls: Iterable[ControlResult],
    findings: list[Finding] | None,
    failing_then: Mapping[str, list[ResourceRow]] | None = None,
) -> list[ControlRow]:
    return [
        ControlRow(
            id=c.id,
            title=c.title,
            owner=c.owner,
            kind=c.kind,
            status=c.status,
            reason=c.reason,
            requirements=list(c.requirements),
            categories=list(c.categories),
            checks=[
                CheckRow(
                    check_id=k.check_id,
                    title=k.title,
                    severity=k.severity,
                    status=k.status,
                    passed=k.passed,
                    failed=k.failed,
                    errored=k.errored,
                    accepted=k.accepted,
                )
                for k in c.checks
            ],
            evidence_required=list(c.evidence_required),
            justification=c.justification,
            failing_resources=_failing(c, findings, failing_then),
        )
        for c in controls
    ]


def _finding_rows(findings: list[Finding], controls: Iterable[ControlResult]) -> list[FindingRow]:
    users: dict[str, list[str]] = {}
    for c in controls:
        for k in c.checks:
            users.setdefault(k.check_id, []).append(c.id)
    order = {"FAIL": 0, "ERROR": 1, "ACCEPTED": 2, "PASS": 3}
    return [
        FindingRow(
            check_id=f.check_id,
            resource_arn=f.resource_arn,
            resource_type=f.resource_type,
            resource_name=f.resource_name,
            account_id=f.account_id,
            region=f.region,
            status=f.status,
            evaluated_status=f.evaluated_status or f.status,
            severity=f.severity,
            reason=f.reason,
            observed_at=f.observed_at,
            first_seen=f.first_seen,
            status_since=f.status_since,
            controls=sorted(users.get(f.check_id, [])),
            acceptance_id=f.acceptance_id,
            accepted_for_controls=dict(f.accepted_for_controls),
        )
        for f in sorted(findings, key=lambda f: (order.get(f.status, 4), f.check_id, f.resource_arn))
    ]


def _acceptance_rows(items: Iterable[Acceptance], start: datetime, end: datetime) -> list[AcceptanceRow]:
    """Approved acceptances in force at some moment of [start, end]: the ones an auditor must see."""
    rows = [
        AcceptanceRow(
            id=a.id,
            covers=a.selectors(),
            control_id=a.control_id,
            check_id=a.check_id,
            justification=a.justification,
            compensating_control=a.compensating_control,
            requested_by=a.requested_by,
            approver=a.approver,
            decided_at=a.decided_at,
            starts_at=a.starts_at,
            expires_at=a.expires_at,
            ends_at=a.ends_at or a.expires_at,
            status=a.status,
        )
        for a in items
        if a.state == "approved" and a.starts_at <= end and (a.ends_at or a.expires_at) > start
    ]
    return sorted(rows, key=lambda r: (r.starts_at, r.id))


def _span_text(span: Span) -> str:
    return f"{span.start:%Y-%m-%d %H:%M} to {span.end:%Y-%m-%d %H:%M} UTC"


_SLA_MET = {"met": True, "missed": False, "open_overdue": False}


def deviations_from_history(answer: DeviationsAnswer) -> DeviationSection:
    """Compliance's failure intervals, one row per interval with every control it touched."""
    merged: dict[tuple[str, str, datetime], DeviationRow] = {}
    for control in answer.controls:
        for d in control.deviations:
            key = (d.check_id, d.resource_arn, d.detected_at)
            row = merged.get(key)
            if row is not None:
                row.control_ids = sorted({*row.control_ids, control.control_id})
                continue
            merged[key] = DeviationRow(
                control_ids=[control.control_id],
                check_id=d.check_id,
                resource_arn=d.resource_arn,
                account_id=d.account_id or None,
                region=d.region or None,
                severity=d.severity or None,
                detected_at=d.detected_at,
                resolved_at=d.resolved_at,
                sla_days=d.sla_days,
                time_to_resolve_days=round(d.hours_to_resolve / 24, 4) if d.hours_to_resolve is not None else None,
                sla=d.sla,
                sla_met=_SLA_MET.get(d.sla),
                reopened=d.reopened,
                acceptance_id=", ".join(d.acceptance_ids) or None,
            )
    rows = list(merged.values())
    for control in answer.controls:
        # A recurring procedural control's occurrence without evidence accepted by its due date.
        for e in control.evidence_deviations:
            resolved = e.resolved_at
            rows.append(
                DeviationRow(
                    control_ids=[control.control_id],
                    check_id=None,
                    resource_arn=None,
                    detected_at=e.detected_at,
                    resolved_at=resolved,
                    time_to_resolve_days=(
                        round((resolved - e.detected_at).total_seconds() / 86400, 4) if resolved is not None else None
                    ),
                    sla="no_sla",
                    reason=f"Evidence for {e.label} ({e.frequency}) {e.kind}: {e.reason}",
                )
            )
    items = sorted(rows, key=lambda r: (r.detected_at or datetime.min.replace(tzinfo=UTC), r.check_id or ""))
    return DeviationSection(
        available=True,
        source="history",
        sla_days=dict(answer.sla_days),
        deviation_count=answer.deviation_count,
        sla_misses=answer.sla_misses,
        controls=[
            ControlDeviationSummary(
                control_id=c.control_id,
                share_passing=c.share_passing,
                deviation_count=c.deviation_count,
                open_count=c.open_count,
                sla_misses=c.sla_misses,
                accepted_count=c.accepted_count,
            )
            for c in answer.controls
        ],
        items=items,
    )


def deviations_from_acceptances(
    deviations: Iterable[Mapping[str, Any]], findings: list[Finding] | None
) -> list[DeviationRow]:
    """Accepted failures at the report's instant: they do not fail their control, and are still deviations."""
    since = {(f.check_id, f.resource_arn): f for f in findings or []}
    rows = []
    for d in deviations:
        finding = since.get((str(d.get("check_id")), str(d.get("resource_arn"))))
        per_control = d.get("accepted_for_controls") or {}
        rows.append(
            DeviationRow(
                control_ids=sorted(per_control) if isinstance(per_control, Mapping) else [],
                check_id=d.get("check_id"),
                resource_arn=d.get("resource_arn"),
                account_id=d.get("account_id"),
                region=d.get("region"),
                severity=finding.severity if finding else None,
                detected_at=finding.status_since if finding else None,
                resolved_at=None,
                acceptance_id=d.get("acceptance_id")
                or (next(iter(per_control.values()), None) if isinstance(per_control, Mapping) else None),
                reason=str(d.get("reason") or ""),
            )
        )
    return rows


def coverage_from_history(answer: CoverageAnswer) -> CoverageSection:
    elapsed = (answer.period.elapsed_until - answer.period.start).total_seconds()
    covered = sum(s.seconds for s in answer.every_unit_monitored)
    return CoverageSection(
        available=True,
        monitored_share=round(covered / elapsed, 6) if elapsed > 0 else None,
        not_monitored=[_span_text(s) for s in answer.not_monitored],
        rows=[
            CoverageRow(
                account_id=u.account_id,
                region=u.region,
                service=u.service,
                monitored_share=u.share_monitored,
                gaps=[_span_text(s) for s in u.not_monitored],
            )
            for u in answer.units
        ],
    )


def trend_from_history(answer: TrendsAnswer) -> TrendSection:
    return TrendSection(
        available=True,
        granularity=answer.granularity,
        points=[
            TrendPointRow(bucket=p.bucket, scans=p.scans, monitored=p.monitored, readiness=p.readiness)
            for p in answer.points
        ],
    )


def populations_from_history(answer: PopulationAnswer) -> PopulationSection:
    items = [
        PopulationRow(
            resource_arn=p.arn,
            resource_type=p.resource_type,
            resource_name=p.name or "",
            account_id=p.account_id,
            region=p.region or "",
            config_hash=p.config_hash,
            configuration=dict(p.configuration or {}),
        )
        for p in answer.items
    ]
    return PopulationSection(available=True, as_of=answer.as_of, source="history", items=items)


class ReportBuilder:
    """Reads everything a report needs through one user's :class:`Sources` and assembles it."""

    def __init__(self, sources: Sources, *, generated_by: str, now: datetime | None = None) -> None:
        self.src = sources
        self.generated_by = generated_by
        self.now = now or datetime.now(UTC)

    async def build(self, request: ReportRequest) -> Report:
        notes: list[str] = []
        scope = await self.src.scope(request.scope_id)
        framework = await self.src.framework(request.framework_id)
        window = _window(request, scope, self.now)
        live = window.at >= self.now - LIVE_TOLERANCE

        findings: list[Finding] | None
        failing_then: dict[str, list[ResourceRow]] | None = None
        deviation_list: Sequence[Mapping[str, Any]]
        if live:
            export = await self.src.export(scope.id, framework.id)
            # Readiness, controls and criteria from one computation, so they always agree.
            posture = await self.src.posture(scope.id, framework.id)
            findings = await self.src.all_findings(scope.id)
            ctx, readiness = posture.result, posture.readiness
            controls, requirements = posture.controls, posture.requirements
            deviation_list = list(export.get("deviations") or [])
            basis_source = "live"
        else:
            stored = await self.src.result_at(scope.id, window.at, framework.id)
            if stored is None:
                raise Conflict(
                    f"No scan of scope {scope.id!r} was finalised by {window.at.isoformat()}: that time was not"
                    " monitored, so there is no posture to report.",
                    code="not_monitored",
                )
            ctx, readiness = stored.result, stored.readiness
            controls, requirements = stored.controls, stored.requirements
            deviation_list = stored.deviations
            findings = None
            basis_source = "stored"
            failing_then = await self._failing_at(scope, window.at)
            if failing_then is None:
                notes.append(
                    f"The posture is the result stored when scan {ctx.scan_id} was finalised; resource-level"
                    " findings of a past instant are not kept, so failing resources are not listed."
                )
            else:
                notes.append(
                    f"The posture is the result stored when scan {ctx.scan_id} was finalised. Failing resources at"
                    " that instant come from the failure intervals of the monitoring history; resources that could"
                    " not be evaluated (ERROR) and the full list of findings are not kept for a past instant."
                )

        start = datetime.combine(window.start, time.min, tzinfo=UTC) if window.start else window.at
        acceptances = _acceptance_rows(await self.src.acceptances(), start, window.at)
        evidence = await self._evidence(window)
        coverage, deviations, populations = await self._history(scope, window, deviation_list, findings, notes)
        trend = await self._trend(scope, window, framework.id)
        if ctx.partial:
            notes.append(f"Scan {ctx.scan_id} was partial: some services could not be read (their checks are ERROR).")

        return Report(
            generator=Generator(generated_at=self.now, generated_by=self.generated_by),
            framework={
                "id": framework.id,
                "name": framework.name,
                "title": framework.title,
                "version": framework.version,
            },
            scope=_scope_info(scope),
            window=window,
            basis=Basis(
                source=basis_source,
                scan_id=ctx.scan_id,
                scan_state=ctx.scan_state,
                partial=ctx.partial,
                finalised_at=ctx.finalised_at,
                computed_at=ctx.computed_at,
            ),
            versions=_versions(ctx),
            readiness=_readiness(readiness),
            requirements=_requirement_rows(requirements),
            controls=_control_rows(controls, findings, failing_then),
            findings=_finding_rows(findings, controls) if findings is not None else None,
            acceptances=acceptances,
            evidence=evidence,
            trend=trend,
            coverage=coverage,
            deviations=deviations,
            populations=populations,
            notes=notes,
        )

    async def _evidence(self, window: Window) -> EvidenceSection:
        start = window.start or window.at.date()
        end = window.end or window.at.date()
        index = await self.src.evidence_index(start, end)
        return EvidenceSection(
            window_from=index.window_from,
            window_to=index.window_to,
            entries=[
                EvidenceRow(
                    item_id=e.item_id,
                    title=e.title,
                    type=e.type,
                    control_ids=list(e.control_ids),
                    version=e.version,
                    filename=e.filename,
                    sha256=e.sha256,
                    reviewed_by=e.reviewed_by,
                    current_from=e.current_from,
                    current_to=e.current_to,
                )
                for e in index.entries
            ],
            uncovered=list(index.uncovered),
        )

    async def _history(
        self,
        scope: Scope,
        window: Window,
        accepted_now: Sequence[Mapping[str, Any]],
        findings: list[Finding] | None,
        notes: list[str],
    ) -> tuple[CoverageSection, DeviationSection, PopulationSection]:
        if window.kind == "period":
            assert window.start is not None
            assert window.end is not None
            coverage_answer = await self.src.coverage(scope.id, start=window.start, end=window.end)
            deviation_answer = await self.src.deviations(scope.id, start=window.start, end=window.end)
        else:
            coverage_answer = NotAvailable(feature="coverage", reason="Monitoring coverage is shown for a period.")
            deviation_answer = NotAvailable(feature="deviations", reason="A point-in-time report has no intervals.")

        if isinstance(coverage_answer, HistoryData):
            coverage = coverage_from_history(CoverageAnswer.model_validate(coverage_answer.data))
        else:
            coverage = CoverageSection(available=False, reason=coverage_answer.reason)
            if window.kind == "period":
                notes.append(f"Monitoring coverage is not available: {coverage_answer.reason}")

        if isinstance(deviation_answer, HistoryData):
            deviations = deviations_from_history(DeviationsAnswer.model_validate(deviation_answer.data))
        else:
            deviations = DeviationSection(
                available=True,
                source="accepted_failures",
                reason=deviation_answer.reason if window.kind == "period" else None,
                items=deviations_from_acceptances(accepted_now, findings),
            )
            if window.kind == "period":
                notes.append(
                    "Deviation intervals over the period are not available "
                    f"({deviation_answer.reason}); only failures accepted at the period's end are listed."
                )

        population_answer = await self.src.populations(scope.id, at=window.at)
        if isinstance(population_answer, HistoryData):
            populations = populations_from_history(PopulationAnswer.model_validate(population_answer.data))
        elif window.at >= self.now - LIVE_TOLERANCE:
            populations = await self._inventory_population(scope)
        else:
            populations = PopulationSection(available=False, reason=population_answer.reason)
            notes.append(f"Populations as of {window.at.date()} are not available: {population_answer.reason}")
        return coverage, deviations, populations

    async def _failing_at(self, scope: Scope, at: datetime) -> dict[str, list[ResourceRow]] | None:
        """Per control, the resources failing at a past instant: the history's intervals open then."""
        try:
            answer = await self.src.deviations(scope.id, start=at.date(), end=at.date())
        except (BadRequest, Conflict):
            # The history refuses that day (e.g. before the scope existed): the posture still stands.
            return None
        if not isinstance(answer, HistoryData):
            return None
        out: dict[str, list[ResourceRow]] = {}
        for control in DeviationsAnswer.model_validate(answer.data).controls:
            rows = [
                ResourceRow(
                    check_id=d.check_id,
                    resource_arn=d.resource_arn,
                    resource_type=d.resource_type,
                    resource_name=d.resource_name or "",
                    account_id=d.account_id,
                    region=d.region,
                    status="ACCEPTED" if d.accepted else "FAIL",
                    severity=d.severity,
                    reason=f"Failing since {d.detected_at:%Y-%m-%d %H:%M} UTC (monitoring history)",
                    acceptance_id=", ".join(d.acceptance_ids) or None,
                )
                for d in control.deviations
                if d.detected_at <= at and (d.resolved_at is None or d.resolved_at > at)
            ]
            out[control.control_id] = sorted(rows, key=lambda r: (r.status != "FAIL", r.check_id, r.resource_arn))
        return out

    async def _trend(self, scope: Scope, window: Window, framework_id: str) -> TrendSection:
        """Readiness over a period: daily up to two months, weekly beyond."""
        if window.kind != "period" or window.start is None or window.end is None:
            return TrendSection(available=False, reason="Trends are shown for a period.")
        granularity: Literal["day", "week"] = "day" if (window.end - window.start).days <= 62 else "week"
        answer = await self.src.trends(
            scope.id, start=window.start, end=window.end, granularity=granularity, framework_id=framework_id
        )
        if isinstance(answer, HistoryData):
            return trend_from_history(TrendsAnswer.model_validate(answer.data))
        return TrendSection(available=False, reason=answer.reason)

    async def _inventory_population(self, scope: Scope) -> PopulationSection:
        """The population now, from the inventory, filtered to the scope's accounts, regions and tags."""
        b = scope.boundary
        rows = []
        for r in await self.src.resources():
            if b.account_ids and r.account_id not in b.account_ids:
                continue
            if b.regions and r.region != "global" and r.region not in b.regions:
                continue
            if b.tags and any(
                k not in r.tags or (allowed and r.tags[k] not in allowed) for k, allowed in b.tags.items()
            ):
                continue
            rows.append(
                PopulationRow(
                    resource_arn=r.arn,
                    resource_type=r.resource_type,
                    resource_name=r.name,
                    account_id=r.account_id,
                    region=r.region,
                    tags=dict(r.tags),
                    config_hash=r.config_hash or None,
                    configuration=dict(r.configuration),
                )
            )
        rows.sort(key=lambda p: (p.resource_type, p.resource_arn))
        return PopulationSection(available=True, as_of=self.now, source="inventory", items=rows)
