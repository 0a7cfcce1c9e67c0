"""Every query on evaluations, results and findings."""

from __future__ import annotations

from collections import Counter
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

    async def count_new_evaluations(self, per_scan: dict[str, int]) -> set[str]:
        """Add each scan's newly claimed evaluations to its progress, in one statement.

        Returns the scans among them that were already finalised: these evaluations came late.
        """
        if not per_scan:
            return set()
        scan_ids = sorted(per_scan)
        rows = await self.conn.fetch(
            "INSERT INTO scans (scan_id, evaluated) SELECT * FROM unnest($1::text[], $2::int[])"
            " ON CONFLICT (scan_id) DO UPDATE SET evaluated = scans.evaluated + EXCLUDED.evaluated"
            " RETURNING scan_id, state",
            scan_ids,
            [per_scan[s] for s in scan_ids],
        )
        return {r["scan_id"] for r in rows if r["state"] in ("final", "incomplete")}

    async def last_event_id(self) -> int:
        """The newest finding event's id (0 when there is none): events written after it are newer."""
        value: int = await self.conn.fetchval("SELECT COALESCE(max(id), 0) FROM finding_events")
        return value

    async def claim_and_count(self, rows: Sequence[tuple[Any, ...]]) -> tuple[set[tuple[str, int]], set[str], set[str]]:
        """:meth:`claim_evaluations` and :meth:`count_new_evaluations` of what it claimed, in one statement.

        Returns (the (scan, seq) claimed now, the scans among them already finalised: their
        evaluations came late, the scans among the others that now have every evaluation they
        expect: only these can be finalised). The scans' rows stay locked by this transaction,
        so what they said holds until it commits.
        """
        if not rows:
            return set(), set(), set()
        claimed = await self.conn.fetch(
            "WITH claimed AS (INSERT INTO evaluations (scan_id, seq, arn, resource_type, account_id, region,"
            " collection_region, service, observed_at, source, catalogue_version)"
            " SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],"
            " $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::text[])"
            " ON CONFLICT DO NOTHING RETURNING scan_id, seq),"
            # In scan order, as count_new_evaluations does: concurrent batches lock scans in one order.
            " counted AS (INSERT INTO scans AS s (scan_id, evaluated)"
            " SELECT scan_id, count(*) FROM claimed GROUP BY scan_id ORDER BY scan_id"
            " ON CONFLICT (scan_id) DO UPDATE SET evaluated = s.evaluated + EXCLUDED.evaluated"
            " RETURNING s.scan_id, s.state, s.total_snapshots IS NOT NULL AND s.evaluated >= s.total_snapshots"
            " AS complete)"
            " SELECT c.scan_id, c.seq, n.state, n.complete FROM claimed c JOIN counted n USING (scan_id)",
            *[list(col) for col in zip(*rows, strict=True)],
        )
        late = {r["scan_id"] for r in claimed if r["state"] in ("final", "incomplete")}
        complete = {r["scan_id"] for r in claimed if r["complete"]} - late
        return {(r["scan_id"], r["seq"]) for r in claimed}, late, complete

    async def apply(self, verdicts: Sequence[Verdict]) -> int:
        """Record verdicts in the scan history and update current findings when newer.

        One statement for the whole batch (scan results, findings, finding events). The verdicts
        are folded in order first, as row-by-row application would: per (check, resource) the last
        verdict not older than the one before it wins, and a change of status is an event.
        """
        if not verdicts:
            return 0
        final, old_statuses = await self._fold(verdicts)
        # Every verdict travels once, with what the fold decided about it: whether it is its key's
        # final verdict (the findings row) and whether it changed the status (a finding event).
        await self.conn.execute(
            "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::int[],"
            " $14::timestamptz[], $15::text[], $16::bool[], $17::bool[], $18::text[]) WITH ORDINALITY"
            " AS k(check_id, resource_arn, resource_type, resource_name, account_id, region, collection_region,"
            " service, status, severity, reason, evidence, check_version, observed_at, scan_id, final, changed,"
            " old_status, n)),"
            " results AS (INSERT INTO scan_results (scan_id, check_id, resource_arn, check_version, status,"
            " severity, reason) SELECT scan_id, check_id, resource_arn, check_version, status, severity, reason"
            " FROM v ORDER BY n ON CONFLICT DO NOTHING),"
            " events AS (INSERT INTO finding_events (check_id, resource_arn, scan_id, old_status, new_status,"
            " reason, at) SELECT check_id, resource_arn, scan_id, old_status, status, reason, observed_at"
            " FROM v WHERE changed ORDER BY n)"
            " INSERT INTO findings AS f (check_id, resource_arn, resource_type, resource_name, account_id, region,"
            " collection_region, service, status, severity, reason, evidence, check_version, observed_at,"
            " first_seen, last_seen, status_since, last_scan_id, state)"
            " SELECT k.check_id, k.resource_arn, k.resource_type, k.resource_name, k.account_id, k.region,"
            " k.collection_region, k.service, k.status, k.severity, k.reason, k.evidence, k.check_version,"
            " k.observed_at, k.observed_at, k.observed_at, k.observed_at, k.scan_id, 'active' FROM v k"
            " WHERE k.final ORDER BY k.n"
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
            [v.check_id for v in verdicts],
            [v.resource_arn for v in verdicts],
            [v.resource_type for v in verdicts],
            [v.resource_name for v in verdicts],
            [v.account_id for v in verdicts],
            [v.region for v in verdicts],
            [v.collection_region for v in verdicts],
            [v.service for v in verdicts],
            [v.status for v in verdicts],
            [v.severity for v in verdicts],
            [v.reason for v in verdicts],
            [v.evidence for v in verdicts],
            [v.check_version for v in verdicts],
            [v.observed_at for v in verdicts],
            [v.scan_id for v in verdicts],
            [i in final for i in range(len(verdicts))],
            [old is not _UNCHANGED for old in old_statuses],
            [None if old is _UNCHANGED else old for old in old_statuses],
        )
        applied = [verdicts[i] for i in sorted(final)]
        for status, n in Counter(v.status for v in applied).items():
            VERDICTS_APPLIED.labels(status=status).inc(n)
        return len(applied)

    async def _fold(self, verdicts: Sequence[Verdict]) -> tuple[set[int], list[str | object | None]]:
        """(the index of the verdict each key ends with, per verdict the status it changed from, or
        ``_UNCHANGED``), against stored findings. A verdict older than its key's is skipped: its
        key keeps its state and it changes nothing."""
        keys = sorted({(v.check_id, v.resource_arn) for v in verdicts})
        current = await self.conn.fetch(
            "SELECT f.check_id, f.resource_arn, f.status, f.state, f.observed_at FROM findings f"
            " JOIN unnest($1::text[], $2::text[]) AS k(check_id, resource_arn)"
            " USING (check_id, resource_arn)",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        # (status or None when closed/absent, observed_at or None) per key, as each verdict lands.
        state: dict[tuple[str, str], tuple[str | None, datetime | None]] = {
            (r["check_id"], r["resource_arn"]): (
                None if r["state"] == "closed" else r["status"],
                r["observed_at"],
            )
            for r in current
        }
        final: dict[tuple[str, str], int] = {}
        old_statuses: list[str | object | None] = [_UNCHANGED] * len(verdicts)
        for i, v in enumerate(verdicts):
            key = (v.check_id, v.resource_arn)
            old_status, old_observed = state.get(key, (None, None))
            if old_observed is not None and old_observed > v.observed_at:
                continue  # an older observation never overwrites a newer one
            final[key] = i
            state[key] = (v.status, v.observed_at)
            if old_status != v.status:
                old_statuses[i] = old_status
        return set(final.values()), old_statuses

    async def close_missing(
        self,
        scan_id: str,
        account_id: str,
        collection_region: str,
        service: str,
        before: datetime,
        at: datetime,
        only: Sequence[str] | None = None,
    ) -> int:
        """Close findings of a completely collected unit whose resource this scan did not see.

        ``only``: a targeted scan's resource ARNs, the only resources it can say are gone.
        """
        # One statement: the closures and their events, without the rows leaving the server.
        result: str = await self.conn.execute(
            "WITH closed AS (UPDATE findings f SET state = 'closed', closed_at = $6,"
            " closed_reason = 'not present in a complete collection of ' || $4 || ' in ' || $3"
            " WHERE f.account_id = $2 AND f.collection_region = $3 AND f.service = $4 AND f.state <> 'closed'"
            " AND f.observed_at < $5 AND ($7::text[] IS NULL OR f.resource_arn = ANY($7::text[]))"
            " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.scan_id = $1 AND e.arn = f.resource_arn)"
            " RETURNING f.check_id, f.resource_arn, f.status)"
            " INSERT INTO finding_events (check_id, resource_arn, scan_id, old_status, new_status, reason, at)"
            " SELECT check_id, resource_arn, $1, status, 'CLOSED', 'resource no longer present', $6 FROM closed"
            " ORDER BY check_id, resource_arn",
            scan_id,
            account_id,
            collection_region,
            service,
            before,
            at,
            list(only) if only is not None else None,
        )
        return int(result.split()[-1])

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


# A verdict that did not change its finding's status (None is a status to change from: absent or closed).
_UNCHANGED = object()
