"""The scan barrier: a scan is final when every (scan, seq) has an evaluation.

At that moment, in one transaction: resources missing from a *complete* collection of their unit
are closed; those of a failed or partial unit keep their state, marked stale; a unit that could
not be read, or whose snapshots were not all evaluated, becomes an ERROR finding for every check
fed by it (never a silent PASS); then the posture of every subscribed framework is stored with
the versions that produced it, for every scope. A scan still open after the deadline is finalised INCOMPLETE and
says what is missing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from guardian_common.events import Status
from guardian_common.logging import get_logger
from guardian_compliance.findings.repository import FindingRepository, Verdict
from guardian_compliance.history.recorder import record_scan
from guardian_compliance.inventory.repository import InventoryRepository
from guardian_compliance.metrics import SCAN_SECONDS, SCANS_FINALISED
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.posture.service import store_for_scan
from guardian_compliance.scans.repository import ScanRepository

log = get_logger("guardian.compliance.finalise")

GLOBAL = "global"


def gap_arn(account_id: str, region: str, service: str) -> str:
    """The pseudo-resource standing for a collection unit that could not be (fully) read."""
    return f"guardian:collection:{account_id}:{region}:{service}"


@dataclass
class UnitView:
    region: str
    service: str
    status: str
    snapshots: int
    first_error: str | None


async def try_finalise(
    conn: asyncpg.Connection, scan_id: str, *, deadline_passed: bool = False, now: datetime | None = None
) -> bool:
    """Finalise ``scan_id`` if it is ready (or overdue). True if it was finalised now.

    ``now`` is the service clock's time: it decides which risk acceptances are in force in the
    stored result.
    """
    scans = ScanRepository(conn)
    scan = await scans.lock(scan_id)
    if scan is None or scan["state"] in ("final", "incomplete"):
        return False
    total = scan["total_snapshots"]
    complete = total is not None and scan["evaluated"] >= total
    if not complete and not deadline_passed:
        return False
    if scan["account_id"] is None:
        # Evaluations arrived but neither ScanStarted nor ScanCompleted ever did: nothing to anchor on.
        await scans.finish(
            scan_id, "incomplete", True, {"reason": "the scan's start and end were never received"}, None
        )
        return True

    now = now or datetime.now(UTC)
    account_id: str = scan["account_id"]
    started_at: datetime = scan["started_at"] or scan["created_at"]
    catalogue_version, catalogue, checks_meta = await scans.latest_catalogue()
    findings = FindingRepository(conn)
    inventory = InventoryRepository(conn)

    units = [
        UnitView(u["region"], u["service"], u["status"], u["snapshots"], u["first_error"])
        for u in await scans.units(scan_id)
    ]
    evaluated_per_unit: Counter[tuple[str, str]] = Counter(
        {
            (r["collection_region"], r["service"]): r["n"]
            for r in await conn.fetch(
                "SELECT collection_region, service, count(*) AS n FROM evaluations WHERE scan_id = $1 GROUP BY 1, 2",
                scan_id,
            )
        }
    )
    missing: dict[str, Any] = {}
    # A targeted scan (remediation's verification) speaks only for its targets: it closes, marks
    # stale and reports as a gap nothing outside them.
    targeted = scan["targets"] is not None
    if not units and not targeted:
        # ScanCompleted never arrived: every unit the scan announced is unaccounted for.
        regions = list(scan["regions"]) or [GLOBAL]
        units = [
            UnitView(r, s, "failed", 0, "the collector never reported this unit")
            for s in scan["services"]
            for r in [GLOBAL, *regions]
        ]
        missing["reason"] = "the collector never reported the end of the scan"
    if total is not None and not complete:
        seqs = await scans.evaluated_seqs(scan_id)
        absent = [n for n in range(1, total + 1) if n not in seqs]
        missing["seqs"] = absent[:1000]
        missing["count"] = len(absent)
    dead = await scans.dead_letter_count(scan_id)

    partial = dead > 0 or not complete
    gaps: list[Verdict] = []
    for unit in units:
        not_evaluated = max(0, unit.snapshots - evaluated_per_unit[(unit.region, unit.service)])
        if targeted:
            partial = partial or unit.status != "complete" or not_evaluated > 0
            if unit.status == "complete" and not not_evaluated and dead == 0:
                # A target a complete re-collection did not find is gone (deleted since the last
                # scan): its findings close now. Nothing else in the unit was looked at.
                only = list(scan["targets"])
                await findings.close_missing(scan_id, account_id, unit.region, unit.service, started_at, now, only=only)
                await inventory.close_missing(
                    scan_id, account_id, unit.region, unit.service, started_at, now, only=only
                )
            continue
        if unit.status == "failed" or not_evaluated:
            partial = True
            why = (
                f"Could not collect {unit.service} in {unit.region}: {unit.first_error or 'unknown error'}"
                if unit.status == "failed"
                else f"{not_evaluated} of {unit.snapshots} {unit.service} snapshot(s) in {unit.region}"
                " were not evaluated before the scan's deadline"
            )
            for check_id, meta in checks_meta.items():
                if meta["service"] != unit.service:
                    continue
                gaps.append(
                    Verdict(
                        check_id=check_id,
                        check_version=catalogue[check_id].version,
                        resource_arn=gap_arn(account_id, unit.region, unit.service),
                        resource_type=meta["resource_type"],
                        resource_name=f"{unit.service} in {unit.region} (not collected)",
                        account_id=account_id,
                        region=unit.region,
                        collection_region=unit.region,
                        service=unit.service,
                        status=Status.ERROR.value,
                        severity=meta["severity"],
                        reason=why,
                        evidence={},
                        observed_at=now,
                        scan_id=scan_id,
                    )
                )
            await findings.mark_stale(scan_id, account_id, unit.region, unit.service, started_at)
            await inventory.mark_stale(scan_id, account_id, unit.region, unit.service, started_at)
        elif unit.status == "partial":
            partial = True
            await findings.mark_stale(scan_id, account_id, unit.region, unit.service, started_at)
            await inventory.mark_stale(scan_id, account_id, unit.region, unit.service, started_at)
        elif dead == 0 or await _unit_fully_attributed(conn, scan_id, unit):
            await findings.close_missing(scan_id, account_id, unit.region, unit.service, started_at, now)
            await inventory.close_missing(scan_id, account_id, unit.region, unit.service, started_at, now)
    if gaps:
        await findings.apply(gaps)

    state = "final" if complete else "incomplete"
    await scans.finish(scan_id, state, partial, missing or None, catalogue_version)
    subscribed = sorted((await PostureRepository(conn).subscriptions()).keys())
    await store_for_scan(conn, scan_id, subscribed, now)
    await record_scan(conn, scan_id, now)
    SCANS_FINALISED.labels(state=state, partial=str(partial).lower()).inc()
    SCAN_SECONDS.observe(max(0.0, (now - started_at).total_seconds()))
    log.info("scan_finalised", scan_id=scan_id, state=state, partial=partial, gaps=len(gaps), dead_letters=dead)
    return True


async def _unit_fully_attributed(conn: asyncpg.Connection, scan_id: str, unit: UnitView) -> bool:
    """A dead letter whose resource is unknown could belong to this unit: then closing is unsafe."""
    unknown = await conn.fetchval("SELECT count(*) FROM dead_letters WHERE scan_id = $1 AND arn IS NULL", scan_id)
    return not unknown
