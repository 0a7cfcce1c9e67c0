"""What each dashboard page shows, built from the upstream reads in :mod:`guardian_reporting.sources`.

Views filter and page before anything reaches a template: templates only lay out what they are
given. Filters compliance offers are passed upstream: every findings filter (status, severity,
service, check, account, region, text), so only the page shown travels; the overview's owner and
text filters are applied here, over the controls compliance returns.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from guardian_common.errors import BadRequest
from guardian_reporting import charts
from guardian_reporting.sources import (
    Acceptance,
    ControlDetail,
    ControlEvidence,
    ControlResult,
    EncryptionInventory,
    Finding,
    History,
    HistoryData,
    NotAvailable,
    Period,
    Readiness,
    RequirementResult,
    ResultContext,
    Sources,
)
from guardian_reporting.web.render import Frame, Notice

CONTROL_STATUSES = ("FAIL", "ERROR", "EVIDENCE_REQUIRED", "PASS", "NOT_APPLICABLE")
FINDING_STATUSES = ("FAIL", "ERROR", "ACCEPTED", "PASS")
SEVERITIES = ("critical", "high", "medium", "low", "info")
ENCRYPTION_STATES = ("unencrypted", "unknown", "encrypted")
PAGE_SIZE = 50
# The newest entries of a control's timeline shown on its page.
TIMELINE_LIMIT = 200
_ACCOUNT = re.compile(r"^\d{12}$")
_WORD = re.compile(r"^[A-Za-z0-9_.:*/-]{1,128}$")
_SERVICE = re.compile(r"^[a-z0-9-]{1,64}$")


def choice(name: str, value: str | None, allowed: Sequence[str]) -> str | None:
    """An optional filter value from a form: empty is "any"; anything else must be one of ``allowed``."""
    if value is None or value == "":
        return None
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}; got {value!r}.", code=f"invalid_{name}")
    return value


def word(name: str, value: str | None, pattern: re.Pattern[str] = _WORD) -> str | None:
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if not pattern.match(value):
        raise BadRequest(f"{name} {value!r} is not a valid value.", code=f"invalid_{name}")
    return value


def text(value: str | None) -> str | None:
    if value is None or value.strip() == "":
        return None
    if len(value) > 200:
        raise BadRequest("The search text is limited to 200 characters.", code="invalid_text")
    return value.strip().lower()


def offset_of(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or int(value) > 10_000_000:
        raise BadRequest(f"offset must be a whole number; got {value!r}.", code="invalid_offset")
    return int(value)


@dataclass(frozen=True)
class Paging:
    total: int
    offset: int
    limit: int
    previous_url: str | None
    next_url: str | None

    @property
    def first(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.offset + self.limit, self.total)


def paging(frame: Frame, total: int, offset: int, limit: int = PAGE_SIZE) -> Paging:
    previous_url = frame.here(offset=max(offset - limit, 0) or None) if offset > 0 else None
    next_url = frame.here(offset=offset + limit) if offset + limit < total else None
    return Paging(total=total, offset=offset, limit=limit, previous_url=previous_url, next_url=next_url)


def window(period: Period | None) -> tuple[datetime, datetime] | None:
    """A period's dates as an instant range: from its first day's start to its last day's end (UTC)."""
    if period is None:
        return None
    start = datetime.combine(period.start_date, time.min, tzinfo=UTC)
    end = datetime.combine(period.end_date + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


def matches(needle: str | None, *haystack: str | None) -> bool:
    if needle is None:
        return True
    return any(needle in h.lower() for h in haystack if h)


# ------------------------------------------------------------------------------------------- history tables


@dataclass
class HistoryTable:
    """One monitoring-history view as a page shows it: a summary sentence and a table, or why it is missing."""

    title: str
    caption: str
    headers: list[str]
    rows: list[list[str]]
    summary: str = ""
    unavailable: str | None = None


def _hours(seconds: Any) -> str:
    return f"{float(seconds) / 3600:.1f} h" if isinstance(seconds, int | float) else "—"


def _share(value: Any) -> str:
    return f"{100 * float(value):.1f}%" if isinstance(value, int | float) else "not monitored"


def _when(value: Any) -> str:
    if not isinstance(value, str):
        return "—" if value is None else str(value)
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    raw = data.get(key)
    return [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []


def coverage_table(entry: History) -> HistoryTable:
    title = "Monitoring coverage"
    headers = ["Account", "Region", "Service", "Complete collections", "Monitored", "Share monitored"]
    if isinstance(entry, NotAvailable):
        return HistoryTable(title, title, headers, [], unavailable=entry.reason)
    data = entry.data
    gaps = _list(data, "not_monitored")
    units = _list(data, "units")
    rows = [
        [
            str(u.get("account_id", "")),
            str(u.get("region", "")),
            str(u.get("service", "")),
            str(u.get("complete_collections", 0)),
            _hours(u.get("monitored_seconds")),
            _share(u.get("share_monitored")),
        ]
        for u in units
    ]
    unmonitored = sum(float(g.get("seconds", 0)) for g in gaps)
    summary = (
        f"{len(units)} account/region/service units in scope; {len(gaps)} stretch(es) when at least one had no"
        f" complete scan, {unmonitored / 3600:.1f} h in all: not monitored time never counts as passing."
    )
    return HistoryTable(title, "Coverage per account, region and service", headers, rows, summary)


def deviations_table(entry: History) -> HistoryTable:
    title = "Deviations"
    headers = ["Control", "Deviations", "Open", "SLA misses", "Accepted", "Passing share of monitored time"]
    if isinstance(entry, NotAvailable):
        return HistoryTable(title, title, headers, [], unavailable=entry.reason)
    data = entry.data
    controls = [c for c in _list(data, "controls") if c.get("deviation_count") or c.get("open_count")]
    rows = [
        [
            str(c.get("control_id", "")),
            str(c.get("deviation_count", 0)),
            str(c.get("open_count", 0)),
            str(c.get("sla_misses", 0)),
            str(c.get("accepted_count", 0)),
            _share(c.get("share_passing")),
        ]
        for c in controls
    ]
    summary = f"{data.get('deviation_count', 0)} deviation(s), {data.get('sla_misses', 0)} past their SLA."
    return HistoryTable(title, "Deviations per control", headers, rows, summary)


def control_deviations_table(entry: History, control_id: str) -> HistoryTable:
    title = "Deviations"
    headers = ["Resource", "Check", "Severity", "Detected", "Resolved", "Time to resolve", "SLA", "Accepted"]
    if isinstance(entry, NotAvailable):
        return HistoryTable(title, title, headers, [], unavailable=entry.reason)
    mine = next((c for c in _list(entry.data, "controls") if c.get("control_id") == control_id), {})
    rows = [
        [
            str(d.get("resource_name") or d.get("resource_arn", "")),
            str(d.get("check_id", "")),
            str(d.get("severity", "")),
            _when(d.get("detected_at")),
            _when(d.get("resolved_at")) if d.get("resolved_at") else "open",
            f"{float(d['hours_to_resolve']):.1f} h" if isinstance(d.get("hours_to_resolve"), int | float) else "—",
            str(d.get("sla", "")).replace("_", " "),
            "yes" if d.get("accepted") else "no",
        ]
        for d in _list(mine, "deviations")
    ]
    summary = (
        f"{mine.get('deviation_count', 0)} deviation(s), {mine.get('open_count', 0)} open,"
        f" {mine.get('sla_misses', 0)} past their SLA; passing {_share(mine.get('share_passing'))}"
        " of monitored time."
        if mine
        else ""
    )
    return HistoryTable(title, f"Failure intervals of {control_id}", headers, rows, summary)


# ------------------------------------------------------------------------------------------- overview


@dataclass
class CategoryGroup:
    id: str
    name: str
    readiness: str
    requirements: list[RequirementResult]
    controls: list[ControlResult]


@dataclass
class Overview:
    readiness: Readiness | None
    result: ResultContext | None
    groups: list[CategoryGroup]
    categories: list[tuple[str, str]]
    owners: list[tuple[str, str]]
    filters: dict[str, str | None]
    trend: charts.Chart
    by_category: charts.Chart
    shown_controls: int
    shown_requirements: int
    history: list[HistoryTable] = field(default_factory=list)


async def overview(
    src: Sources,
    frame: Frame,
    *,
    category: str | None,
    status: str | None,
    owner: str | None,
    q: str | None,
) -> Overview:
    scope_id = frame.scope.id
    span = window(frame.period)
    now = datetime.now(UTC)
    framework_task = src.framework()
    results_task = src.results(scope_id, limit=1000)
    readiness: Readiness | None
    result: ResultContext | None
    if span is None or span[1] > now:
        # No period, or one still running: the live posture is the posture "as of its end so far".
        role = frame.principal.role.value
        # One posture computation in compliance for the card, the criteria and the controls.
        framework, summaries, posture = await asyncio.gather(
            framework_task,
            results_task,
            frame.cache.get(("posture", role, scope_id), lambda: src.posture(scope_id)),
        )
        readiness, result = posture.readiness, posture.result
        requirements, controls = posture.requirements, posture.controls
        if span is not None:
            frame.notices.append(Notice("This period has not ended: the posture shown is the live one."))
    else:
        framework, summaries = await asyncio.gather(framework_task, results_task)
        stored = await src.result_at(scope_id, span[1])
        computed = stored.result.computed_at if stored is not None else None
        if stored is not None and computed is not None and computed < span[0]:
            # The newest result is from before the period began: the period itself was never scanned.
            stored = None
        if stored is None:
            frame.notices.append(
                Notice("No scan was finalised by the end of this period: it was not monitored.", warn=True)
            )
            readiness, result, requirements, controls = None, None, [], []
        else:
            readiness, result = stored.readiness, stored.result
            requirements, controls = stored.requirements, stored.controls
            frame.notices.append(Notice(f"Posture as stored at the last scan of the period ({result.scan_id})."))

    names = {c.id: c.name for c in framework.categories}
    in_scope = [c for c in framework.categories if c.id in frame.scope.categories] or framework.categories
    category = choice("category", category, [c.id for c in in_scope])
    status = choice("status", status, CONTROL_STATUSES)
    owners = sorted({c.owner for c in controls if c.owner})
    if owner is not None and owner not in owners:
        owner = None
        frame.notices.append(Notice("No control has that owner; the owner filter was cleared.", warn=True))

    def keep_control(c: ControlResult) -> bool:
        return (
            (status is None or c.status == status)
            and (owner is None or c.owner == owner)
            and matches(q, c.id, c.title, c.description, c.reason)
        )

    def keep_requirement(r: RequirementResult) -> bool:
        return (status is None or r.status == status) and matches(q, r.id, r.title, r.description, r.reason)

    by_score = {c.category: c for c in readiness.by_category} if readiness else {}
    groups: list[CategoryGroup] = []
    for cat in in_scope:
        if category is not None and cat.id != category:
            continue
        score = by_score.get(cat.id)
        groups.append(
            CategoryGroup(
                id=cat.id,
                name=cat.name,
                readiness=(
                    f"{score.score:.1f}% ({score.passing} of {score.applicable})"
                    if score is not None and score.score is not None
                    else "no applicable controls"
                ),
                requirements=[r for r in requirements if r.category == cat.id and keep_requirement(r)],
                # Owner filters controls only: requirements have no owner of their own.
                controls=[c for c in controls if cat.id in c.categories and keep_control(c)],
            )
        )

    points = [(s.computed_at, s.score) for s in summaries if span is None or span[0] <= s.computed_at < span[1]]
    trend = charts.readiness_trend(points, "Readiness at each final scan" + (" in the period" if span else ""))
    counts = []
    for cat in in_scope:
        per: dict[str, int] = {}
        for c in controls:
            if cat.id in c.categories:
                per[c.status] = per.get(c.status, 0) + 1
        counts.append((names.get(cat.id, cat.id), per))
    by_category = charts.status_by_category(counts)

    history: list[HistoryTable] = []
    if frame.period is not None:
        coverage, deviations = await asyncio.gather(
            src.coverage(scope_id, period_id=frame.period.id), src.deviations(scope_id, period_id=frame.period.id)
        )
        history = [coverage_table(coverage), deviations_table(deviations)]

    return Overview(
        readiness=readiness,
        result=result,
        groups=groups,
        categories=[(c.id, c.name) for c in in_scope],
        owners=[(o, o) for o in owners],
        filters={"category": category, "status": status, "owner": owner, "q": q},
        trend=trend,
        by_category=by_category,
        shown_controls=len({c.id for g in groups for c in g.controls}),
        shown_requirements=sum(len(g.requirements) for g in groups),
        history=history,
    )


# ------------------------------------------------------------------------------------------- control page


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str


@dataclass
class ControlPage:
    detail: ControlDetail
    acceptances: list[Acceptance]
    evidence: ControlEvidence | None
    timeline: list[TimelineEntry]
    history: list[HistoryTable]
    resources: list[dict[str, Any]]
    paging: Paging


def _covers(acceptance: Acceptance, control_id: str, checks: set[str]) -> bool:
    if acceptance.control_id is not None and acceptance.control_id != control_id:
        return False
    if acceptance.check_id is not None and acceptance.check_id not in checks:
        return False
    # An acceptance naming neither a control nor a check reaches every control: show it only if it
    # names something narrower still (a resource, account, region or tag), else it is not about this one.
    return acceptance.control_id is not None or acceptance.check_id is not None


def _settings_of(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """The configuration values a check read, flattened to "setting: value" lines for a table cell."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key in sorted(value):
                walk(f"{prefix}.{key}" if prefix else str(key), value[key])
        else:
            rendered = value if isinstance(value, str) else json.dumps(value, default=str)
            out.append((prefix or "value", rendered if len(rendered) <= 300 else rendered[:297] + "..."))

    walk("", evidence)
    return out[:40]


async def control_page(src: Sources, frame: Frame, control_id: str, offset: int = 0) -> ControlPage:
    scope_id = frame.scope.id
    role = frame.principal.role.value
    detail, acceptances, versions = await asyncio.gather(
        frame.cache.get(("control", role, scope_id, control_id), lambda: src.control(scope_id, control_id)),
        src.acceptances(),
        src.control_versions(control_id),
    )
    checks = {c.check_id for c in detail.checks}
    mine = [a for a in acceptances if _covers(a, control_id, checks)]
    evidence: ControlEvidence | None = None
    if detail.control.evidence_required or detail.control.kind != "automated":
        evidence = await src.control_evidence(control_id)
    span = window(frame.period)
    start = frame.period.start_date if frame.period else None
    end = frame.period.end_date if frame.period else None
    timeline_history, deviations = await asyncio.gather(
        src.control_history(scope_id, control_id, start=start, end=end),
        src.deviations(scope_id, period_id=frame.period.id if frame.period else None, control_id=control_id),
    )
    history = [control_deviations_table(deviations, control_id)]

    entries: list[TimelineEntry] = []
    for v in versions.get("versions", []):
        at = v.get("changed_at")
        if at:
            what = f"Control {v.get('change', 'changed')} (version {v.get('version')}) by {v.get('changed_by', '?')}"
            entries.append(TimelineEntry(datetime.fromisoformat(at), what))
    for a in mine:
        for e in a.events:
            entries.append(TimelineEntry(e.at, f"Risk acceptance {a.id} {e.action} by {e.actor}"))
        if a.revoked_at is None:
            entries.append(TimelineEntry(a.expires_at, f"Risk acceptance {a.id} expires"))
    for f in detail.failing_resources:
        entries.append(TimelineEntry(f.status_since, f"{f.resource_name} {f.status} on {f.check_id}"))
    if isinstance(timeline_history, HistoryData):
        # The control's status stretches between scans, with how much of each was actually monitored.
        for stretch in _list(timeline_history.data, "spans"):
            at = stretch.get("start")
            if isinstance(at, str):
                what = (
                    f"Status {stretch.get('status', '?')} until {_when(stretch.get('end'))}"
                    f" ({_hours(stretch.get('monitored_seconds'))} monitored)"
                )
                entries.append(TimelineEntry(datetime.fromisoformat(at), what))
    if span is not None:
        entries = [e for e in entries if span[0] <= e.at < span[1]]
    entries.sort(key=lambda e: e.at, reverse=True)

    # A control over thousands of resources fails on thousands: a page of them, with their values.
    ordered = sorted(detail.failing_resources, key=lambda f: (f.status, f.check_id, f.resource_name))
    resources = [{"finding": f, "settings": _settings_of(f.evidence)} for f in ordered[offset : offset + PAGE_SIZE]]
    return ControlPage(
        detail=detail,
        acceptances=mine,
        evidence=evidence,
        timeline=entries[:TIMELINE_LIMIT],
        history=history,
        resources=resources,
        paging=paging(frame, len(ordered), offset),
    )


# ------------------------------------------------------------------------------------------- findings


@dataclass
class FindingsPage:
    items: list[Finding]
    paging: Paging
    filters: dict[str, str | None]


async def findings_page(
    src: Sources,
    frame: Frame,
    *,
    status: str | None,
    severity: str | None,
    service: str | None,
    account: str | None,
    region: str | None,
    check: str | None,
    q: str | None,
    offset: int,
) -> FindingsPage:
    status = choice("status", status, FINDING_STATUSES)
    severity = choice("severity", severity, SEVERITIES)
    service = word("service", service.lower() if service else None, _SERVICE)
    account = word("account", account, _ACCOUNT)
    region = word("region", region)
    check = word("check", check)
    filters = {
        "status": status,
        "severity": severity,
        "service": service,
        "account": account,
        "region": region,
        "check": check,
        "q": q,
    }
    # Every filter is compliance's: it filters, counts and pages in its database, and only the page
    # shown travels (the search text as typed, compliance matches it whatever the case).
    page = await src.findings(
        scope_id=frame.scope.id,
        status=status,
        check_ids=[check] if check else None,
        account_id=account,
        region=region,
        severity=severity,
        service=service,
        text=q,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return FindingsPage(page.items, paging(frame, page.total, offset), filters)


# ------------------------------------------------------------------------------------------- encryption


@dataclass
class EncryptionPage:
    inventory: EncryptionInventory
    items: list[Any]
    paging: Paging
    filters: dict[str, str | None]
    types: list[tuple[str, str]]


async def encryption_page(
    src: Sources,
    frame: Frame,
    *,
    state: str | None,
    resource_type: str | None,
    account: str | None,
    region: str | None,
    offset: int,
) -> EncryptionPage:
    # The page's purpose is "every unencrypted resource": that is the default, "all" shows every state.
    state = "unencrypted" if state is None else state
    state = choice("state", state, (*ENCRYPTION_STATES, "all"))
    resource_type = word("resource_type", resource_type)
    account = word("account", account, _ACCOUNT)
    region = word("region", region)
    inventory = await src.encryption(
        state=None if state == "all" else state, resource_type=resource_type, account_id=account, region=region
    )
    items = sorted(inventory.items, key=lambda i: (i.resource_type, i.account_id, i.region, i.resource_name))
    types = sorted({s.resource_type for s in inventory.by_type})
    return EncryptionPage(
        inventory=inventory,
        items=items[offset : offset + PAGE_SIZE],
        paging=paging(frame, len(items), offset),
        filters={"state": state, "resource_type": resource_type, "account": account, "region": region},
        types=[(t, t) for t in types],
    )


# ------------------------------------------------------------------------------------------- scans


@dataclass
class ScanRow:
    scan_id: str
    account_id: str | None
    started_at: datetime | None
    collection_state: str
    evaluation_state: str
    running: bool
    units_done: int
    units_total: int
    published: int
    evaluated: int
    total_snapshots: int | None
    percent: int | None
    problems: list[str]


async def scan_rows(src: Sources, frame: Frame, limit: int = 25) -> list[ScanRow]:
    collected, evaluated = await asyncio.gather(src.collector_scans(limit), src.scans(limit))
    by_id = {s.scan_id: s for s in evaluated}
    rows: list[ScanRow] = []
    seen: set[str] = set()
    for c in collected:
        e = by_id.get(c.scan_id)
        rows.append(_row(c.scan_id, c, e))
        seen.add(c.scan_id)
    rows.extend(_row(e.scan_id, None, e) for e in evaluated if e.scan_id not in seen)
    span = window(frame.period)
    if span is not None:
        rows = [r for r in rows if r.started_at is not None and span[0] <= r.started_at < span[1]]
    rows.sort(key=lambda r: r.started_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    return rows


async def scan_row(src: Sources, scan_id: str) -> ScanRow:
    progress = await src.scan_progress(scan_id)
    return _row(scan_id, progress.collection, progress.evaluation)


def _row(scan_id: str, c: Any, e: Any) -> ScanRow:
    units = list(c.units) if c is not None else []
    done = sum(1 for u in units if u.status != "pending")
    collection_state = c.state if c is not None else "unknown"
    evaluation_state = e.state if e is not None else "not started"
    final = e is not None and e.state in ("final", "incomplete")
    running = collection_state == "running" or (e is not None and not final and collection_state != "failed")
    total = e.total_snapshots if e is not None else None
    evaluated_count = e.evaluated if e is not None else 0
    # Progress: collection units first, then evaluation of what was collected; each half the bar.
    percent: int | None = None
    if units:
        percent = int(50 * done / len(units))
        if total:
            percent += int(50 * min(evaluated_count, total) / total)
        elif final:
            percent = 100
    elif final:
        percent = 100
    problems = [
        f"{u.region}/{u.service}: {u.status} ({u.first_error or 'no detail'})"
        for u in units
        if u.status in ("failed", "partial")
    ]
    if c is not None and c.error:
        problems.append(c.error)
    return ScanRow(
        scan_id=scan_id,
        account_id=(c.account_id if c is not None else e.account_id if e is not None else None),
        started_at=(c.started_at if c is not None else e.started_at if e is not None else None),
        collection_state=collection_state,
        evaluation_state=evaluation_state,
        running=running,
        units_done=done,
        units_total=len(units),
        published=c.published if c is not None else 0,
        evaluated=evaluated_count,
        total_snapshots=total,
        percent=percent,
        problems=problems,
    )
