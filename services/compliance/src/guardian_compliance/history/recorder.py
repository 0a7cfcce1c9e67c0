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

from guardian_compliance.outbox import emit
from guardian_compliance.scope.repository import ScopeRepository
from guardian_compliance.scope.service import scope_of

CLOSING = frozenset({"PASS", "CLOSED"})


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
    opened, closed = await _record_intervals(conn, scan_id, at)
    await _record_posture(conn, scan_id, at, opened, closed)
    return True


async def _record_units(
    conn: asyncpg.Connection, scan_id: str, account_id: str, complete_scan: bool, at: datetime
) -> None:
    evaluated = Counter(
        (r["collection_region"], r["service"])
        for r in await conn.fetch("SELECT collection_region, service FROM evaluations WHERE scan_id = $1", scan_id)
    )
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
                and evaluated[(u["region"], u["service"])] >= u["snapshots"],
                u["status"],
            )
            for u in units
        ],
    )


async def _record_intervals(
    conn: asyncpg.Connection, scan_id: str, at: datetime
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """Open, close and reopen failure intervals from this scan's finding events (in their order)."""
    events = await conn.fetch(
        "SELECT e.check_id, e.resource_arn, e.old_status, e.new_status, f.resource_type, f.account_id, f.region,"
        " f.severity FROM finding_events e JOIN findings f USING (check_id, resource_arn)"
        " WHERE e.scan_id = $1 ORDER BY e.id",
        scan_id,
    )
    if not events:
        return [], []
    keys = sorted({(e["check_id"], e["resource_arn"]) for e in events})
    checks, arns = [k[0] for k in keys], [k[1] for k in keys]
    known = await conn.fetch(
        "SELECT i.check_id, i.resource_arn, bool_or(i.closed_at IS NULL) AS open FROM finding_intervals i"
        " JOIN unnest($1::text[], $2::text[]) AS k(check_id, resource_arn) USING (check_id, resource_arn)"
        " GROUP BY 1, 2",
        checks,
        arns,
    )
    had_any = {(r["check_id"], r["resource_arn"]): r["open"] for r in known}
    # The state each finding ends the scan in decides: within one scan only the outcome counts.
    first: dict[tuple[str, str], asyncpg.Record] = {}
    failing: dict[tuple[str, str], bool] = {}
    closed_as: dict[tuple[str, str], str] = {}
    for e in events:
        key = (e["check_id"], e["resource_arn"])
        first.setdefault(key, e)
        now_failing = failing.get(key, had_any.get(key, False))
        if e["new_status"] == "FAIL":
            now_failing = True
        elif e["new_status"] in CLOSING:
            now_failing = False
            closed_as[key] = e["new_status"]
        failing[key] = now_failing
    to_open: dict[tuple[str, str], tuple[Any, ...]] = {}
    to_close: dict[tuple[str, str], str] = {}
    for key, end_failing in failing.items():
        was_open = had_any.get(key, False)
        if end_failing and not was_open:
            e = first[key]
            to_open[key] = (
                key[0],
                key[1],
                e["resource_type"],
                e["account_id"],
                e["region"],
                e["severity"],
                at,
                scan_id,
                key in had_any,
            )
        elif was_open and not end_failing:
            to_close[key] = closed_as[key]
    closed = (
        await conn.fetch(
            "UPDATE finding_intervals i SET closed_at = $3, closed_scan = $4, closed_as = k.closed_as"
            " FROM unnest($1::text[], $2::text[], $5::text[]) AS k(check_id, resource_arn, closed_as)"
            " WHERE i.check_id = k.check_id AND i.resource_arn = k.resource_arn AND i.closed_at IS NULL"
            " RETURNING i.*",
            [k[0] for k in to_close],
            [k[1] for k in to_close],
            at,
            scan_id,
            list(to_close.values()),
        )
        if to_close
        else []
    )
    opened = (
        await conn.fetch(
            "INSERT INTO finding_intervals (check_id, resource_arn, resource_type, account_id, region, severity,"
            " opened_at, opened_scan, reopened)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
            " $7::timestamptz[], $8::text[], $9::bool[]) RETURNING *",
            *[list(col) for col in zip(*to_open.values(), strict=True)],
        )
        if to_open
        else []
    )
    opened = sorted(opened, key=lambda r: (r["check_id"], r["resource_arn"]))
    closed = sorted(closed, key=lambda r: (r["check_id"], r["resource_arn"]))
    for row in opened:
        kind = "finding.reopened" if row["reopened"] else "finding.opened"
        await emit(conn, kind, f"{kind}:{row['check_id']}:{row['resource_arn']}:{scan_id}", _finding(row, at), at)
    for row in closed:
        data = {**_finding(row, at), "opened_at": row["opened_at"].isoformat(), "closed_as": row["closed_as"]}
        dedupe = f"finding.resolved:{row['check_id']}:{row['resource_arn']}:{scan_id}"
        await emit(conn, "finding.resolved", dedupe, data, at)
    return opened, closed


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


async def _record_posture(
    conn: asyncpg.Connection,
    scan_id: str,
    at: datetime,
    opened: list[asyncpg.Record],
    closed: list[asyncpg.Record],
) -> None:
    results = await conn.fetch(
        "SELECT scope_id, framework_id, readiness, requirements, controls FROM scope_results WHERE scan_id = $1"
        " ORDER BY scope_id, framework_id",
        scan_id,
    )
    if not results:
        return
    scopes = {r["scope_id"]: scope_of(r) for r in await ScopeRepository(conn).all()}
    touched = {r["resource_arn"] for r in [*opened, *closed]}
    tags = {
        r["arn"]: r["tags"]
        for r in await conn.fetch("SELECT arn, tags FROM resources WHERE arn = ANY($1::text[])", sorted(touched))
    }
    for result in results:
        scope_id, framework_id = result["scope_id"], result["framework_id"]
        scope = scopes.get(scope_id)

        def inside(row: asyncpg.Record) -> bool:
            return scope is None or scope.contains(  # noqa: B023 - used within this iteration only
                account_id=row["account_id"],
                region=row["region"],
                resource_type=row["resource_type"],
                arn=row["resource_arn"],
                tags=tags.get(row["resource_arn"]),
            )

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
        counts = {
            "controls": dict(Counter(c["status"] for c in result["controls"])),
            "requirements": dict(Counter(r["status"] for r in result["requirements"])),
            "new_failures": sum(1 for r in opened if inside(r)),
            "resolved": sum(1 for r in closed if inside(r)),
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
