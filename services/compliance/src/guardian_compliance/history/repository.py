"""Every query on monitoring history: scans and units, statuses, readiness, intervals, populations, drift."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

# Where a page of deviations ends: (control, detected at, check, resource ARN, interval id).
DeviationKey = tuple[str, datetime, str, str, int]


def fnmatch_regex(pattern: str) -> str:
    """An acceptance's ARN pattern (``fnmatch`` syntax: ``*``, ``?``, ``[...]``, ``[!...]``) as an
    anchored PostgreSQL regular expression matching exactly what :func:`fnmatch.fnmatchcase` does."""
    out, i, n = ["^"], 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append("\\[")
                continue
            body = pattern[i:j].replace("\\", "\\\\")
            i = j + 1
            if body.startswith("!"):
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body
            out.append(f"[{body}]")
        else:
            out.append(c if c.isalnum() else "\\" + c)
    out.append("$")
    return "".join(out)


@dataclass(frozen=True)
class DeviationFilter:
    """Which deviations a period and scope hold, for the queries that count and page them in SQL.

    Mirrors the Python rules exactly: the boundary of :meth:`Scope.contains` (accounts, regions,
    tags; unknown tags keep a resource inside) and, per control, :meth:`Rule.covers` with the
    validity overlap of an acceptance (``rules``: id, control, check, ARN pattern, account,
    region, tag key, tag value, starts, covered until).
    """

    controls: Sequence[str]
    start: datetime
    end: datetime
    now: datetime
    accounts: Sequence[str] | None = None
    regions: Sequence[str] | None = None
    tags: Mapping[str, Sequence[str]] | None = None
    rules: Sequence[tuple[Any, ...]] = field(default_factory=tuple)

    def sql(self, *, per_interval: bool = False) -> tuple[str, list[Any]]:
        """``WITH ... devs AS (...)``: one row per (control, in-scope interval), with ``accepted``.

        Only the conditions needed are written (no boundary, no acceptances: none of their SQL), and
        the resources table is joined only when tags decide something; the page adds names later.

        With ``per_interval`` the last CTE is instead ``ivs``: one row per in-scope interval, whatever
        its controls, with ``accepted_all`` (an acceptance naming no control covers it) and
        ``accepted_by`` (the controls named by acceptances covering it). An interval is accepted for
        control C exactly when ``accepted_all OR C = ANY(accepted_by)``: what ``devs`` says per row,
        decided once per interval so that counts can be taken per check before meeting the controls.
        """
        args: list[Any] = [list(self.controls), self.start, self.end, self.now]
        where = ""
        if self.accounts is not None:
            args.append(list(self.accounts))
            where += f" AND i.account_id = ANY(${len(args)}::text[])"
        if self.regions:
            args.append(list(self.regions))
            where += f" AND (i.region = 'global' OR i.region = ANY(${len(args)}::text[]))"
        if self.tags:
            args.append({key: list(allowed) for key, allowed in self.tags.items()})
            n = len(args)
            where += (
                " AND (r.tags IS NULL OR i.resource_type = 'AWS::::Account'"
                " OR starts_with(i.resource_arn, 'guardian:collection:') OR NOT EXISTS ("
                f"  SELECT 1 FROM jsonb_each(${n}::jsonb) AS b(k, allowed) WHERE NOT (r.tags ? b.k"
                "  AND (jsonb_array_length(b.allowed) = 0 OR b.allowed ? (r.tags ->> b.k)))))"
            )
        tagged = bool(self.tags) or any(rule[6] is not None for rule in self.rules)
        accepted = accepted_all = "false"
        accepted_by = "'{}'::text[]"
        rules = ""
        if self.rules:
            first = len(args) + 1
            args.extend(list(column) for column in zip(*self.rules, strict=True))
            p = [f"${first + k}" for k in range(10)]
            rules = (
                f" ru AS (SELECT * FROM unnest({p[0]}::text[], {p[1]}::text[], {p[2]}::text[], {p[3]}::text[],"
                f"  {p[4]}::text[], {p[5]}::text[], {p[6]}::text[], {p[7]}::text[], {p[8]}::timestamptz[],"
                f"  {p[9]}::timestamptz[])"
                "  AS u(id, control_id, check_id, arn_re, account_id, region, tag_key, tag_value, starts, until)),"
            )
            # Whether an acceptance covers the interval (its control aside): validity overlap and selectors.
            covers = (
                " ru.starts < COALESCE(iv.resolved_at, $4) AND ru.until > iv.detected_at"
                " AND (ru.check_id IS NULL OR ru.check_id = iv.check_id)"
                " AND (ru.arn_re IS NULL OR iv.resource_arn ~ ru.arn_re)"
                " AND (ru.account_id IS NULL OR ru.account_id = iv.account_id)"
                " AND (ru.region IS NULL OR ru.region = iv.region)"
                + (
                    " AND (ru.tag_key IS NULL OR (iv.tags ->> ru.tag_key) IS NOT DISTINCT FROM ru.tag_value)"
                    if tagged
                    else ""
                )
            )
            accepted = (
                "EXISTS (SELECT 1 FROM ru WHERE (ru.control_id IS NULL OR ru.control_id = c.control_id) AND"
                + covers
                + ")"
            )
            accepted_all = f"EXISTS (SELECT 1 FROM ru WHERE ru.control_id IS NULL AND{covers})"
            accepted_by = f"ARRAY(SELECT DISTINCT ru.control_id FROM ru WHERE ru.control_id IS NOT NULL AND{covers})"
        return (
            # $4 (now) types here, whether or not the statement uses it further on.
            "WITH asked AS (SELECT $4::timestamptz AS now),"
            " ctl AS (SELECT DISTINCT c.control_id, k.check_id FROM controls c,"
            "  unnest(c.checks) AS k(check_id) WHERE c.control_id = ANY($1::text[])),"
            + rules
            + " iv AS (SELECT i.id, i.check_id, i.resource_arn, i.resource_type, i.account_id, i.region, i.severity,"
            "  i.opened_at AS detected_at, i.opened_scan AS detected_scan, i.closed_at AS resolved_at,"
            "  i.closed_scan AS resolved_scan, i.closed_as AS resolved_as, i.reopened"
            + (
                ", r.tags FROM finding_intervals i LEFT JOIN resources r ON r.arn = i.resource_arn"
                if tagged
                else " FROM finding_intervals i"
            )
            + " WHERE i.check_id IN (SELECT check_id FROM ctl) AND i.opened_at < $3"
            "  AND COALESCE(i.closed_at, 'infinity') > $2"
            + where
            + "),"
            + (
                f" ivs AS (SELECT iv.*, {accepted_all} AS accepted_all, {accepted_by} AS accepted_by FROM iv)"
                if per_interval
                else " devs AS (SELECT c.control_id, iv.id, iv.check_id, iv.resource_arn, iv.resource_type,"
                "  iv.account_id, iv.region, iv.severity, iv.detected_at, iv.detected_scan, iv.resolved_at,"
                f"  iv.resolved_scan, iv.resolved_as, iv.reopened, {accepted} AS accepted"
                "  FROM iv JOIN ctl c ON c.check_id = iv.check_id)"
            ),
            args,
        )


class HistoryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def _fetch_planned(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Fetch with a plan made for these very arguments.

        Statements are prepared and cached; after a few runs PostgreSQL may switch to a generic plan
        that knows neither the date nor the cursor, which for the page-wise and filtered queries
        here reads ten times more than needed. Planning costs a millisecond; a bad plan hundreds.
        """
        async with self.conn.transaction():
            await self.conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            rows: list[asyncpg.Record] = await self.conn.fetch(query, *args)
        return rows

    # Scans and coverage -----------------------------------------------------------------------

    async def scans(self, start: datetime, end: datetime) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM history_scans WHERE at >= $1 AND at < $2 ORDER BY at, scan_id", start, end
        )
        return rows

    async def scan(self, scan_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow("SELECT * FROM history_scans WHERE scan_id = $1", scan_id)
        return row

    async def known_units(self, before: datetime) -> list[asyncpg.Record]:
        """Every (account, region, service) some finalised scan before ``before`` reported on."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT DISTINCT account_id, region, service FROM history_units WHERE at < $1"
            " ORDER BY account_id, region, service",
            before,
        )
        return rows

    async def complete_collections(self, start: datetime, end: datetime) -> list[asyncpg.Record]:
        """Complete collections whose coverage window can reach into [start, end)."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT account_id, region, service, at FROM history_units WHERE complete AND at >= $1 AND at < $2"
            " ORDER BY at",
            start,
            end,
        )
        return rows

    async def complete_counts(self, start: datetime, end: datetime) -> dict[tuple[str, str, str], int]:
        """How many complete collections each unit had in [start, end)."""
        rows = await self.conn.fetch(
            "SELECT account_id, region, service, count(*) AS n FROM history_units WHERE complete AND at >= $1"
            " AND at < $2 GROUP BY account_id, region, service",
            start,
            end,
        )
        return {(r["account_id"], r["region"], r["service"]): r["n"] for r in rows}

    async def monitored_windows(self, start: datetime, end: datetime, window: timedelta) -> list[asyncpg.Record]:
        """Per unit, the union of ``[at, at + window)`` over its complete collections in [start, end).

        Gaps and islands in SQL: a collection starts a new stretch unless an earlier one's window
        reaches it (touching counts), so only the merged stretches leave the database.
        """
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "WITH c AS ("
            "  SELECT account_id, region, service, at, at + $3::interval AS until FROM history_units"
            "  WHERE complete AND at >= $1 AND at < $2),"
            " marked AS ("
            "  SELECT *, CASE WHEN at <= max(until) OVER (PARTITION BY account_id, region, service ORDER BY at"
            "    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 0 ELSE 1 END AS fresh FROM c),"
            " islands AS ("
            "  SELECT *, sum(fresh) OVER (PARTITION BY account_id, region, service ORDER BY at"
            "    ROWS UNBOUNDED PRECEDING) AS island FROM marked)"
            " SELECT account_id, region, service, min(at) AS start, max(until) AS until, count(*) AS collections"
            " FROM islands GROUP BY account_id, region, service, island ORDER BY account_id, region, service, start",
            start,
            end,
            window,
        )
        return rows

    async def final_scans(self, start: datetime, end: datetime) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT account_id, at FROM history_scans WHERE state = 'final' AND at >= $1 AND at < $2 ORDER BY at",
            start,
            end,
        )
        return rows

    # Posture ----------------------------------------------------------------------------------

    async def readiness(self, scope_id: str, framework_id: str, start: datetime, end: datetime) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT r.*, s.account_id, s.state, s.partial FROM history_readiness r JOIN history_scans s USING (scan_id)"
            " WHERE r.scope_id = $1 AND r.framework_id = $2 AND r.at >= $3 AND r.at < $4 ORDER BY r.at, r.scan_id",
            scope_id,
            framework_id,
            start,
            end,
        )
        return rows

    async def readiness_of(self, scope_id: str, framework_id: str, scan_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT * FROM history_readiness WHERE scope_id = $1 AND framework_id = $2 AND scan_id = $3",
            scope_id,
            framework_id,
            scan_id,
        )
        return row

    async def statuses_at_scan(self, scope_id: str, framework_id: str, scan_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT kind, item_id, status FROM history_statuses"
            " WHERE scope_id = $1 AND framework_id = $2 AND scan_id = $3 ORDER BY kind, item_id",
            scope_id,
            framework_id,
            scan_id,
        )
        return rows

    async def status_points(
        self, scope_id: str, framework_id: str, kind: str, item_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[asyncpg.Record]:
        """Statuses of items in [start, end), with each item's last status before ``start``."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT item_id, at, status FROM history_statuses WHERE scope_id = $1 AND framework_id = $2"
            " AND kind = $3 AND item_id = ANY($4::text[]) AND at >= $5 AND at < $6"
            " UNION ALL"
            " SELECT b.item_id, b.at, b.status FROM unnest($4::text[]) AS k(item_id) CROSS JOIN LATERAL ("
            "   SELECT item_id, at, status FROM history_statuses WHERE scope_id = $1 AND framework_id = $2"
            "   AND kind = $3 AND item_id = k.item_id AND at < $5 ORDER BY at DESC LIMIT 1) b"
            " ORDER BY item_id, at",
            scope_id,
            framework_id,
            kind,
            list(item_ids),
            start,
            end,
        )
        return rows

    async def status_runs(
        self, scope_id: str, framework_id: str, kind: str, item_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[asyncpg.Record]:
        """Like :meth:`status_points`, but only the points where an item's status changes.

        Consecutive scans with the same status make one run; whoever needs stretches of one status
        (passing time, failure runs) gets the same union from far fewer rows. Read from
        ``history_status_changes`` (written at finalisation, see migration 0016), never from every
        point of the period: the changes in [start, end) with the last change before ``start``,
        whose status is the item's status at ``start``. A row equal to the one before it (left by a
        scan recorded out of order) is dropped, so exactly the change points remain.
        """
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "WITH p AS ("
            " SELECT item_id, at, scan_id, status FROM history_status_changes WHERE scope_id = $1"
            " AND framework_id = $2 AND kind = $3 AND item_id = ANY($4::text[]) AND at >= $5 AND at < $6"
            " UNION ALL"
            " SELECT b.item_id, b.at, b.scan_id, b.status FROM unnest($4::text[]) AS k(item_id) CROSS JOIN LATERAL ("
            "   SELECT item_id, at, scan_id, status FROM history_status_changes WHERE scope_id = $1"
            "   AND framework_id = $2 AND kind = $3 AND item_id = k.item_id AND at < $5"
            "   ORDER BY at DESC, scan_id DESC LIMIT 1) b),"
            " r AS (SELECT item_id, at, scan_id, status,"
            "  lag(status) OVER (PARTITION BY item_id ORDER BY at, scan_id) AS before FROM p)"
            " SELECT item_id, at, status FROM r WHERE before IS DISTINCT FROM status ORDER BY item_id, at, scan_id",
            scope_id,
            framework_id,
            kind,
            list(item_ids),
            start,
            end,
        )
        return rows

    async def passing_pieces(
        self,
        scope_id: str,
        framework_id: str,
        monitored: Mapping[str, Sequence[tuple[datetime, datetime]]],
        start: datetime,
        end: datetime,
    ) -> dict[str, list[int]]:
        """Per control, the stretches of ``monitored`` time (each control's sorted, disjoint,
        non-touching intervals within [start, end)) in which it was PASS: their lengths in
        microseconds, in time order.

        The same stretches ``intersect(normalise(PASS spans), monitored)`` gives from
        :meth:`status_runs`, computed where the changes are: the PASS runs (each lasting until the
        next change, the last until ``end``) cut by the monitored intervals. The lengths are exact
        integers, so the caller sums them in the same order, as ``total_seconds`` does.
        """
        ids = sorted(cid for cid, ivs in monitored.items() if ivs)
        flat = [(cid, a, b) for cid in ids for a, b in monitored[cid]]
        rows = await self._fetch_planned(
            "WITH p AS ("
            " SELECT item_id, at, scan_id, status FROM history_status_changes WHERE scope_id = $1"
            " AND framework_id = $2 AND kind = 'control' AND item_id = ANY($3::text[]) AND at >= $4 AND at < $5"
            " UNION ALL"
            " SELECT b.item_id, b.at, b.scan_id, b.status FROM unnest($3::text[]) AS k(item_id) CROSS JOIN LATERAL ("
            "   SELECT item_id, at, scan_id, status FROM history_status_changes WHERE scope_id = $1"
            "   AND framework_id = $2 AND kind = 'control' AND item_id = k.item_id AND at < $4"
            "   ORDER BY at DESC, scan_id DESC LIMIT 1) b),"
            # At one moment only the last point (by scan) lasts: a status of no duration is no run.
            " q AS (SELECT DISTINCT ON (item_id, at) item_id, at, status FROM p ORDER BY item_id, at, scan_id DESC),"
            " r AS (SELECT item_id, at, status, lag(status) OVER (PARTITION BY item_id ORDER BY at) AS before FROM q),"
            # Runs: each change lasts until the next one (the last until the end). Two runs in a row
            # differ in status and last a while, so PASS runs never touch: no merging is needed.
            " runs AS (SELECT item_id, status, at AS s,"
            "  COALESCE(lead(at) OVER (PARTITION BY item_id ORDER BY at), $5) AS e"
            "  FROM r WHERE before IS DISTINCT FROM status),"
            " m AS (SELECT * FROM unnest($6::text[], $7::timestamptz[], $8::timestamptz[]) AS m(item_id, s, e))"
            " SELECT x.item_id, array_agg(((extract(epoch FROM x.e) - extract(epoch FROM x.s)) * 1000000)::bigint"
            "  ORDER BY x.s) AS pieces"
            " FROM (SELECT g.item_id, greatest(g.s, m.s) AS s, least(g.e, m.e) AS e FROM runs g"
            "  JOIN m ON m.item_id = g.item_id AND m.s < g.e AND g.s < m.e WHERE g.status = 'PASS') x"
            " GROUP BY x.item_id",
            scope_id,
            framework_id,
            ids,
            start,
            end,
            [f[0] for f in flat],
            [f[1] for f in flat],
            [f[2] for f in flat],
        )
        return {r["item_id"]: list(r["pieces"]) for r in rows}

    # Findings ---------------------------------------------------------------------------------

    async def intervals(
        self,
        check_ids: Sequence[str] | None,
        start: datetime,
        end: datetime,
        *,
        resource_arn: str | None = None,
        account_id: str | None = None,
    ) -> list[asyncpg.Record]:
        """Failure intervals overlapping [start, end), with their resource's tags and name."""
        rows = await self._fetch_planned(
            "SELECT i.*, r.tags AS resource_tags, r.name AS resource_name FROM finding_intervals i"
            " LEFT JOIN resources r ON r.arn = i.resource_arn"
            " WHERE ($1::text[] IS NULL OR i.check_id = ANY($1::text[])) AND i.opened_at < $3"
            " AND COALESCE(i.closed_at, 'infinity') > $2"
            " AND ($4::text IS NULL OR i.resource_arn = $4) AND ($5::text IS NULL OR i.account_id = $5)"
            " ORDER BY i.opened_at, i.check_id, i.resource_arn",
            list(check_ids) if check_ids is not None else None,
            start,
            end,
            resource_arn,
            account_id,
        )
        return rows

    async def deviation_intervals(
        self, check_ids: Sequence[str], start: datetime, end: datetime, *, tags: bool
    ) -> list[asyncpg.Record]:
        """Failure intervals of ``check_ids`` overlapping [start, end), named as a deviation's fields.

        Ordered as deviations are listed: detected at, check, resource (code-point order, as Python
        sorts). The resource's tags (last column) only when ``tags``: otherwise NULL, not decoded.
        """
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT i.check_id, i.resource_arn, r.name AS resource_name, i.resource_type, i.account_id, i.region,"
            " i.severity, i.opened_at AS detected_at, i.opened_scan AS detected_scan, i.closed_at AS resolved_at,"
            " i.closed_scan AS resolved_scan, i.closed_as AS resolved_as, i.reopened,"
            " CASE WHEN $4 THEN r.tags END AS resource_tags"
            " FROM finding_intervals i LEFT JOIN resources r ON r.arn = i.resource_arn"
            " WHERE i.check_id = ANY($1::text[]) AND i.opened_at < $3 AND COALESCE(i.closed_at, 'infinity') > $2"
            ' ORDER BY i.opened_at, i.check_id COLLATE "C", i.resource_arn COLLATE "C"',
            list(check_ids),
            start,
            end,
            tags,
        )
        return rows

    async def deviation_summaries(self, where: DeviationFilter, sla_days: Mapping[str, float]) -> list[asyncpg.Record]:
        """Per control: deviations, open ones, SLA misses and accepted ones, counted in the database.

        The same deviations :meth:`deviation_intervals` lists, with the scope boundary and the
        acceptances applied in SQL (see :class:`DeviationFilter`), so no interval leaves it.
        """
        cte, args = where.sql(per_interval=True)
        args.extend([list(sla_days), [float(v) for v in sla_days.values()]])
        n = len(args)
        # Counted per check first (every figure but acceptance is the interval's own, whatever the
        # control), then summed over each control's checks: a year's intervals are grouped once
        # instead of once per control listing their check.
        rows: list[asyncpg.Record] = await self._fetch_planned(
            cte + f", sla AS (SELECT * FROM unnest(${n - 1}::text[], ${n}::float8[]) AS s(severity, days)),"
            " per_check AS (SELECT d.check_id, d.accepted_all, d.accepted_by, count(*) AS n,"
            "  count(*) FILTER (WHERE d.resolved_at IS NULL) AS open,"
            "  count(*) FILTER (WHERE s.days IS NOT NULL AND extract(epoch FROM"
            "   COALESCE(d.resolved_at, $4) - d.detected_at) > s.days * 86400) AS misses"
            "  FROM ivs d LEFT JOIN sla s ON s.severity = d.severity GROUP BY 1, 2, 3)"
            " SELECT c.control_id, sum(g.n)::bigint AS deviation_count, sum(g.open)::bigint AS open_count,"
            " sum(g.misses)::bigint AS sla_misses,"
            " COALESCE(sum(g.n) FILTER (WHERE g.accepted_all OR c.control_id = ANY(g.accepted_by)), 0)::bigint"
            "  AS accepted_count"
            " FROM per_check g JOIN ctl c ON c.check_id = g.check_id"
            " GROUP BY c.control_id ORDER BY c.control_id",
            *args,
        )
        return rows

    async def deviation_page(
        self, where: DeviationFilter, after: DeviationKey | None, limit: int
    ) -> list[asyncpg.Record]:
        """One page of (control, deviation) rows in the order of :data:`DeviationKey`, after ``after``."""
        cte, args = where.sql()
        keyset = ""
        if after is not None:
            args.extend(after)
            n = len(args)
            keyset = (
                f' WHERE (d.control_id COLLATE "C", d.detected_at, d.check_id COLLATE "C",'
                f' d.resource_arn COLLATE "C", d.id) > (${n - 4} COLLATE "C", ${n - 3}::timestamptz,'
                f' ${n - 2} COLLATE "C", ${n - 1} COLLATE "C", ${n}::bigint)'
            )
        args.append(limit)
        rows: list[asyncpg.Record] = await self._fetch_planned(
            cte + ", page AS (SELECT d.* FROM devs d" + keyset + ' ORDER BY d.control_id COLLATE "C", d.detected_at,'
            f' d.check_id COLLATE "C", d.resource_arn COLLATE "C", d.id LIMIT ${len(args)})'
            # Names and tags for the page's rows only.
            " SELECT p.*, r.name AS resource_name, r.tags AS resource_tags FROM page p"
            " LEFT JOIN resources r ON r.arn = p.resource_arn"
            ' ORDER BY p.control_id COLLATE "C", p.detected_at, p.check_id COLLATE "C", p.resource_arn COLLATE "C",'
            " p.id",
            *args,
        )
        return rows

    async def intervals_of_scan(self, scan_id: str) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
        """Intervals opened by ``scan_id`` and those it closed: new and resolved since the last scan."""
        select = (
            "SELECT i.*, r.tags AS resource_tags, r.name AS resource_name FROM finding_intervals i"
            " LEFT JOIN resources r ON r.arn = i.resource_arn WHERE "
        )
        opened = await self.conn.fetch(select + "i.opened_scan = $1 ORDER BY i.check_id, i.resource_arn", scan_id)
        closed = await self.conn.fetch(select + "i.closed_scan = $1 ORDER BY i.check_id, i.resource_arn", scan_id)
        return list(opened), list(closed)

    async def findings(self, keys: Sequence[tuple[str, str]]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT f.check_id, f.resource_arn, f.status, f.state, f.first_seen, f.last_seen, f.closed_at"
            " FROM findings f JOIN unnest($1::text[], $2::text[]) AS k(check_id, resource_arn)"
            " USING (check_id, resource_arn)",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return rows

    async def approved_acceptances(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM acceptances WHERE state = 'approved' ORDER BY acceptance_id"
        )
        return rows

    async def control_checks(self, control_ids: Sequence[str] | None) -> dict[str, list[str]]:
        """Checks of the given controls (active ones when None; a retired control named explicitly too)."""
        rows = await self.conn.fetch(
            "SELECT control_id, checks FROM controls WHERE ($1::text[] IS NULL AND state = 'active')"
            " OR control_id = ANY($1::text[]) ORDER BY control_id",
            list(control_ids) if control_ids is not None else None,
        )
        return {r["control_id"]: list(r["checks"]) for r in rows}

    async def check_services(self) -> dict[str, tuple[str, str]]:
        """check id -> (service, severity), from the newest catalogue."""
        row = await self.conn.fetchrow("SELECT checks FROM catalogues ORDER BY received_at DESC LIMIT 1")
        if row is None:
            return {}
        return {c["id"]: (c["service"], c["severity"]) for c in row["checks"]}

    # Populations and drift --------------------------------------------------------------------

    async def population(
        self,
        as_of: datetime,
        resource_type: str | None,
        *,
        boundary: PopulationBoundary | None = None,
        after: tuple[str, str, str, int] | None = None,
        limit: int | None = None,
        shape: PopulationShape = "records",
    ) -> list[asyncpg.Record]:
        """Resources of each unit's newest complete collection before ``as_of``, configured as then.

        ``stale`` says a later, incomplete collection of the unit happened before ``as_of``. Rows are
        ordered by (resource type, ARN, scan, seq); ``after`` (such a key) and ``limit`` page them,
        and the resource's name, tags and configuration are looked up for the page's rows only.
        ``boundary`` keeps the rows inside a scope's boundary (before the limit); ``shape`` says
        what a row holds (see :func:`_population_sql`).
        """
        query, args = _population_sql(as_of, resource_type, after, limit, boundary, shape)
        return await self._fetch_planned(query, *args)

    async def population_stream(
        self,
        as_of: datetime,
        resource_type: str | None,
        chunk: int,
        *,
        boundary: PopulationBoundary | None = None,
        shape: PopulationShape = "records",
    ) -> AsyncIterator[list[asyncpg.Record]]:
        """The whole population (as :meth:`population`) from a server-side cursor, ``chunk`` rows at a
        time: one query and one snapshot, never more than a chunk in memory. Runs in the caller's
        transaction (a cursor needs one), opening one if there is none."""
        query, args = _population_sql(as_of, resource_type, None, None, boundary, shape)
        async with self.conn.transaction():
            await self.conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            cur = await self.conn.cursor(query, *args)
            while rows := await cur.fetch(chunk):
                yield rows

    async def population_count(
        self,
        as_of: datetime,
        resource_type: str | None,
        *,
        accounts: Sequence[str] | None,
        regions: Sequence[str] | None,
        tags: Mapping[str, Sequence[str]] | None,
    ) -> int:
        """How many rows :meth:`population` lists inside a scope boundary (as :meth:`Scope.contains`)."""
        args: list[Any] = [as_of, resource_type, list(accounts) if accounts is not None else None]
        args += [list(regions) if regions else None, {k: list(v) for k, v in tags.items()} if tags else None]
        rows = await self._fetch_planned(
            "WITH last AS ("
            "  SELECT DISTINCT ON (account_id, region, service) account_id, region, service, scan_id, at"
            "  FROM history_units WHERE complete AND at < $1 ORDER BY account_id, region, service, at DESC)"
            " SELECT count(*) AS n"
            " FROM (SELECT DISTINCT scan_id FROM last) s JOIN evaluations e ON e.scan_id = s.scan_id"
            " JOIN last l ON l.scan_id = e.scan_id AND l.region = e.collection_region AND l.service = e.service"
            " LEFT JOIN resources r ON r.arn = e.arn"
            " WHERE e.arn IS NOT NULL AND e.resource_type <> 'AWS::CloudTrail::ManagementEvents'"
            " AND ($2::text IS NULL OR e.resource_type = $2)"
            " AND ($3::text[] IS NULL OR e.account_id = ANY($3::text[]))"
            " AND ($4::text[] IS NULL OR e.region = 'global' OR e.region = ANY($4::text[]))"
            " AND ($5::jsonb IS NULL OR r.tags IS NULL OR e.resource_type = 'AWS::::Account'"
            "  OR starts_with(e.arn, 'guardian:collection:') OR NOT EXISTS ("
            "   SELECT 1 FROM jsonb_each($5::jsonb) AS b(k, allowed) WHERE NOT (r.tags ? b.k"
            "   AND (jsonb_array_length(b.allowed) = 0 OR b.allowed ? (r.tags ->> b.k)))))",
            *args,
        )
        return int(rows[0]["n"])

    async def drift(
        self,
        start: datetime,
        end: datetime,
        *,
        account_id: str | None,
        resource_type: str | None,
        resource_arn: str | None,
        limit: int,
        tags: bool = True,
    ) -> list[asyncpg.Record]:
        """Configuration changes recorded by scans finalised in [start, end), with the previous version
        and each change's actor: the latest CloudTrail write event naming the resource (by ARN or
        name) between the previous observation and this one (``actor_arn``, ``event_name``,
        ``event_time``), and ``unreadable`` when no event was found and an event-history read of
        the account for that time failed.

        The resource's tags only when ``tags`` (a tag boundary decides with them): otherwise NULL,
        not decoded."""
        rows = await self._fetch_planned(
            "WITH d AS (SELECT c.arn, c.scan_id, c.config_hash, c.observed_at, c.configuration, h.at,"
            " r.resource_type, r.account_id, r.region, r.name, CASE WHEN $7 THEN r.tags END AS tags,"
            " p.config_hash AS before_hash, p.configuration AS before, p.observed_at AS before_at"
            " FROM resource_configs c JOIN history_scans h ON h.scan_id = c.scan_id"
            " JOIN resources r ON r.arn = c.arn"
            " JOIN LATERAL (SELECT config_hash, configuration, observed_at FROM resource_configs p"
            "   WHERE p.arn = c.arn AND p.observed_at < c.observed_at ORDER BY p.observed_at DESC LIMIT 1) p ON true"
            " WHERE h.at >= $1 AND h.at < $2 AND ($3::text IS NULL OR r.account_id = $3)"
            " AND ($4::text IS NULL OR r.resource_type = $4) AND ($5::text IS NULL OR c.arn = $5)"
            " ORDER BY h.at, c.arn LIMIT $6)"
            # Actors are looked up for the changes listed only, in this statement: no second round
            # trip sending the changes back as arrays.
            " SELECT d.*, e.actor_arn, e.event_name, e.event_time,"
            " e.event_id IS NULL AND EXISTS (SELECT 1 FROM cloudtrail_reads t WHERE t.account_id = d.account_id"
            "  AND NOT t.readable AND t.window_end > d.before_at AND t.window_start <= d.observed_at) AS unreadable"
            " FROM d LEFT JOIN LATERAL (SELECT * FROM cloudtrail_events e WHERE e.account_id = d.account_id"
            "  AND e.resources && ARRAY[d.arn, d.name] AND e.event_time > d.before_at AND e.event_time <= d.observed_at"
            "  ORDER BY e.event_time DESC, e.event_id DESC LIMIT 1) e ON true"
            " ORDER BY d.at, d.arn, d.observed_at",
            start,
            end,
            account_id,
            resource_type,
            resource_arn,
            limit,
            tags,
        )
        return rows

    async def turns(self, pairs: Sequence[tuple[str, str]]) -> list[asyncpg.Record]:
        """Finding events of the given (scan, resource) pairs that went from PASS to FAIL or back,
        with ``old_status`` saying which: :meth:`turned` both ways in one round trip. Ordered by
        check, so each way's rows come in :meth:`turned`'s order."""
        # Each pair's events by the (scan, resource) index: the work follows the changes listed, not
        # the whole event history (which a hash join would read). OFFSET 0 keeps the subquery a
        # lookup per pair instead of letting the planner flatten it into such a join.
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT e.scan_id, e.resource_arn, e.check_id, e.old_status"
            " FROM unnest($1::text[], $2::text[]) AS k(scan_id, resource_arn) CROSS JOIN LATERAL ("
            "  SELECT e.scan_id, e.resource_arn, e.check_id, e.old_status FROM finding_events e"
            "  WHERE e.scan_id = k.scan_id AND e.resource_arn = k.resource_arn AND ((e.old_status = 'PASS'"
            "  AND e.new_status = 'FAIL') OR (e.old_status = 'FAIL' AND e.new_status = 'PASS')) OFFSET 0) e"
            " ORDER BY e.check_id",
            [p[0] for p in pairs],
            [p[1] for p in pairs],
        )
        return rows

    async def turned(self, pairs: Sequence[tuple[str, str]], old: str, new: str) -> list[asyncpg.Record]:
        """Finding events of the given (scan, resource) pairs that went from ``old`` to ``new``."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT e.scan_id, e.resource_arn, e.check_id FROM finding_events e"
            " JOIN unnest($1::text[], $2::text[]) AS k(scan_id, resource_arn) USING (scan_id, resource_arn)"
            " WHERE e.old_status = $3 AND e.new_status = $4 ORDER BY e.check_id",
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            old,
            new,
        )
        return rows


@dataclass(frozen=True)
class PopulationBoundary:
    """A scope's boundary, for populations filtered in the database: exactly
    :meth:`Scope.contains` (``accounts`` None: every account; an empty list: none), as
    :meth:`HistoryRepository.population_count` counts."""

    accounts: Sequence[str] | None = None
    regions: Sequence[str] | None = None
    tags: Mapping[str, Sequence[str]] | None = None


# What a population row holds. "records": typed columns, the configuration decoded (and tags, for a
# boundary applied in Python). "json": the key columns and ``item``, the whole item as JSON text
# built by the server (the configuration is jsonb's own text, never decoded here). "csv": the
# item's columns with ``scanned_at`` as text and ``configuration`` as jsonb's text.
PopulationShape = Literal["records", "json", "csv"]

# A timestamptz as pydantic writes a UTC datetime in JSON: seconds, microseconds only when there
# are any, and "Z". Used for every item built by the server, so the text is what it always was.
_JSON_TIME = (
    "to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    " || CASE WHEN extract(microseconds FROM {t})::bigint % 1000000 = 0 THEN ''"
    " ELSE to_char({t} AT TIME ZONE 'UTC', '.US') END || 'Z'"
)


def _population_sql(
    as_of: datetime,
    resource_type: str | None,
    after: tuple[str, str, str, int] | None,
    limit: int | None,
    boundary: PopulationBoundary | None = None,
    shape: PopulationShape = "records",
) -> tuple[str, list[Any]]:
    """The statement behind :meth:`HistoryRepository.population` and its arguments."""
    # Only the conditions asked for are written: the statement is prepared, and a generic plan
    # that must allow for absent filters (col = $n OR $n IS NULL) reads far more than needed.
    args: list[Any] = [as_of]
    where = ""
    if resource_type is not None:
        args.append(resource_type)
        where += f" AND e.resource_type = ${len(args)}"
    tagged = False
    if boundary is not None:
        # The boundary of population_count (Scope.contains), applied before the page is cut.
        if boundary.accounts is not None:
            args.append(list(boundary.accounts))
            where += f" AND e.account_id = ANY(${len(args)}::text[])"
        if boundary.regions:
            args.append(list(boundary.regions))
            where += f" AND (e.region = 'global' OR e.region = ANY(${len(args)}::text[]))"
        if boundary.tags:
            tagged = True
            args.append({key: list(allowed) for key, allowed in boundary.tags.items()})
            n = len(args)
            where += (
                " AND (b.tags IS NULL OR e.resource_type = 'AWS::::Account'"
                " OR starts_with(e.arn, 'guardian:collection:') OR NOT EXISTS ("
                f"  SELECT 1 FROM jsonb_each(${n}::jsonb) AS t(k, allowed) WHERE NOT (b.tags ? t.k"
                "  AND (jsonb_array_length(t.allowed) = 0 OR t.allowed ? (b.tags ->> t.k)))))"
            )
    if after is not None:
        args.extend(after)
        n = len(args)
        where += f" AND (e.resource_type, e.arn, e.scan_id, e.seq) > (${n - 3}, ${n - 2}, ${n - 1}, ${n}::integer)"
    page = ""
    if limit is not None:
        args.append(limit)
        page = f" LIMIT ${len(args)}"
    if shape == "json":
        # Field for field (and in their order) what PopulationItem holds.
        columns = (
            " p.resource_type, p.arn, p.scan_id, p.seq, json_build_object('arn', p.arn, 'resource_type',"
            " p.resource_type, 'name', r.name, 'account_id', p.account_id, 'region', p.region, 'service', p.service,"
            " 'scan_id', p.scan_id, 'scanned_at', p.scanned_at_text, 'stale', p.stale,"
            " 'config_hash', c.config_hash, 'configuration', c.configuration)::text AS item"
        )
    elif shape == "csv":
        columns = (
            " p.arn, p.resource_type, r.name, p.account_id, p.region, p.service, p.scan_id, p.seq,"
            " p.scanned_at_text AS scanned_at, p.stale, c.config_hash, c.configuration::text AS configuration"
        )
    else:
        columns = (
            " p.arn, p.resource_type, p.account_id, p.region, p.collection_region, p.service, p.scan_id, p.seq,"
            " p.scanned_at, p.stale, p.observed_at, r.name, r.tags, c.config_hash, c.configuration"
        )
    query = (
        "WITH last AS ("
        "  SELECT DISTINCT ON (account_id, region, service) account_id, region, service, scan_id, at"
        "  FROM history_units WHERE complete AND at < $1 ORDER BY account_id, region, service, at DESC),"
        " newest AS ("
        "  SELECT DISTINCT ON (account_id, region, service) account_id, region, service, at"
        "  FROM history_units WHERE at < $1 ORDER BY account_id, region, service, at DESC),"
        # What a row takes from its unit, worked out once per unit (a handful) instead of per row:
        # when it was scanned (also as JSON text), and whether a later incomplete collection exists.
        " units AS ("
        "  SELECT l.account_id, l.region, l.service, l.scan_id, l.at, n.at > l.at AS stale,"
        "  " + _JSON_TIME.format(t="l.at") + " AS at_text"
        "  FROM last l JOIN newest n ON n.account_id = l.account_id AND n.region = l.region"
        "  AND n.service = l.service),"
        " page AS ("
        "  SELECT e.scan_id, e.seq, e.arn, e.resource_type, e.account_id, e.region, e.observed_at,"
        "  u.region AS collection_region, u.service, u.at AS scanned_at, u.at_text AS scanned_at_text, u.stale"
        # Each scan's evaluations are read once, however many of its units are the newest.
        "  FROM (SELECT DISTINCT scan_id FROM last) s JOIN evaluations e ON e.scan_id = s.scan_id"
        "  JOIN units u ON u.scan_id = e.scan_id AND u.region = e.collection_region AND u.service = e.service"
        + ("  LEFT JOIN resources b ON b.arn = e.arn" if tagged else "")
        # CloudTrail's event history is collected per scan but is no resource of the population.
        + "  WHERE e.arn IS NOT NULL AND e.resource_type <> 'AWS::CloudTrail::ManagementEvents'"
        + where
        + " ORDER BY e.resource_type, e.arn, e.scan_id, e.seq"
        + page
        + ")"
        " SELECT" + columns + " FROM page p LEFT JOIN resources r ON r.arn = p.arn"
        " LEFT JOIN LATERAL (SELECT config_hash, configuration FROM resource_configs rc"
        "   WHERE rc.arn = p.arn AND rc.observed_at <= p.observed_at ORDER BY rc.observed_at DESC LIMIT 1) c"
        "   ON true"
        " ORDER BY p.resource_type, p.arn, p.scan_id, p.seq"
    )
    return query, args
