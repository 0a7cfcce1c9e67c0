"""Computing the posture of a framework for a scope, live or for a final scan, with its versions.

The facts come from current findings inside the scope's boundary, the collection units the scope
covers, the scope's categories, not-applicable marks and carve-outs, and the risk acceptances in
force at ``now``. The same computation serves the live API (``now`` is the request's clock) and
the result stored at each final scan (append-only history, never recomputed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from guardian_common.events import Status
from guardian_compliance.acceptances.matching import NO_COVERAGE, Coverage, Rule, coverage
from guardian_compliance.acceptances.repository import AcceptanceRepository
from guardian_compliance.controls.service import ActiveLibrary, active_library
from guardian_compliance.evidence.service import EvidenceInForce, evidence_in_force
from guardian_compliance.findings import queries
from guardian_compliance.frameworks.model import bundled_framework, content_hash
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.posture.status import CheckFacts, Facts, FrameworkPosture, compute
from guardian_compliance.scans.repository import ScanRepository
from guardian_compliance.scope.model import DEFAULT_SCOPE, Scope
from guardian_compliance.scope.repository import ScopeRepository
from guardian_compliance.scope.service import load_scope, scope_of


@dataclass(frozen=True)
class ScopedFinding:
    row: asyncpg.Record
    coverage: Coverage

    @property
    def display_status(self) -> str:
        status: str = self.row["status"]
        return "ACCEPTED" if self.coverage.everywhere is not None else status


@dataclass
class Computed:
    posture: FrameworkPosture
    versions: dict[str, Any]
    deviations: list[dict[str, Any]] = field(default_factory=list)
    scope: Scope | None = None


def in_scope(scope: Scope | None, row: asyncpg.Record) -> bool:
    if scope is None:
        return True
    return scope.contains(
        account_id=row["account_id"],
        region=row["region"],
        resource_type=row["resource_type"],
        arn=row["resource_arn"],
        tags=row["resource_tags"],
    )


def cover(rules: Sequence[Rule], row: asyncpg.Record) -> Coverage:
    if row["state"] == "closed":
        return NO_COVERAGE
    return coverage(
        rules,
        status=row["status"],
        check_id=row["check_id"],
        arn=row["resource_arn"],
        account_id=row["account_id"],
        region=row["region"],
        tags=row["resource_tags"],
    )


async def scoped_findings(
    conn: asyncpg.Connection,
    scope: Scope | None,
    now: datetime,
    *,
    status: str | None = None,
    check_ids: Sequence[str] | None = None,
    resource_type: str | None = None,
    account_id: str | None = None,
    region: str | None = None,
    include_closed: bool = False,
    not_passing: bool = False,
) -> tuple[list[ScopedFinding], list[Rule]]:
    """Findings inside ``scope`` with their acceptance coverage; the boundary is applied in SQL.

    ``not_passing`` leaves out PASS findings (a control's failing resources).
    """
    rules = await AcceptanceRepository(conn).approved_rules(now)
    statuses = [status] if status is not None else (["FAIL", "ERROR"] if not_passing else None)
    if not_passing and status is not None and status not in ("FAIL", "ERROR"):
        return [], rules
    rows = await queries.page(
        conn,
        queries.FindingFilter(
            scope=scope,
            statuses=statuses,
            check_ids=check_ids,
            resource_type=resource_type,
            account_id=account_id,
            region=region,
            include_closed=include_closed,
        ),
    )
    return [ScopedFinding(r, cover(rules, r)) for r in rows], rules


async def _check_facts(
    conn: asyncpg.Connection, scope: Scope, rules: Sequence[Rule]
) -> tuple[dict[str, CheckFacts], dict[str, dict[str, int]], list[ScopedFinding]]:
    """Counts per check and status aggregated in SQL; only failures a rule may cover are read row by row.

    Returns the counts, the per-control accepted failures, and the findings an acceptance covers.
    """
    checks: dict[str, CheckFacts] = {}
    for r in await queries.status_counts(conn, scope):
        entry = checks.setdefault(r["check_id"], CheckFacts())
        if r["status"] == Status.PASS.value:
            entry.passed += r["n"]
        elif r["status"] == Status.FAIL.value:
            entry.failed += r["n"]
        else:
            entry.errored += r["n"]
    control_accepted: dict[str, dict[str, int]] = {}
    covered: list[ScopedFinding] = []
    for row in await queries.acceptance_candidates(conn, queries.FindingFilter(scope=scope), rules):
        found = ScopedFinding(row, cover(rules, row))
        if not found.coverage.any:
            continue
        covered.append(found)
        check_id = row["check_id"]
        if found.coverage.everywhere is not None:
            checks[check_id].failed -= 1
            checks[check_id].accepted += 1
        else:
            for control_id in found.coverage.per_control:
                per = control_accepted.setdefault(control_id, {})
                per[check_id] = per.get(check_id, 0) + 1
    return checks, control_accepted, covered


async def current_facts(
    conn: asyncpg.Connection,
    scope: Scope,
    now: datetime,
    library: ActiveLibrary | None = None,
    evidence: EvidenceInForce | None = None,
) -> tuple[Facts, str | None, list[Rule], list[ScopedFinding]]:
    """``evidence`` is what counts at ``now``; looked up (against ``library``) when not given.

    The last item is the findings a risk acceptance covers (everywhere or in some controls).
    """
    library = library or await active_library(conn)
    if evidence is None:
        evidence = await evidence_in_force(conn, library.library, now)
    scans = ScanRepository(conn)
    version, catalogue, _ = await scans.latest_catalogue()
    units = await scans.collected_units()
    rules = await AcceptanceRepository(conn).approved_rules(now)
    checks, control_accepted, covered = await _check_facts(conn, scope, rules)
    facts = Facts(
        checks=checks,
        catalogue=catalogue,
        collected_services={svc for account, region, svc in units if scope.covers_unit(account, region)},
        categories=set(scope.categories),
        evidence_met=evidence.met(library.library),
        not_applicable_controls=scope.marks("control"),
        not_applicable_requirements=scope.marks("requirement"),
        control_accepted=control_accepted,
        carve_outs=scope.carve_outs(),
    )
    return facts, version, rules, covered


def _deviations(findings: list[ScopedFinding]) -> list[dict[str, Any]]:
    """Accepted failures: not failing their control, still deviations an auditor must see."""
    out = []
    for f in findings:
        if not f.coverage.any:
            continue
        out.append(
            {
                "check_id": f.row["check_id"],
                "resource_arn": f.row["resource_arn"],
                "account_id": f.row["account_id"],
                "region": f.row["region"],
                "status": f.row["status"],
                "reason": f.row["reason"],
                "acceptance_id": f.coverage.everywhere.id if f.coverage.everywhere else None,
                "accepted_for_controls": {c: r.id for c, r in sorted(f.coverage.per_control.items())},
            }
        )
    return out


async def compute_for_scope(
    conn: asyncpg.Connection,
    framework_id: str,
    scope: Scope,
    now: datetime,
    library: ActiveLibrary | None = None,
) -> Computed:
    framework = bundled_framework(framework_id)
    library = library or await active_library(conn)
    evidence = await evidence_in_force(conn, library.library, now)
    facts, catalogue_version, rules, findings = await current_facts(conn, scope, now, library, evidence)
    posture = compute(framework, library.library, facts)
    used = sorted({r.id for f in findings if f.coverage.any for r in _rules_of(f.coverage)})
    in_force = [{"id": r.id, "approver": r.approver, "expires_at": r.expires_at.isoformat()} for r in rules]
    versions: dict[str, Any] = {
        "framework": framework.version,
        "control_library": library.version,
        "controls": dict(sorted(library.versions.items())),
        "check_catalogue": catalogue_version,
        "checks": {cid: entry.version for cid, entry in sorted(facts.catalogue.items())},
        "scope": {"id": scope.id, "version": scope.version},
        "acceptances": sorted(in_force, key=lambda a: str(a["id"])),
        "acceptance_set": content_hash(sorted(r.id for r in rules)),
        "acceptances_applied": used,
        # The accepted evidence item versions that counted, per control ("item@vN").
        "evidence": evidence.used(library.library),
    }
    return Computed(posture=posture, versions=versions, deviations=_deviations(findings), scope=scope)


def _rules_of(c: Coverage) -> list[Rule]:
    return ([c.everywhere] if c.everywhere else []) + list(c.per_control.values())


async def compute_framework(
    conn: asyncpg.Connection, framework_id: str, now: datetime, scope_id: str = DEFAULT_SCOPE
) -> Computed:
    return await compute_for_scope(conn, framework_id, await load_scope(conn, scope_id), now)


async def store_for_scan(conn: asyncpg.Connection, scan_id: str, framework_ids: list[str], now: datetime) -> None:
    """Append this scan's result for every subscribed framework and every scope, with its versions."""
    repo = PostureRepository(conn)
    library = await active_library(conn)
    scopes = [scope_of(r) for r in await ScopeRepository(conn).all()]
    for framework_id in framework_ids:
        for scope in scopes:
            computed = await compute_for_scope(conn, framework_id, scope, now, library)
            dumped = {
                "readiness": computed.posture.readiness.model_dump(mode="json"),
                "requirements": [r.model_dump(mode="json") for r in computed.posture.requirements],
                "controls": [c.model_dump(mode="json") for c in computed.posture.controls],
            }
            await repo.store_scoped(
                scan_id=scan_id,
                framework_id=framework_id,
                scope_id=scope.id,
                scope_version=scope.version,
                computed_at=now,
                versions=computed.versions,
                deviations=computed.deviations,
                **dumped,
            )
            if scope.id == DEFAULT_SCOPE:
                await repo.store(
                    scan_id=scan_id,
                    framework_id=framework_id,
                    framework_version=computed.versions["framework"],
                    library_version=computed.versions["control_library"],
                    catalogue_version=computed.versions["check_catalogue"],
                    computed_at=now,
                    versions=computed.versions,
                    **dumped,
                )
