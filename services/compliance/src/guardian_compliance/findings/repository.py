"""Every query on evaluations, results and findings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from guardian_common.events import CheckResult, SnapshotEvaluated, Status
from guardian_compliance.metrics import VERDICTS_APPLIED
from guardian_compliance.posture.status import CheckFacts


@dataclass(frozen=True)
class Verdict:
    """One (check, resource) verdict to apply, from an evaluation or made by compliance itself."""

    check_id: str
    check_version: int
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    collection_region: str
    service: str
    status: str
    severity: str
    reason: str
    evidence: dict[str, Any]
    observed_at: datetime
    scan_id: str


def verdicts_of(event: SnapshotEvaluated) -> list[Verdict]:
    return [verdict_of(event, r) for r in event.results]


def verdict_of(event: SnapshotEvaluated, result: CheckResult) -> Verdict:
    return Verdict(
        check_id=result.check_id,
        check_version=result.check_version,
        resource_arn=event.arn,
        resource_type=event.resource_type,
        resource_name=event.name,
        account_id=event.account_id,
        region=event.region,
        collection_region=event.collection_region,
        service=event.service,
        status=result.status.value,
        severity=result.severity.value,
        reason=result.reason,
        evidence=result.evidence,
        observed_at=event.observed_at,
        scan_id=event.scan_id,
    )


class FindingRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def claim_evaluations(self, rows: Sequence[tuple[Any, ...]]) -> set[tuple[str, int]]:
        """Insert evaluation keys; return those that were new. A redelivery claims nothing."""
        if not rows:
            return set()
        claimed = await self.conn.fetch(
            "INSERT INTO evaluations (scan_id, seq, arn, resource_type, account_id, region, collection_region,"
            " service, observed_at, source, catalogue_version)"
            " SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],"
            " $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::text[])"
            " ON CONFLICT DO NOTHING RETURNING scan_id, seq",
            *[list(col) for col in zip(*rows, strict=True)],
        )
        return {(r["scan_id"], r["seq"]) for r in claimed}

    async def count_new_evaluations(self, per_scan: dict[str, int]) -> None:
        for scan_id, n in per_scan.items():
            await self.conn.execute(
                "INSERT INTO scans (scan_id, evaluated) VALUES ($1, $2)"
                " ON CONFLICT (scan_id) DO UPDATE SET evaluated = scans.evaluated + EXCLUDED.evaluated",
                scan_id,
                n,
            )

    async def apply(self, verdicts: Sequence[Verdict]) -> int:
        """Record verdicts in the scan history and update current findings when newer."""
        if not verdicts:
            return 0
        await self.conn.executemany(
            "INSERT INTO scan_results (scan_id, check_id, resource_arn, check_version, status, severity, reason)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            [
                (v.scan_id, v.check_id, v.resource_arn, v.check_version, v.status, v.severity, v.reason)
                for v in verdicts
            ],
        )
        current = await self.conn.fetch(
            "SELECT f.check_id, f.resource_arn, f.status, f.state, f.observed_at FROM findings f"
            " JOIN unnest($1::text[], $2::text[]) AS k(check_id, resource_arn)"
            " USING (check_id, resource_arn)",
            [v.check_id for v in verdicts],
            [v.resource_arn for v in verdicts],
        )
        known = {(r["check_id"], r["resource_arn"]): r for r in current}
        changes: list[tuple[Any, ...]] = []
        applied: list[Verdict] = []
        for v in verdicts:
            old = known.get((v.check_id, v.resource_arn))
            if old is not None and old["observed_at"] > v.observed_at:
                continue  # an older observation never overwrites a newer one
            applied.append(v)
            old_status = None if old is None or old["state"] == "closed" else old["status"]
            if old_status != v.status:
                changes.append((v.check_id, v.resource_arn, v.scan_id, old_status, v.status, v.reason, v.observed_at))
        await self.conn.executemany(
            "INSERT INTO findings AS f (check_id, resource_arn, resource_type, resource_name, account_id, region,"
            " collection_region, service, status, severity, reason, evidence, check_version, observed_at,"
            " first_seen, last_seen, status_since, last_scan_id, state)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $14, $14, $15, 'active')"
            " ON CONFLICT (check_id, resource_arn) DO UPDATE SET"
            " resource_type = EXCLUDED.resource_type, resource_name = EXCLUDED.resource_name,"
            " region = EXCLUDED.region, collection_region = EXCLUDED.collection_region,"
            " status_since = CASE WHEN f.status = EXCLUDED.status AND f.state <> 'closed'"
            "   THEN f.status_since ELSE EXCLUDED.observed_at END,"
            " first_seen = CASE WHEN f.state = 'closed' THEN EXCLUDED.observed_at ELSE f.first_seen END,"
            " status = EXCLUDED.status, severity = EXCLUDED.severity, reason = EXCLUDED.reason,"
            " evidence = EXCLUDED.evidence, check_version = EXCLUDED.check_version,"
            " observed_at = EXCLUDED.observed_at, last_seen = EXCLUDED.observed_at,"
            " last_scan_id = EXCLUDED.last_scan_id, state = 'active', closed_at = NULL, closed_reason = NULL"
            " WHERE f.observed_at <= EXCLUDED.observed_at",
            [
                (
                    v.check_id,
                    v.resource_arn,
                    v.resource_type,
                    v.resource_name,
                    v.account_id,
                    v.region,
                    v.collection_region,
                    v.service,
                    v.status,
                    v.severity,
                    v.reason,
                    v.evidence,
                    v.check_version,
                    v.observed_at,
                    v.scan_id,
                )
                for v in applied
            ],
        )
        if changes:
            await self.conn.executemany(
                "INSERT INTO finding_events (check_id, resource_arn, scan_id, old_status, new_status, reason, at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                changes,
            )
        for verdict in applied:
            VERDICTS_APPLIED.labels(status=verdict.status).inc()
        return len(applied)

    async def close_missing(
        self,
        scan_id: str,
        account_id: str,
        collection_region: str,
        service: str,
        before: datetime,
        at: datetime,
    ) -> int:
        """Close findings of a completely collected unit whose resource this scan did not see."""
        rows = await self.conn.fetch(
            "UPDATE findings f SET state = 'closed', closed_at = $6,"
            " closed_reason = 'not present in a complete collection of ' || $4 || ' in ' || $3"
            " WHERE f.account_id = $2 AND f.collection_region = $3 AND f.service = $4 AND f.state <> 'closed'"
            " AND f.observed_at < $5"
            " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.scan_id = $1 AND e.arn = f.resource_arn)"
            " RETURNING f.check_id, f.resource_arn, f.status",
            scan_id,
            account_id,
            collection_region,
            service,
            before,
            at,
        )
        if rows:
            await self.conn.executemany(
                "INSERT INTO finding_events (check_id, resource_arn, scan_id, old_status, new_status, reason, at)"
                " VALUES ($1, $2, $3, $4, 'CLOSED', 'resource no longer present', $5)",
                [(r["check_id"], r["resource_arn"], scan_id, r["status"], at) for r in rows],
            )
        return len(rows)

    async def mark_stale(
        self, scan_id: str, account_id: str, collection_region: str, service: str, before: datetime
    ) -> int:
        """Keep the last known state of resources a failed or partial collection did not confirm."""
        result: str = await self.conn.execute(
            "UPDATE findings f SET state = 'stale'"
            " WHERE f.account_id = $2 AND f.collection_region = $3 AND f.service = $4 AND f.state = 'active'"
            " AND f.observed_at < $5"
            " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.scan_id = $1 AND e.arn = f.resource_arn)",
            scan_id,
            account_id,
            collection_region,
            service,
            before,
        )
        return int(result.split()[-1])

    async def check_facts(self) -> dict[str, CheckFacts]:
        rows = await self.conn.fetch(
            # A stale PASS (its unit was not fully read since) is no longer proof: it counts as ERROR.
            "SELECT check_id, CASE WHEN state = 'stale' AND status = 'PASS' THEN 'ERROR' ELSE status END AS status,"
            " count(*) AS n FROM findings WHERE state <> 'closed' GROUP BY 1, 2"
        )
        facts: dict[str, CheckFacts] = {}
        for r in rows:
            entry = facts.setdefault(r["check_id"], CheckFacts())
            if r["status"] == Status.PASS.value:
                entry.passed += r["n"]
            elif r["status"] == Status.FAIL.value:
                entry.failed += r["n"]
            else:
                entry.errored += r["n"]
        return facts

    async def current_with_tags(
        self,
        *,
        status: str | None = None,
        check_ids: Sequence[str] | None = None,
        resource_type: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
        include_closed: bool = False,
    ) -> list[asyncpg.Record]:
        """Findings with their resource's tags (from the inventory), for scope and acceptance matching.

        ``resource_tags`` is NULL when the inventory does not know the resource: its tags are unknown.
        """
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT f.*, r.tags AS resource_tags FROM findings f"
            " LEFT JOIN resources r ON r.arn = f.resource_arn"
            " WHERE ($1 OR f.state <> 'closed') AND ($2::text IS NULL OR f.status = $2)"
            " AND ($3::text[] IS NULL OR f.check_id = ANY($3::text[])) AND ($4::text IS NULL OR f.resource_type = $4)"
            " AND ($5::text IS NULL OR f.account_id = $5) AND ($6::text IS NULL OR f.region = $6)"
            " ORDER BY CASE f.status WHEN 'FAIL' THEN 0 WHEN 'ERROR' THEN 1 ELSE 2 END,"
            " CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3"
            " ELSE 4 END, f.check_id, f.resource_arn",
            include_closed,
            status,
            list(check_ids) if check_ids else None,
            resource_type,
            account_id,
            region,
        )
        return rows

    async def list(
        self,
        *,
        status: str | None,
        check_ids: Sequence[str] | None,
        resource_type: str | None,
        account_id: str | None,
        region: str | None,
        include_closed: bool,
        limit: int,
        offset: int,
    ) -> tuple[int, list[asyncpg.Record]]:
        clauses = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            clauses.append(sql.format(n=len(args)))

        if not include_closed:
            clauses.append("state <> 'closed'")
        if status:
            add("status = ${n}", status)
        if check_ids:
            add("check_id = ANY(${n}::text[])", list(check_ids))
        if resource_type:
            add("resource_type = ${n}", resource_type)
        if account_id:
            add("account_id = ${n}", account_id)
        if region:
            add("region = ${n}", region)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        total: int = await self.conn.fetchval(f"SELECT count(*) FROM findings{where}", *args)
        rows = await self.conn.fetch(
            f"SELECT * FROM findings{where}"
            " ORDER BY CASE status WHEN 'FAIL' THEN 0 WHEN 'ERROR' THEN 1 ELSE 2 END,"
            " CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3"
            " ELSE 4 END, check_id, resource_arn"
            f" LIMIT {int(limit)} OFFSET {int(offset)}",
            *args,
        )
        return total, rows
