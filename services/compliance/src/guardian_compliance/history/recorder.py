"""Writing history at a scan's finalisation, in the finalisation's own transaction.

Called once per scan, after the scope results are stored: the scan, its collection units (which
make time "monitored"), finding failure intervals from the scan's finding events, each control's
and requirement's status and the readiness per scope and framework, and the domain events that
follow from comparing with the previous scan. A second call for the same scan changes nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg

from guardian_compliance.outbox import OUTBOX, emit
from guardian_compliance.scope.model import Scope
from guardian_compliance.scope.repository import ScopeRepository
from guardian_compliance.scope.service import scope_of


async def record_scan(conn: asyncpg.Connection, scan_id: str, at: datetime) -> bool:
    """Record ``scan_id``'s history at ``at`` (the compliance clock). False if already recorded."""
    # Read through to_jsonb: a targeted scan (remediation's verification, a later column) reads only
    # its targets, so its units never make a whole unit "monitored".
    scan = await conn.fetchrow(
        "SELECT account_id, state, partial, jsonb_typeof(to_jsonb(s) -> 'targets') = 'array' AS targeted"
        " FROM scans s WHERE scan_id = $1",
        scan_id,
    )
    if scan is None or scan["account_id"] is None:
        return False
    inserted = await conn.fetchval(
        "INSERT INTO history_scans (scan_id, account_id, at, state, partial) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        scan_id,
        scan["account_id"],
        at,
        scan["state"],
        scan["partial"],
    )
    if inserted is None:
        return False
    complete_scan = scan["state"] == "final" and not scan["targeted"]
    await _record_units(conn, scan_id, scan["account_id"], complete_scan, at)
    tally = _Tally(await _scopes(conn))
    await _record_intervals(conn, scan_id, at, tally)
    await _record_posture(conn, scan_id, at, tally)
    await record_status_changes(conn, scan_id)
    return True


# Statuses of one scan whose item had another status (or none) at its previous point in the order
# (at, scan_id): the item's changes, which the passing share and failure runs are computed from.
_CHANGED = (
    "INSERT INTO history_status_changes (scope_id, framework_id, kind, item_id, scan_id, at, status)"
    " SELECT s.scope_id, s.framework_id, s.kind, s.item_id, s.scan_id, s.at, s.status FROM history_statuses s"
    " WHERE s.scan_id = $1 AND s.status IS DISTINCT FROM (SELECT p.status FROM history_statuses p"
    "  WHERE p.scope_id = s.scope_id AND p.framework_id = s.framework_id AND p.kind = s.kind"
    "  AND p.item_id = s.item_id AND p.at <= s.at AND (p.at, p.scan_id) < (s.at, s.scan_id)"
    "  ORDER BY p.at DESC, p.scan_id DESC LIMIT 1)"
    " ON CONFLICT DO NOTHING"
)
# The next point of each item after this scan's, when the scan was recorded out of order (an
# earlier `at` than a scan already recorded) and that point now follows a different status. Normally
# no later point exists and this inserts nothing.
_FOLLOWING = (
    "INSERT INTO history_status_changes (scope_id, framework_id, kind, item_id, scan_id, at, status)"
    " SELECT n.scope_id, n.framework_id, n.kind, n.item_id, n.scan_id, n.at, n.status FROM history_statuses s"
    " CROSS JOIN LATERAL (SELECT p.* FROM history_statuses p WHERE p.scope_id = s.scope_id"
    "  AND p.framework_id = s.framework_id AND p.kind = s.kind AND p.item_id = s.item_id AND p.at >= s.at"
    "  AND (p.at, p.scan_id) > (s.at, s.scan_id) ORDER BY p.at, p.scan_id LIMIT 1) n"
    " WHERE s.scan_id = $1 AND n.status <> s.status"
    " ON CONFLICT DO NOTHING"
)


async def record_status_changes(conn: asyncpg.Connection, scan_id: str) -> None:
    """Add ``scan_id``'s status changes to ``history_status_changes`` (see migration 0016).

    Only ever inserts, and inserting twice changes nothing. The table may hold a point that is no
    longer a change (after a scan recorded out of order), never miss one: readers drop a row whose
    status equals the one before it.
    """
    await conn.execute(_CHANGED, scan_id)
    await conn.execute(_FOLLOWING, scan_id)


async def _record_units(
    conn: asyncpg.Connection, scan_id: str, account_id: str, complete_scan: bool, at: datetime
) -> None:
    evaluated = {
        (r["collection_region"], r["service"]): r["n"]
        for r in await conn.fetch(
            "SELECT collection_region, service, count(*) AS n FROM evaluations WHERE scan_id = $1 GROUP BY 1, 2",
            scan_id,
        )
    }
    units = await conn.fetch("SELECT region, service, status, snapshots FROM scan_units WHERE scan_id = $1", scan_id)
    await conn.executemany(
        "INSERT INTO history_units (scan_id, account_id, region, service, at, complete, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        [
            (
                scan_id,
                account_id,
                u["region"],
                u["service"],
                at,
                # Complete: read completely, every snapshot evaluated, and the scan final and whole.
                complete_scan
                and u["status"] == "complete"
                and evaluated.get((u["region"], u["service"]), 0) >= u["snapshots"],
                u["status"],
            )
            for u in units
        ],
    )


# Per (check, resource), the status the given finding events end on that decides a failure interval:
# FAIL opens one, PASS or CLOSED closes it, ERROR decides nothing (not knowing is not a fix).
_DECISIVE = (
    "SELECT e.check_id, e.resource_arn, (array_agg(e.new_status ORDER BY e.id DESC)"
    " FILTER (WHERE e.new_status IN ('FAIL', 'PASS', 'CLOSED')))[1] AS decisive"
    " FROM finding_events e WHERE {where} GROUP BY 1, 2"
)
_INTERVAL_COLUMNS = (
    "i.id, i.check_id, i.resource_arn, i.resource_type, i.account_id, i.region, i.severity, i.opened_at,"
    " i.opened_scan, i.closed_at, i.closed_scan, i.closed_as, i.reopened"
)
# Rows read back and events written per round trip at finalisation: memory stays flat however many
# findings a scan changes.
PAGE = 5000


class _Tally:
    """New failures and resolutions per scope, counted page by page."""

    def __init__(self, scopes: dict[str, Scope]) -> None:
        self.scopes = scopes
        self.opened: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()
        self.all_opened = 0
        self.all_closed = 0
        self.filtering = any(_narrow(s) for s in scopes.values())

    async def add(self, conn: asyncpg.Connection, opened: list[asyncpg.Record], closed: list[asyncpg.Record]) -> None:
        self.all_opened += len(opened)
        self.all_closed += len(closed)
        tags: dict[str, Any] = {}
        if self.filtering:
            touched = sorted({r["resource_arn"] for r in [*opened, *closed]})
            tags = {
                r["arn"]: r["tags"]
                for r in await conn.fetch("SELECT arn, tags FROM resources WHERE arn = ANY($1::text[])", touched)
            }
        for scope_id, scope in self.scopes.items():
            if not _narrow(scope):
                self.opened[scope_id] += len(opened)
                self.closed[scope_id] += len(closed)
                continue
            self.opened[scope_id] += sum(1 for r in opened if _inside(scope, r, tags))
            self.closed[scope_id] += sum(1 for r in closed if _inside(scope, r, tags))

    def counts(self, scope_id: str) -> tuple[int, int]:
        """(new failures, resolved) inside ``scope_id``; a scope not known contains everything."""
        if scope_id in self.scopes:
            return self.opened[scope_id], self.closed[scope_id]
        return self.all_opened, self.all_closed


def _narrow(scope: Scope) -> bool:
    b = scope.boundary
    return bool(b.account_ids or b.regions or b.tags or scope.environment_accounts is not None)


def _inside(scope: Scope, row: asyncpg.Record, tags: dict[str, Any]) -> bool:
    return scope.contains(
        account_id=row["account_id"],
        region=row["region"],
        resource_type=row["resource_type"],
        arn=row["resource_arn"],
        tags=tags.get(row["resource_arn"]),
    )


async def _scopes(conn: asyncpg.Connection) -> dict[str, Scope]:
    return {r["scope_id"]: scope_of(r) for r in await ScopeRepository(conn).all()}


async def _change_intervals(
    conn: asyncpg.Connection, where: str, args: list[Any], at: datetime, scan_id: str, *, returning: bool
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """Close, then open, failure intervals as the finding events selected by ``where`` decide.

    Set-based, a fixed number of statements whatever the number of findings. The decisions are
    taken first into a temporary table (with whether each finding had an interval, and an open one):
    the statements that write intervals then never read the table they grow, which on a fresh
    table's statistics made the planner rescan it for every row. With ``returning`` the changed
    intervals come back (a late batch: few); otherwise they are read afterwards in pages.
    """
    back = f" RETURNING {_INTERVAL_COLUMNS}" if returning else ""
    await conn.execute("DROP TABLE IF EXISTS pg_temp.interval_decisions")
    await conn.execute(
        "CREATE TEMPORARY TABLE interval_decisions (check_id text NOT NULL, resource_arn text NOT NULL,"
        " decisive text NOT NULL, had_any boolean NOT NULL DEFAULT false,"
        " was_open boolean NOT NULL DEFAULT false, PRIMARY KEY (check_id, resource_arn)) ON COMMIT DROP"
    )
    await conn.execute(
        "INSERT INTO interval_decisions (check_id, resource_arn, decisive)"
        f" SELECT ev.check_id, ev.resource_arn, ev.decisive FROM ({_DECISIVE.format(where=where)}) ev"
        " WHERE ev.decisive IS NOT NULL",
        *args,
    )
    await conn.execute("ANALYZE interval_decisions")
    await conn.execute(
        "UPDATE interval_decisions d SET had_any = true, was_open = k.open FROM ("
        " SELECT i.check_id, i.resource_arn, bool_or(i.closed_at IS NULL) AS open FROM finding_intervals i"
        " JOIN interval_decisions x USING (check_id, resource_arn) GROUP BY 1, 2) k"
        " WHERE d.check_id = k.check_id AND d.resource_arn = k.resource_arn"
    )
    closed = await conn.fetch(
        "UPDATE finding_intervals i SET closed_at = $1, closed_scan = $2, closed_as = d.decisive"
        " FROM interval_decisions d WHERE d.was_open AND d.decisive IN ('PASS', 'CLOSED')"
        f" AND i.check_id = d.check_id AND i.resource_arn = d.resource_arn AND i.closed_at IS NULL{back}",
        at,
        scan_id,
    )
    opened = await conn.fetch(
        "INSERT INTO finding_intervals AS i (check_id, resource_arn, resource_type, account_id, region, severity,"
        " opened_at, opened_scan, reopened)"
        " SELECT d.check_id, d.resource_arn, f.resource_type, f.account_id, f.region, f.severity, $1, $2,"
        " d.had_any FROM interval_decisions d JOIN findings f USING (check_id, resource_arn)"
        f" WHERE d.decisive = 'FAIL' AND NOT d.was_open ORDER BY d.check_id, d.resource_arn{back}",
        at,
        scan_id,
    )
    await conn.execute("DROP TABLE interval_decisions")
    return sorted(opened, key=_key), sorted(closed, key=_key)


def _key(row: asyncpg.Record) -> tuple[str, str]:
    return (row["check_id"], row["resource_arn"])


def _interval_events(
    opened: list[asyncpg.Record], closed: list[asyncpg.Record], scan_id: str, at: datetime, suffix: str = ""
) -> list[tuple[str, str, dict[str, Any], datetime]]:
    events: list[tuple[str, str, dict[str, Any], datetime]] = []
    for row in opened:
        kind = "finding.reopened" if row["reopened"] else "finding.opened"
        events.append(
            (kind, f"{kind}:{row['check_id']}:{row['resource_arn']}:{scan_id}{suffix}", _finding(row, at), at)
        )
    for row in closed:
        data = {**_finding(row, at), "opened_at": row["opened_at"].isoformat(), "closed_as": row["closed_as"]}
        dedupe = f"finding.resolved:{row['check_id']}:{row['resource_arn']}:{scan_id}{suffix}"
        events.append(("finding.resolved", dedupe, data, at))
    return events


async def _record_intervals(conn: asyncpg.Connection, scan_id: str, at: datetime, tally: _Tally) -> None:
    """Open, close and reopen failure intervals from this scan's finding events (in their order).

    The intervals this scan opened, then those it closed, are read back in pages of :data:`PAGE`
    through a cursor; each page becomes one outbox statement and is counted per scope.
    """
    await _change_intervals(conn, "e.scan_id = $1", [scan_id], at, scan_id, returning=False)
    for column in ("opened_scan", "closed_scan"):
        cursor = await conn.cursor(
            f"SELECT {_INTERVAL_COLUMNS} FROM finding_intervals i WHERE i.{column} = $1"
            " ORDER BY i.check_id, i.resource_arn",
            scan_id,
        )
        while rows := await cursor.fetch(PAGE):
            opened, closed = (rows, []) if column == "opened_scan" else ([], rows)
            await OUTBOX.emit_many(conn, _interval_events(opened, closed, scan_id, at))
            await tally.add(conn, opened, closed)


async def record_late(conn: asyncpg.Connection, scan_id: str, after_event: int, at: datetime) -> int:
    """History for evaluations of ``scan_id`` applied after its finalisation (a late or redelivered one).

    The finding events with an id above ``after_event`` open and close failure intervals attributed
    to the scan, at ``at`` (the compliance clock: when Guardian learnt of them), with their domain
    events; the scan's per-scope counts of new failures and resolutions grow by as many. Returns how
    many intervals changed. Does nothing for a scan history has not recorded yet.
    """
    if await conn.fetchval("SELECT 1 FROM history_scans WHERE scan_id = $1", scan_id) is None:
        return 0
    opened, closed = await _change_intervals(
        conn, "e.scan_id = $1 AND e.id > $2", [scan_id, after_event], at, scan_id, returning=True
    )
    if not opened and not closed:
        return 0
    suffix = f":late:{after_event}"
    await OUTBOX.emit_many(conn, _interval_events(opened, closed, scan_id, at, suffix))
    tally = _Tally(await _scopes(conn))
    await tally.add(conn, opened, closed)
    rows = await conn.fetch(
        "SELECT scope_id, framework_id FROM history_readiness WHERE scan_id = $1 ORDER BY 1, 2", scan_id
    )
    for row in rows:
        new, resolved = tally.counts(row["scope_id"])
        await conn.execute(
            "UPDATE history_readiness SET counts = jsonb_set(jsonb_set(counts, '{new_failures}',"
            " to_jsonb(COALESCE((counts ->> 'new_failures')::int, 0) + $4)), '{resolved}',"
            " to_jsonb(COALESCE((counts ->> 'resolved')::int, 0) + $5))"
            " WHERE scan_id = $1 AND scope_id = $2 AND framework_id = $3",
            scan_id,
            row["scope_id"],
            row["framework_id"],
            new,
            resolved,
        )
    return len(opened) + len(closed)


def _finding(row: asyncpg.Record, at: datetime) -> dict[str, Any]:
    return {
        "check_id": row["check_id"],
        "resource_arn": row["resource_arn"],
        "resource_type": row["resource_type"],
        "account_id": row["account_id"],
        "region": row["region"],
        "severity": row["severity"],
        "scan_id": row["closed_scan"] or row["opened_scan"],
        "at": at.isoformat(),
    }


async def _record_posture(conn: asyncpg.Connection, scan_id: str, at: datetime, tally: _Tally) -> None:
    results = await conn.fetch(
        "SELECT scope_id, framework_id, readiness, requirements, controls FROM scope_results WHERE scan_id = $1"
        " ORDER BY scope_id, framework_id",
        scan_id,
    )
    if not results:
        return
    for result in results:
        scope_id, framework_id = result["scope_id"], result["framework_id"]
        statuses = sorted(
            [("control", c["id"], c["status"]) for c in result["controls"]]
            + [("requirement", r["id"], r["status"]) for r in result["requirements"]]
        )
        # The previous scan's statuses for this scope and framework (there is one row per scan).
        previous = {
            (r["kind"], r["item_id"]): r["status"]
            for r in await conn.fetch(
                "SELECT s.kind, s.item_id, s.status FROM history_statuses s WHERE s.scan_id = ("
                "  SELECT p.scan_id FROM history_readiness p WHERE p.scope_id = $1 AND p.framework_id = $2"
                "  AND p.at < $3 ORDER BY p.at DESC LIMIT 1) AND s.scope_id = $1 AND s.framework_id = $2",
                scope_id,
                framework_id,
                at,
            )
        }
        await conn.executemany(
            "INSERT INTO history_statuses (scope_id, framework_id, kind, item_id, scan_id, at, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            [(scope_id, framework_id, kind, item, scan_id, at, status) for kind, item, status in statuses],
        )
        for kind, item, status in statuses:
            before = previous.get((kind, item))
            if kind != "control" or before is None or before == status:
                continue
            await emit(
                conn,
                "control.status_changed",
                f"control.status_changed:{scope_id}:{framework_id}:{item}:{scan_id}",
                {
                    "scope_id": scope_id,
                    "framework_id": framework_id,
                    "control_id": item,
                    "old_status": before,
                    "new_status": status,
                    "scan_id": scan_id,
                    "at": at.isoformat(),
                },
                at,
            )
        readiness = result["readiness"]
        new_failures, resolved = tally.counts(scope_id)
        counts = {
            "controls": dict(Counter(c["status"] for c in result["controls"])),
            "requirements": dict(Counter(r["status"] for r in result["requirements"])),
            "new_failures": new_failures,
            "resolved": resolved,
        }
        prior = await conn.fetchrow(
            "SELECT score FROM history_readiness WHERE scope_id = $1 AND framework_id = $2 AND at < $3"
            " ORDER BY at DESC LIMIT 1",
            scope_id,
            framework_id,
            at,
        )
        await conn.execute(
            "INSERT INTO history_readiness (scope_id, framework_id, scan_id, at, score, passing, applicable,"
            " by_category, counts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            scope_id,
            framework_id,
            scan_id,
            at,
            readiness["score"],
            readiness["passing"],
            readiness["applicable"],
            readiness["by_category"],
            counts,
        )
        old_score = None if prior is None else prior["score"]
        if prior is None or old_score != readiness["score"]:
            await emit(
                conn,
                "readiness.changed",
                f"readiness.changed:{scope_id}:{framework_id}:{scan_id}",
                {
                    "scope_id": scope_id,
                    "framework_id": framework_id,
                    "old_score": old_score,
                    "new_score": readiness["score"],
                    "scan_id": scan_id,
                    "at": at.isoformat(),
                },
                at,
            )
