"""Questions an auditor asks of the monitoring history, for any period.

Every time used here is history time: the compliance clock at each scan's finalisation. A unit
(account, region, service) is monitored for ``window`` after each complete collection of it; the
rest is "not monitored" and never counts as passing. Periods are half-open, ``[start, end)``, and
only the part up to the service's ``now`` is judged.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import asyncpg

from guardian_common.errors import BadRequest, NotFound
from guardian_compliance.acceptances.matching import Rule
from guardian_compliance.frameworks.model import BUNDLED_FRAMEWORKS
from guardian_compliance.history.evidence_deviations import attach_missed_occurrences, recurring_evidence_controls
from guardian_compliance.history.intervals import (
    Interval,
    clip,
    complement,
    diff,
    intersect,
    intersect_all,
    normalise,
    steps,
    total_seconds,
    windows,
)
from guardian_compliance.history.repository import (
    DeviationFilter,
    DeviationKey,
    HistoryRepository,
    PopulationBoundary,
    fnmatch_regex,
)
from guardian_compliance.history.schemas import (
    ControlDeviation,
    ControlDeviations,
    ControlFailure,
    ControlTimeline,
    CoverageOut,
    Deviation,
    DeviationsOut,
    DriftItem,
    DriftOut,
    FieldChangeOut,
    FindingHistory,
    FindingHistoryList,
    IntervalOut,
    PeriodOut,
    PopulationOut,
    ScanDetail,
    ScanEntry,
    ScanHistory,
    SlaState,
    Span,
    StatusItem,
    StatusSpan,
    TrendCategory,
    TrendPoint,
    TrendsOut,
    UnitCoverage,
)
from guardian_compliance.inventory.cloudtrail import UNREADABLE
from guardian_compliance.scope.model import Scope
from guardian_compliance.scope.repository import ScopeRepository
from guardian_compliance.scope.service import PeriodNotFound, load_scope

DAY = timedelta(days=1)
DEFAULT_SPAN = timedelta(days=30)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_TREND_POINTS = 3700  # ten years of days
POPULATION_COLUMNS = (
    "arn",
    "resource_type",
    "name",
    "account_id",
    "region",
    "service",
    "scan_id",
    "scanned_at",
    "stale",
    "config_hash",
    "configuration",
)

# Where the items go in a population's JSON envelope (see HistoryService.population).
_EMPTY_ITEMS = '"items":[]'
DEVIATION_PAGE = 1000  # deviations per page when only a cursor is given
POPULATION_PAGE = 2000  # database rows per chunk when a population is exported (CSV) from a cursor
# Where a population page ends: (resource type, ARN, scan id, seq), the order populations are listed in.
PopulationKey = tuple[str, str, str, int]
# A deviation's fields read straight from a deviation_intervals row.
DEVIATION_COLUMNS = tuple(IntervalOut.model_fields)


@dataclass(frozen=True)
class Period:
    scope: Scope
    out: PeriodOut
    whole: Interval
    elapsed: Interval


def parse_moment(value: str, name: str, *, end_of_day: bool) -> datetime:
    """A date (``2026-03-01``) or an ISO 8601 time; a bare date as an end means the end of that day."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, time(0), UTC) + (DAY if end_of_day else timedelta(0))
        else:
            moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"{name} must be a date like 2026-03-01 or an ISO 8601 time, not {value!r}.", code="invalid_date"
        ) from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if not EARLIEST <= moment <= LATEST:
        # Far outside any monitoring history; refused so period arithmetic can never overflow.
        raise BadRequest(f"{name} must fall between the years 1970 and 9000, not {value!r}.", code="invalid_date")
    return moment


def check_framework(framework_id: str) -> str:
    if framework_id not in BUNDLED_FRAMEWORKS:
        raise NotFound(f"No framework has the id {framework_id!r}.", code="framework_not_found")
    return framework_id


async def resolve_period(
    conn: asyncpg.Connection,
    scope_id: str,
    period_id: str | None,
    start: str | None,
    end: str | None,
    now: datetime,
) -> Period:
    """The scope and the period asked for: an audit period of the scope, or from/to (default: 30 days to now)."""
    scope = await load_scope(conn, scope_id)
    if period_id is not None:
        if start is not None or end is not None:
            raise BadRequest("Give either period_id or from/to, not both.", code="ambiguous_period")
        row = await ScopeRepository(conn).period(scope_id, period_id)
        if row is None:
            raise PeriodNotFound(f"Scope {scope_id!r} has no audit period {period_id!r}.")
        lower = datetime.combine(row["start_date"], time(0), UTC)
        upper = datetime.combine(row["end_date"] + DAY, time(0), UTC)
    else:
        upper = parse_moment(end, "to", end_of_day=True) if end is not None else now
        lower = parse_moment(start, "from", end_of_day=False) if start is not None else upper - DEFAULT_SPAN
    if upper <= lower:
        raise BadRequest(
            f"The period must end after it starts ({lower.isoformat()} to {upper.isoformat()}).",
            code="invalid_period",
        )
    elapsed_end = max(lower, min(upper, now))
    out = PeriodOut(scope_id=scope.id, period_id=period_id, start=lower, end=upper, elapsed_until=elapsed_end)
    return Period(scope, out, Interval(lower, upper), Interval(lower, elapsed_end))


def _span(iv: Interval) -> Span:
    return Span(start=iv.start, end=iv.end, seconds=iv.seconds)


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole > 0 else None


def _tags(row: Mapping[str, Any], key: str = "resource_tags") -> dict[str, str] | None:
    tags = row[key]
    return dict(tags) if tags is not None else None


def _inside(
    scope: Scope, row: Mapping[str, Any], arn_key: str = "resource_arn", tags_key: str = "resource_tags"
) -> bool:
    """Whether a row's resource is inside the scope's boundary (unknown tags keep it inside)."""
    return scope.contains(
        account_id=row["account_id"],
        region=row["region"] or "",
        resource_type=row["resource_type"],
        arn=row[arn_key],
        tags=_tags(row, tags_key),
    )


def _interval_out(row: Mapping[str, Any]) -> IntervalOut:
    return IntervalOut(
        check_id=row["check_id"],
        resource_arn=row["resource_arn"],
        resource_name=row["resource_name"],
        resource_type=row["resource_type"],
        account_id=row["account_id"],
        region=row["region"],
        severity=row["severity"],
        detected_at=row["opened_at"],
        detected_scan=row["opened_scan"],
        resolved_at=row["closed_at"],
        resolved_scan=row["closed_scan"],
        resolved_as=row["closed_as"],
        reopened=row["reopened"],
    )


DEVIATION_FIELDS = frozenset(Deviation.model_fields)
# _deviation below is model_construct without its per-field alias and default handling, which
# a Deviation (every field required, no alias, no extra, no post-init) never needs.
assert not any(f.alias or f.validation_alias or not f.is_required() for f in Deviation.model_fields.values())


def _deviation(values: dict[str, Any]) -> Deviation:
    """A Deviation from complete, already typed ``values``: built for tens of thousands of rows."""
    d = Deviation.__new__(Deviation)
    object.__setattr__(d, "__dict__", values)
    object.__setattr__(d, "__pydantic_fields_set__", set(DEVIATION_FIELDS))
    object.__setattr__(d, "__pydantic_extra__", None)
    object.__setattr__(d, "__pydantic_private__", None)
    return d


class HistoryService:
    def __init__(
        self,
        conn: asyncpg.Connection,
        now: datetime,
        window: timedelta = timedelta(hours=26),
        sla_days: Mapping[str, float] | None = None,
        evidence_grace: timedelta = timedelta(0),
    ) -> None:
        self.conn = conn
        self.repo = HistoryRepository(conn)
        self.now = now
        self.window = window
        self.sla_days = dict(sla_days or {})
        # After an occurrence's window ends, how long its evidence may take to be accepted.
        self.evidence_grace = evidence_grace
        self._check_services: dict[str, tuple[str, str]] | None = None

    # Coverage ---------------------------------------------------------------------------------

    async def unit_windows(self, period: Period) -> dict[tuple[str, str, str], list[Interval]]:
        """Monitored intervals of every unit in scope, within the elapsed part of the period."""
        units: dict[tuple[str, str, str], list[Interval]] = {
            (u["account_id"], u["region"], u["service"]): []
            for u in await self.repo.known_units(period.whole.end)
            if period.scope.covers_unit(u["account_id"], u["region"])
        }
        # The database merges each unit's collection windows; only the stretches come back.
        for w in await self.repo.monitored_windows(period.whole.start - self.window, period.whole.end, self.window):
            key = (w["account_id"], w["region"], w["service"])
            if key in units:
                units[key].append(Interval(w["start"], w["until"]))
        return {key: clip(stretches, period.elapsed) for key, stretches in units.items()}

    async def coverage(self, period: Period) -> CoverageOut:
        per_unit = await self.unit_windows(period)
        counts = await self.repo.complete_counts(period.whole.start, period.whole.end)
        elapsed = period.elapsed.seconds
        units = [
            UnitCoverage(
                account_id=key[0],
                region=key[1],
                service=key[2],
                complete_collections=counts.get(key, 0),
                monitored=[_span(i) for i in monitored],
                not_monitored=[_span(i) for i in complement(monitored, period.elapsed)],
                monitored_seconds=total_seconds(monitored),
                share_monitored=_share(total_seconds(monitored), elapsed),
            )
            for key, monitored in sorted(per_unit.items())
        ]
        every = intersect_all(list(per_unit.values()))
        accounts = period.scope.account_filter()  # None: every account; environments narrow it
        scans = [
            {
                "scan_id": s["scan_id"],
                "account_id": s["account_id"],
                "at": s["at"],
                "state": s["state"],
                "partial": s["partial"],
            }
            for s in await self.repo.scans(period.whole.start, period.whole.end)
            if accounts is None or s["account_id"] in accounts
        ]
        return CoverageOut(
            period=period.out,
            window_hours=self.window.total_seconds() / 3600,
            units=units,
            every_unit_monitored=[_span(i) for i in every],
            not_monitored=[_span(i) for i in complement(every, period.elapsed)],
            scans=scans,
        )

    # Per-scan history -------------------------------------------------------------------------

    async def scan_history(self, period: Period, framework_id: str) -> ScanHistory:
        rows = await self.repo.readiness(
            period.scope.id, check_framework(framework_id), period.whole.start, period.whole.end
        )
        return ScanHistory(
            period=period.out,
            framework_id=framework_id,
            items=[
                ScanEntry(
                    scan_id=r["scan_id"],
                    account_id=r["account_id"],
                    at=r["at"],
                    state=r["state"],
                    partial=r["partial"],
                    score=r["score"],
                    passing=r["passing"],
                    applicable=r["applicable"],
                    counts=r["counts"],
                )
                for r in rows
            ],
        )

    async def scan_detail(self, scope: Scope, framework_id: str, scan_id: str) -> ScanDetail:
        check_framework(framework_id)
        scan = await self.repo.scan(scan_id)
        readiness = await self.repo.readiness_of(scope.id, framework_id, scan_id)
        if scan is None or readiness is None:
            raise NotFound(
                f"No finalised scan {scan_id!r} has a {framework_id} result for scope {scope.id!r}.",
                code="scan_not_found",
            )
        statuses = await self.repo.statuses_at_scan(scope.id, framework_id, scan_id)
        opened, closed = await self.repo.intervals_of_scan(scan_id)
        return ScanDetail(
            scan_id=scan_id,
            scope_id=scope.id,
            framework_id=framework_id,
            account_id=scan["account_id"],
            at=scan["at"],
            state=scan["state"],
            partial=scan["partial"],
            score=readiness["score"],
            by_category=readiness["by_category"],
            controls=[StatusItem(id=s["item_id"], status=s["status"]) for s in statuses if s["kind"] == "control"],
            requirements=[
                StatusItem(id=s["item_id"], status=s["status"]) for s in statuses if s["kind"] == "requirement"
            ],
            new=[_interval_out(r) for r in opened if _inside(scope, r)],
            resolved=[_interval_out(r) for r in closed if _inside(scope, r)],
        )

    async def control_timeline(self, period: Period, framework_id: str, control_id: str) -> ControlTimeline:
        check_framework(framework_id)
        checks = await self.repo.control_checks([control_id])
        if control_id not in checks:
            raise NotFound(f"No control has the id {control_id!r}.", code="control_not_found")
        monitored = await self._control_monitored(period, checks[control_id])
        spans = await self._status_spans(period, framework_id, [control_id])
        return ControlTimeline(
            period=period.out,
            framework_id=framework_id,
            control_id=control_id,
            spans=[
                StatusSpan(
                    status=status,
                    start=iv.start,
                    end=iv.end,
                    monitored_seconds=total_seconds(intersect([iv], monitored)),
                )
                for iv, status in spans.get(control_id, [])
            ],
        )

    async def finding_history(
        self, period: Period, check_id: str | None, resource_arn: str | None, account_id: str | None
    ) -> FindingHistoryList:
        rows = [
            r
            for r in await self.repo.intervals(
                [check_id] if check_id else None,
                period.whole.start,
                period.whole.end,
                resource_arn=resource_arn,
                account_id=account_id,
            )
            if _inside(period.scope, r)
        ]
        grouped: dict[tuple[str, str], list[IntervalOut]] = defaultdict(list)
        for r in rows:
            grouped[(r["check_id"], r["resource_arn"])].append(_interval_out(r))
        current = {(f["check_id"], f["resource_arn"]): f for f in await self.repo.findings(sorted(grouped))}
        items = []
        for key, intervals in sorted(grouped.items()):
            f = current.get(key)
            items.append(
                FindingHistory(
                    check_id=key[0],
                    resource_arn=key[1],
                    first_seen=f["first_seen"] if f else None,
                    last_seen=f["last_seen"] if f else None,
                    current_status=f["status"] if f else None,
                    state=f["state"] if f else None,
                    intervals=intervals,
                )
            )
        return FindingHistoryList(period=period.out, items=items)

    # Deviations -------------------------------------------------------------------------------

    async def _control_monitored(
        self,
        period: Period,
        checks: Sequence[str],
        units: dict[tuple[str, str, str], list[Interval]] | None = None,
    ) -> list[Interval]:
        """Times every in-scope unit feeding the control's checks had a complete collection.

        A control without checks (procedural) is monitored while its scope's scans are final.
        """
        per_unit = units if units is not None else await self.unit_windows(period)
        services = await self._services()
        wanted = {services[c][0] for c in checks if c in services}
        if checks:
            relevant = [ivs for (_, _, service), ivs in per_unit.items() if service in wanted]
            return intersect_all(relevant) if relevant else []
        accounts = period.scope.account_filter()
        finals = await self.repo.final_scans(period.whole.start - self.window, period.whole.end)
        return clip(
            windows([s["at"] for s in finals if accounts is None or s["account_id"] in accounts], self.window),
            period.elapsed,
        )

    async def _services(self) -> dict[str, tuple[str, str]]:
        if self._check_services is None:
            self._check_services = await self.repo.check_services()
        return self._check_services

    async def _status_spans(
        self, period: Period, framework_id: str, control_ids: Sequence[str], *, runs: bool = False
    ) -> dict[str, list[tuple[Interval, str]]]:
        """Each control's status stretches within the elapsed period: one per scan, or with ``runs``
        one per run of equal statuses (the same union of time per status, from far fewer rows)."""
        fetch = self.repo.status_runs if runs else self.repo.status_points
        points: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for p in await fetch(
            period.scope.id, framework_id, "control", control_ids, period.whole.start, period.elapsed.end
        ):
            points[p["item_id"]].append((p["at"], p["status"]))
        out: dict[str, list[tuple[Interval, str]]] = {}
        lower, upper = period.elapsed.start, period.elapsed.end
        for control_id, pts in points.items():
            spans = []
            for iv, status in steps(pts, upper):
                # clip() of one interval, without building and sorting a list per step.
                start, end = max(iv.start, lower), min(iv.end, upper)
                if start < end:
                    spans.append((iv if (start, end) == (iv.start, iv.end) else Interval(start, end), status))
            out[control_id] = spans
        return out

    def _sla(self, severity: str, opened: datetime, closed: datetime | None) -> tuple[float | None, SlaState]:
        days = self.sla_days.get(severity)
        if days is None:
            return None, "no_sla"
        limit = timedelta(days=days)
        if closed is not None:
            return days, "met" if closed - opened <= limit else "missed"
        return days, "open_overdue" if self.now - opened > limit else "open_within_sla"

    def _facts(self, row: Mapping[str, Any], rules: Sequence[Rule]) -> tuple[dict[str, Any], list[Rule]]:
        """What a failure interval (a :meth:`HistoryRepository.deviation_intervals` row) is, whatever
        the control: its fields, SLA, and the acceptances whose selectors and validity cover it
        (their control selector is applied per control)."""
        row = dict(row)  # plain dict lookups from here: far cheaper than a Record's by name
        opened: datetime = row["detected_at"]
        closed: datetime | None = row["resolved_at"]
        until = closed or self.now
        covering = [
            r
            for r in rules
            if r.starts_at < until
            and r.expires_at > opened
            and r.covers(
                check_id=row["check_id"],
                arn=row["resource_arn"],
                account_id=row["account_id"],
                region=row["region"],
                tags=_tags(row),
            )
        ]
        sla_days, sla = self._sla(row["severity"], opened, closed)
        fields = {name: row[name] for name in DEVIATION_COLUMNS} | {
            "hours_to_resolve": round((closed - opened).total_seconds() / 3600, 4) if closed else None,
            "hours_open": round((until - opened).total_seconds() / 3600, 4),
            "sla_days": sla_days,
            "sla": sla,
        }
        return fields, covering

    async def deviations(
        self,
        period: Period,
        framework_id: str,
        control_id: str | None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> DeviationsOut:
        """Deviations per control. Without ``limit`` every deviation and failure of every control;
        with it per-control summaries counted in SQL and one page of deviations (``next_cursor``)."""
        check_framework(framework_id)
        after = decode_deviation_cursor(cursor) if cursor is not None else None
        controls = await self.repo.control_checks([control_id] if control_id else None)
        if control_id is not None and control_id not in controls:
            raise NotFound(f"No control has the id {control_id!r}.", code="control_not_found")
        if control_id is None:
            # Controls owing evidence per occurrence have deviations even without checks.
            owing = await recurring_evidence_controls(self.conn)
            controls = {cid: checks for cid, checks in controls.items() if checks or cid in owing}
        if limit is not None or after is not None:
            return await self._deviations_paged(period, framework_id, controls, limit or DEVIATION_PAGE, after)
        # Each check's controls, once per time the control lists it.
        controls_of: dict[str, list[str]] = defaultdict(list)
        for cid, checks in sorted(controls.items()):
            for c in checks:
                controls_of[c].append(cid)
        devs: dict[str, list[Deviation]] = {cid: [] for cid in controls}
        keys: dict[int, str] = {}
        rules = [Rule.of(r) for r in await self.repo.approved_acceptances()]
        # Rows come in the order deviations are listed (detected at, check, resource), so appending
        # keeps each control's list sorted. A deviation is built once per interval and shared by
        # every control whose acceptances treat it alike (usually all of them).
        # Tags matter only to a tag boundary or an acceptance; otherwise they are not even decoded.
        want_tags = bool(period.scope.boundary.tags) or bool(rules)
        for r in await self.repo.deviation_intervals(
            sorted(controls_of), period.whole.start, period.whole.end, tags=want_tags
        ):
            if not _inside(period.scope, r):
                continue
            fields, covering = self._facts(r, rules)
            built: dict[tuple[str, ...], Deviation] = {}
            for cid in controls_of[r["check_id"]]:
                ids = tuple(rule.id for rule in covering if rule.control_id is None or rule.control_id == cid)
                d = built.get(ids)
                if d is None:
                    # The fields come typed from the database or computed here: no validation again.
                    d = built[ids] = _deviation(fields | {"accepted": bool(ids), "acceptance_ids": list(ids)})
                    keys[id(d)] = f"{d.check_id}|{d.resource_arn}"
                devs[cid].append(d)
        units = await self.unit_windows(period)
        spans = await self._status_spans(period, framework_id, sorted(controls), runs=True)
        out: list[ControlDeviations] = []
        for cid, checks in sorted(controls.items()):
            control_devs = devs[cid]
            monitored = await self._control_monitored(period, checks, units)
            control_spans = spans.get(cid, [])
            passing = intersect(normalise(iv for iv, status in control_spans if status == "PASS"), monitored)
            failures = self._failures(
                normalise(iv for iv, status in control_spans if status == "FAIL"),
                control_devs,
                period.elapsed.end,
                keys,
            )
            out.append(
                ControlDeviations.model_construct(
                    control_id=cid,
                    checks=list(checks),
                    monitored_seconds=total_seconds(monitored),
                    passing_seconds=total_seconds(passing),
                    share_passing=_share(total_seconds(passing), total_seconds(monitored)),
                    deviation_count=len(control_devs),
                    open_count=sum(1 for d in control_devs if d.resolved_at is None),
                    sla_misses=sum(1 for d in control_devs if d.sla in ("missed", "open_overdue")),
                    accepted_count=sum(1 for d in control_devs if d.accepted),
                    failures=failures,
                    deviations=control_devs,
                    # Given, not defaulted: model_construct's default factories inspect signatures each time.
                    missed_occurrences=[],
                    evidence_deviations=[],
                )
            )
        await attach_missed_occurrences(
            self.conn, out, period.whole.start, period.elapsed.end, grace=self.evidence_grace
        )
        return DeviationsOut(
            period=period.out,
            framework_id=framework_id,
            sla_days=self.sla_days,
            deviation_count=sum(c.deviation_count for c in out),
            sla_misses=sum(c.sla_misses for c in out),
            controls=out,
        )

    async def _deviations_paged(
        self,
        period: Period,
        framework_id: str,
        controls: Mapping[str, Sequence[str]],
        limit: int,
        after: DeviationKey | None,
    ) -> DeviationsOut:
        """Summaries per control and one page of (control, deviation) rows: nothing else is built.

        The database counts what each control's full answer would list (same boundary, SLA and
        acceptances), so the summaries equal the unpaged answer's counts.
        """
        rules = [Rule.of(r) for r in await self.repo.approved_acceptances()]
        boundary = period.scope.boundary
        where = DeviationFilter(
            controls=sorted(controls),
            start=period.whole.start,
            end=period.whole.end,
            now=self.now,
            accounts=period.scope.account_filter(),
            regions=list(boundary.regions) or None,
            tags={key: list(allowed) for key, allowed in boundary.tags.items()} or None,
            rules=[
                (
                    r.id,
                    r.control_id,
                    r.check_id,
                    fnmatch_regex(r.arn_pattern) if r.arn_pattern is not None else None,
                    r.account_id,
                    r.region,
                    r.tag_key,
                    r.tag_value,
                    r.starts_at,
                    r.expires_at,
                )
                for r in rules
            ],
        )
        counts = {r["control_id"]: r for r in await self.repo.deviation_summaries(where, self.sla_days)}
        rows = await self.repo.deviation_page(
            replace(where, controls=_page_controls(where.controls, counts, after, limit + 1)), after, limit + 1
        )
        next_cursor = encode_deviation_cursor(_deviation_key(rows[limit - 1])) if len(rows) > limit else None
        items: list[ControlDeviation] = []
        for r in rows[:limit]:
            fields, covering = self._facts(r, rules)
            ids = [rule.id for rule in covering if rule.control_id is None or rule.control_id == r["control_id"]]
            items.append(
                ControlDeviation.model_construct(
                    **fields, accepted=bool(ids), acceptance_ids=ids, control_id=r["control_id"]
                )
            )
        # The first page carries the per-control summaries; later ones only their totals, which
        # skips the passing time (status runs against coverage), the costly part of a summary.
        first = after is None
        units = await self.unit_windows(period) if first else {}
        monitored_of = {
            cid: (await self._control_monitored(period, checks, units) if first else [])
            for cid, checks in sorted(controls.items())
        }
        # Passing time is cut from the monitored time in the database, from the status changes; the
        # stretches' lengths come back exact and are summed in their order, as total_seconds does.
        pieces = (
            await self.repo.passing_pieces(
                period.scope.id,
                framework_id,
                {cid: [(iv.start, iv.end) for iv in ivs] for cid, ivs in monitored_of.items()},
                period.whole.start,
                period.elapsed.end,
            )
            if first
            else {}
        )
        out: list[ControlDeviations] = []
        for cid, checks in sorted(controls.items()):
            monitored = monitored_of[cid]
            passing_seconds = sum(us / 1e6 for us in pieces.get(cid, ()))
            c = counts.get(cid)
            out.append(
                ControlDeviations.model_construct(
                    control_id=cid,
                    checks=list(checks),
                    monitored_seconds=total_seconds(monitored),
                    passing_seconds=passing_seconds,
                    share_passing=_share(passing_seconds, total_seconds(monitored)),
                    deviation_count=c["deviation_count"] if c else 0,
                    open_count=c["open_count"] if c else 0,
                    sla_misses=c["sla_misses"] if c else 0,
                    accepted_count=c["accepted_count"] if c else 0,
                    failures=[],
                    deviations=[],
                    # Given, not defaulted: model_construct's default factories inspect signatures each time.
                    missed_occurrences=[],
                    evidence_deviations=[],
                )
            )
        await attach_missed_occurrences(
            self.conn, out, period.whole.start, period.elapsed.end, grace=self.evidence_grace
        )
        return DeviationsOut(
            period=period.out,
            framework_id=framework_id,
            sla_days=self.sla_days,
            deviation_count=sum(c.deviation_count for c in out),
            sla_misses=sum(c.sla_misses for c in out),
            controls=out if first else [],
            paged=True,
            items=items,
            next_cursor=next_cursor,
        )

    @staticmethod
    def _failures(
        runs: Sequence[Interval], devs: Sequence[Deviation], judged_until: datetime, keys: Mapping[int, str]
    ) -> list[ControlFailure]:
        """The control's FAIL stretches, each with the deviations overlapping it.

        ``runs`` are sorted and disjoint, so each deviation finds its first run by bisection and
        walks only the runs it overlaps. ``keys`` holds each deviation's ``check_id|resource_arn``.
        """
        ends = [run.end for run in runs]
        overlapping: list[list[Deviation]] = [[] for _ in runs]
        never = datetime.max.replace(tzinfo=UTC)
        for d in devs:
            n = bisect_right(ends, d.detected_at)
            resolved = d.resolved_at or never
            while n < len(runs) and runs[n].start < resolved:
                overlapping[n].append(d)
                n += 1
        return [
            ControlFailure.model_construct(
                detected_at=run.start,
                # Still failing when the judged part of the period ends: not resolved within it.
                resolved_at=run.end if run.end < judged_until else None,
                findings=[keys[id(d)] for d in found],
                resources=sorted({d.resource_arn for d in found}),
            )
            for run, found in zip(runs, overlapping, strict=True)
        ]

    # Populations ------------------------------------------------------------------------------

    def _population_boundary(self, scope: Scope) -> PopulationBoundary:
        """The scope's boundary, applied by the database as :meth:`Scope.contains` would."""
        return PopulationBoundary(
            accounts=scope.account_filter(),
            regions=list(scope.boundary.regions) or None,
            tags={key: list(allowed) for key, allowed in scope.boundary.tags.items()} or None,
        )

    async def population(
        self,
        scope: Scope,
        as_of: datetime,
        resource_type: str | None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> bytes:
        """The population as of ``as_of`` as the JSON of a :class:`PopulationOut`: all of it, or with
        ``limit`` one page of at most that many items and ``next_cursor`` to ask for the next (None
        once nothing follows).

        Built as bytes, not as models: the server writes each item's JSON (its configuration is
        jsonb's own text, so ten thousand configurations are never decoded into Python objects and
        encoded again), the boundary is applied in the query, and the items are joined into the
        answer. The values are the model's; only the spacing inside an item and the order of a
        configuration's keys (jsonb's, as ever) are the server's.
        """
        after = decode_cursor(cursor) if cursor is not None else None
        boundary = self._population_boundary(scope)
        rows = await self.repo.population(
            as_of,
            resource_type,
            boundary=boundary,
            after=after,
            limit=None if limit is None else limit + 1,
            shape="json",
        )
        next_cursor: str | None = None
        if limit is not None and len(rows) > limit:
            # One more item exists: the page ends at the last one given.
            rows = rows[:limit]
            next_cursor = encode_cursor(_population_key(rows[-1]))
        total = None
        if limit is not None and cursor is None:  # counted once, for the first page
            total = await self.repo.population_count(
                as_of, resource_type, accounts=boundary.accounts, regions=boundary.regions, tags=boundary.tags
            )
        # The envelope as the model writes it, with the items put where its empty list is: the last
        # '"items":[]' in the text, as only next_cursor (base64url or null) follows the items.
        envelope = PopulationOut(
            scope_id=scope.id, as_of=as_of, count=len(rows), total=total, items=[], next_cursor=next_cursor
        ).model_dump_json()
        cut = envelope.rindex(_EMPTY_ITEMS) + len(_EMPTY_ITEMS) - 1
        return "".join((envelope[:cut], ",".join([r["item"] for r in rows]), envelope[cut:])).encode()

    async def population_stream(
        self, scope: Scope, as_of: datetime, resource_type: str | None, *, chunk: int = POPULATION_PAGE
    ) -> AsyncIterator[list[asyncpg.Record]]:
        """The whole in-scope population from one server-side cursor, ``chunk`` rows at a time (the
        CSV export, see :func:`population_csv_chunks`): one query, one snapshot, memory of one chunk."""
        async for rows in self.repo.population_stream(
            as_of, resource_type, chunk, boundary=self._population_boundary(scope), shape="csv"
        ):
            yield rows

    # Drift ------------------------------------------------------------------------------------

    async def drift(
        self,
        period: Period,
        *,
        account_id: str | None,
        resource_type: str | None,
        resource_arn: str | None,
        limit: int,
    ) -> DriftOut:
        rows = [
            r
            for r in await self.repo.drift(
                period.whole.start,
                period.whole.end,
                account_id=account_id,
                resource_type=resource_type,
                resource_arn=resource_arn,
                limit=limit,
                # Tags decide only at a tag boundary; without one they are not even decoded.
                tags=bool(period.scope.boundary.tags),
            )
            if _inside(period.scope, r, "arn", "tags")
        ]
        pairs = [(r["scan_id"], r["arn"]) for r in rows]
        failing: dict[tuple[str, str], list[str]] = defaultdict(list)
        passing: dict[tuple[str, str], list[str]] = defaultdict(list)
        if pairs:
            for e in await self.repo.turns(pairs):
                turned = failing if e["old_status"] == "PASS" else passing
                turned[(e["scan_id"], e["resource_arn"])].append(e["check_id"])
        items = [
            DriftItem(
                arn=r["arn"],
                resource_type=r["resource_type"],
                name=r["name"],
                account_id=r["account_id"],
                region=r["region"],
                at=r["at"],
                scan_id=r["scan_id"],
                before_hash=r["before_hash"],
                after_hash=r["config_hash"],
                changes=[
                    FieldChangeOut(path=c.path, change=c.change, before=c.before, after=c.after)
                    for c in diff(r["before"], r["configuration"])
                ],
                turned_failing=failing.get((r["scan_id"], r["arn"]), []),
                turned_passing=passing.get((r["scan_id"], r["arn"]), []),
                **_actor(r),  # each row carries its actor's columns
            )
            for r in rows
        ]
        return DriftOut(period=period.out, count=len(items), items=items)

    # Trends -----------------------------------------------------------------------------------

    async def trends(self, period: Period, framework_id: str, granularity: Literal["day", "week"]) -> TrendsOut:
        rows = await self.repo.readiness(
            period.scope.id, check_framework(framework_id), period.whole.start, period.elapsed.end
        )
        step = DAY if granularity == "day" else 7 * DAY
        if period.elapsed.seconds / step.total_seconds() > MAX_TREND_POINTS:
            raise BadRequest(
                f"At most {MAX_TREND_POINTS} points: shorten the period or ask for weekly points.",
                code="too_many_points",
            )
        first = datetime.combine(period.whole.start.astimezone(UTC).date(), time(0), UTC)
        if granularity == "week":
            first -= timedelta(days=first.weekday())
        points: list[TrendPoint] = []
        bucket, n = first, 0
        while bucket < period.elapsed.end:
            upper = bucket + step
            inside: list[asyncpg.Record] = []
            while n < len(rows) and rows[n]["at"] < upper:
                inside.append(rows[n])
                n += 1
            scores = [r["score"] for r in inside if r["score"] is not None]
            last = inside[-1] if inside else None
            points.append(
                TrendPoint(
                    bucket=bucket,
                    scans=len(inside),
                    monitored=any(r["state"] == "final" for r in inside),
                    readiness=last["score"] if last else None,
                    min=min(scores) if scores else None,
                    max=max(scores) if scores else None,
                    mean=round(sum(scores) / len(scores), 2) if scores else None,
                    categories=[
                        TrendCategory(category=c["category"], score=c["score"])
                        for c in (last["by_category"] if last else [])
                    ],
                )
            )
            bucket = upper
        return TrendsOut(period=period.out, framework_id=framework_id, granularity=granularity, points=points)


def _actor(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """A drift change's actor fields from its :meth:`HistoryRepository.drift` row."""
    if row is None or (row["event_name"] is None and not row["unreadable"]):
        return {}
    if row["event_name"] is None:
        return {"actor": UNREADABLE}
    return {"actor": row["actor_arn"], "actor_event": row["event_name"], "actor_event_time": row["event_time"]}


def _page_controls(
    controls: Sequence[str], counts: Mapping[str, Mapping[str, Any]], after: DeviationKey | None, wanted: int
) -> list[str]:
    """The controls a page of ``wanted`` (control, deviation) rows after ``after`` can draw on.

    Pages run through controls in code-point order (the page's COLLATE "C"; Python compares
    strings alike). ``counts`` holds every control's deviations under the very same filter, so
    the page reads only the controls from the cursor's on until those after it hold ``wanted``
    rows, instead of ordering every control's deviations to keep a thousand. The cursor's own
    control counts for nothing: part of it lies before the cursor.
    """
    chosen: list[str] = []
    for cid in sorted(controls):
        if after is not None and cid < after[0]:
            continue
        chosen.append(cid)
        if after is None or cid != after[0]:
            c = counts.get(cid)
            wanted -= c["deviation_count"] if c else 0
        if wanted <= 0:
            break
    return chosen


def _deviation_key(row: Mapping[str, Any]) -> DeviationKey:
    return (row["control_id"], row["detected_at"], row["check_id"], row["resource_arn"], row["id"])


def encode_deviation_cursor(key: DeviationKey) -> str:
    """An opaque cursor: where the last page of deviations ended."""
    control_id, detected_at, check_id, arn, interval_id = key
    raw = [control_id, detected_at.isoformat(), check_id, arn, interval_id]
    return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_deviation_cursor(cursor: str) -> DeviationKey:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        control_id, detected_at, check_id, arn, interval_id = raw
        if (
            not all(isinstance(v, str) for v in (control_id, detected_at, check_id, arn))
            or type(interval_id) is not int
        ):
            raise ValueError(cursor)
        moment = datetime.fromisoformat(detected_at)
        if moment.tzinfo is None:
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest(
            "cursor must be the next_cursor of an earlier page of deviations, unchanged.", code="invalid_cursor"
        ) from None
    return (control_id, moment, check_id, arn, interval_id)


def _population_key(row: Mapping[str, Any]) -> PopulationKey:
    return (row["resource_type"], row["arn"], row["scan_id"], row["seq"])


def encode_cursor(key: PopulationKey) -> str:
    """An opaque cursor: where the last page ended (resource type, ARN, scan, seq)."""
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> PopulationKey:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        resource_type, arn, scan_id, seq = raw
        if not all(isinstance(v, str) for v in (resource_type, arn, scan_id)) or type(seq) is not int:
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest(
            "cursor must be the next_cursor of an earlier page, unchanged.", code="invalid_cursor"
        ) from None
    return (resource_type, arn, scan_id, seq)


# json.dumps(value, sort_keys=True), with the encoder made once instead of once per configuration.
_SORTED_JSON = json.JSONEncoder(sort_keys=True)


def _csv_line(row: Mapping[str, Any]) -> list[Any]:
    """A population CSV line from a "csv" population row: what ``PopulationItem.model_dump(mode="json")``
    gives (``scanned_at`` comes formatted alike from the server), None as an empty cell, and the
    configuration as sorted-key JSON ("null" when there is none)."""
    text = row["configuration"]
    configuration = "null" if text is None else _SORTED_JSON.encode(json.loads(text))
    return ["" if row[c] is None else row[c] for c in POPULATION_COLUMNS[:-1]] + [configuration]


async def population_csv_chunks(pages: AsyncIterator[list[asyncpg.Record]]) -> AsyncIterator[str]:
    """The population as CSV (configuration as sorted-key JSON), one chunk per database page:
    streamed, never whole."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(POPULATION_COLUMNS)
    async for page in pages:
        writer.writerows([_csv_line(row) for row in page])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
