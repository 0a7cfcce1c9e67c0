"""Frameworks: subscriptions, and their posture per scope, live or as stored at each final scan."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import asyncpg

from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.errors import BadRequest, Conflict, NotFound
from guardian_compliance.clock import Clock
from guardian_compliance.controls.repository import ControlRepository
from guardian_compliance.frameworks.model import (
    BUNDLED_FRAMEWORKS,
    ControlStatus,
    Framework,
    bundled_framework,
)
from guardian_compliance.frameworks.schemas import (
    AccountReadiness,
    CategoryOut,
    CheckDetail,
    ControlDetail,
    ControlList,
    EnvironmentReadiness,
    FrameworkOut,
    PostureOut,
    ReadinessBreakdown,
    ReadinessOut,
    RequirementList,
    ResourceFinding,
    ResultContext,
    ResultHistory,
    StoredResultOut,
    StoredResultSummary,
    SubscriptionOut,
)
from guardian_compliance.outbox import OUTBOX
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.posture.service import (
    Computed,
    ScopedFinding,
    compute_for_scope,
    scoped_findings,
    store_for_scan,
)
from guardian_compliance.posture.status import ControlResult, Readiness, RequirementResult
from guardian_compliance.scans.repository import ScanRepository
from guardian_compliance.scope.model import DEFAULT_SCOPE
from guardian_compliance.scope.service import load_scope, snapshot


class NotSubscribed(Conflict):
    code = "framework_not_subscribed"


class NoResults(Conflict):
    code = "no_results_yet"


def framework_or_404(framework_id: str) -> Framework:
    if framework_id not in BUNDLED_FRAMEWORKS:
        raise NotFound(
            f"No framework has the id {framework_id!r}; known: {', '.join(BUNDLED_FRAMEWORKS)}.",
            code="framework_not_found",
        )
    return bundled_framework(framework_id)


@dataclass
class LiveResult:
    context: ResultContext
    readiness: Readiness
    requirements: list[RequirementResult]
    controls: list[ControlResult]
    computed: Computed


def finding_view(f: ScopedFinding, control_id: str | None = None) -> dict[str, Any]:
    """A finding as shown to users: an accepted failure shows ACCEPTED and names its acceptance."""
    rule = f.coverage.everywhere
    if rule is None and control_id is not None:
        rule = f.coverage.per_control.get(control_id)
    r = f.row
    return {
        "check_id": r["check_id"],
        "resource_arn": r["resource_arn"],
        "resource_type": r["resource_type"],
        "resource_name": r["resource_name"],
        "account_id": r["account_id"],
        "region": r["region"],
        "status": "ACCEPTED" if rule is not None else r["status"],
        "severity": r["severity"],
        "reason": r["reason"],
        "observed_at": r["observed_at"],
        "status_since": r["status_since"],
        "evidence": r["evidence"] or {},
        "evaluated_status": r["status"],
        "acceptance_id": rule.id if rule else None,
        "accepted_by": rule.approver if rule else None,
    }


@dataclass
class FrameworkService:
    pool: asyncpg.Pool
    clock: Clock

    def _out(self, framework: Framework, subscribed_at: Any) -> FrameworkOut:
        return FrameworkOut(
            id=framework.id,
            name=framework.name,
            title=framework.title,
            version=framework.version,
            subscribed=subscribed_at is not None,
            subscribed_at=subscribed_at,
            categories=[CategoryOut(**c.model_dump()) for c in framework.categories],
            requirement_count=len(framework.requirements),
        )

    async def list(self) -> list[FrameworkOut]:
        async with self.pool.acquire() as conn:
            subs = await PostureRepository(conn).subscriptions()
        return [self._out(bundled_framework(f), subs.get(f)) for f in BUNDLED_FRAMEWORKS]

    async def get(self, framework_id: str) -> FrameworkOut:
        framework = framework_or_404(framework_id)
        async with self.pool.acquire() as conn:
            subs = await PostureRepository(conn).subscriptions()
        return self._out(framework, subs.get(framework_id))

    async def subscribe(self, framework_id: str, by: str, actor: Principal | None = None) -> SubscriptionOut:
        framework_or_404(framework_id)
        async with db.transaction(self.pool) as conn:
            added = await PostureRepository(conn).subscribe(framework_id, by)
            if added:
                await self._audit(conn, actor, framework_id, subscribed=True)
            latest = await ScanRepository(conn).latest_final()
            if added and latest is not None:
                # Posture for the newest final scan, so history has something at once.
                await store_for_scan(conn, latest["scan_id"], [framework_id], self.clock.now())
        return SubscriptionOut(framework_id=framework_id, subscribed=True)

    async def unsubscribe(self, framework_id: str, actor: Principal | None = None) -> SubscriptionOut:
        framework_or_404(framework_id)
        async with db.transaction(self.pool) as conn:
            if await PostureRepository(conn).unsubscribe(framework_id):
                await self._audit(conn, actor, framework_id, subscribed=False)
        return SubscriptionOut(framework_id=framework_id, subscribed=False)

    async def _audit(
        self, conn: asyncpg.Connection, actor: Principal | None, framework_id: str, subscribed: bool
    ) -> None:
        state = [
            {"framework_id": framework_id, "subscribed": False},
            {"framework_id": framework_id, "subscribed": True},
        ]
        await audit.record(
            conn,
            OUTBOX,
            actor=actor,
            action="framework.subscribed" if subscribed else "framework.unsubscribed",
            target_type="framework_subscription",
            target_id=framework_id,
            before=state[not subscribed],
            after=state[subscribed],
            at=self.clock.now(),
        )

    async def _require_subscribed(self, conn: asyncpg.Connection, framework_id: str) -> None:
        framework_or_404(framework_id)
        if framework_id not in await PostureRepository(conn).subscriptions():
            raise NotSubscribed(
                f"Subscribe to {framework_id} first (PUT /api/v1/frameworks/{framework_id}/subscription).",
            )

    async def _live(self, conn: asyncpg.Connection, framework_id: str, scope_id: str) -> LiveResult:
        """The posture now, from current findings, for one scope. Needs at least one final scan:
        a scope never monitored is "no results", never passing."""
        await self._require_subscribed(conn, framework_id)
        scope = await load_scope(conn, scope_id)
        accounts = scope.account_filter()
        # An environment that selects no account has nothing monitored: no results, never passing.
        scan = await ScanRepository(conn).latest_final_in(accounts) if accounts != [] else None
        if scan is None:
            raise NoResults(f"No scan has been finalised for {framework_id} in scope {scope_id!r} yet; run a scan.")
        now = self.clock.now()
        computed = await compute_for_scope(conn, framework_id, scope, now)
        v = computed.versions
        context = ResultContext(
            scan_id=scan["scan_id"],
            scan_state=scan["state"],
            partial=scan["partial"],
            finalised_at=scan["finalised_at"],
            framework_version=v["framework"],
            library_version=v["control_library"],
            catalogue_version=v["check_catalogue"],
            account_id=scan["account_id"],
            regions=list(scan["regions"] or []),
            scope_id=scope.id,
            scope_version=scope.version,
            computed_at=now,
            live=True,
            versions=v,
        )
        p = computed.posture
        return LiveResult(context, p.readiness, p.requirements, p.controls, computed)

    async def readiness(self, framework_id: str, scope_id: str = DEFAULT_SCOPE) -> ReadinessOut:
        async with self.pool.acquire() as conn:
            live = await self._live(conn, framework_id, scope_id)
        return ReadinessOut(framework=framework_id, result=live.context, readiness=live.readiness)

    async def posture(self, framework_id: str, scope_id: str = DEFAULT_SCOPE) -> PostureOut:
        """What readiness, requirements and controls answer, computed once for a page that shows all three."""
        async with self.pool.acquire() as conn:
            live = await self._live(conn, framework_id, scope_id)
        return PostureOut(
            framework=framework_id,
            result=live.context,
            readiness=live.readiness,
            requirements=live.requirements,
            controls=live.controls,
        )

    async def readiness_breakdown(self, framework_id: str, scope_id: str = DEFAULT_SCOPE) -> ReadinessBreakdown:
        """Readiness of the scope, and of each environment and account inside it (accounts as scans announced them)."""
        async with self.pool.acquire() as conn:
            live = await self._live(conn, framework_id, scope_id)
            scope = live.computed.scope if live.computed.scope is not None else await load_scope(conn, scope_id)
            allowed = scope.account_filter()
            known = await conn.fetch("SELECT account_id, name, environment FROM accounts ORDER BY account_id")
            inside = [r for r in known if allowed is None or r["account_id"] in allowed]
            now = self.clock.now()

            async def part(account_ids: set[str]) -> Readiness:
                narrowed = dataclasses.replace(scope, environment_accounts=frozenset(account_ids))
                computed = await compute_for_scope(conn, framework_id, narrowed, now)
                return computed.posture.readiness

            accounts = [
                AccountReadiness(
                    account_id=r["account_id"],
                    name=r["name"],
                    environment=r["environment"],
                    readiness=await part({r["account_id"]}),
                )
                for r in inside
            ]
            by_environment: dict[str | None, set[str]] = {}
            for r in inside:
                by_environment.setdefault(r["environment"], set()).add(r["account_id"])
            environments = [
                EnvironmentReadiness(environment=env, account_ids=sorted(ids), readiness=await part(ids))
                for env, ids in sorted(by_environment.items(), key=lambda item: (item[0] is None, item[0] or ""))
            ]
        return ReadinessBreakdown(
            framework=framework_id,
            result=live.context,
            organisation=live.readiness,
            environments=environments,
            accounts=accounts,
        )

    async def requirements(
        self, framework_id: str, category: str | None, status: ControlStatus | None, scope_id: str = DEFAULT_SCOPE
    ) -> RequirementList:
        self._known_category(framework_id, category)
        async with self.pool.acquire() as conn:
            live = await self._live(conn, framework_id, scope_id)
        items = [
            r
            for r in live.requirements
            if (category is None or r.category == category) and (status is None or r.status is status)
        ]
        return RequirementList(framework=framework_id, result=live.context, total=len(items), items=items)

    async def controls(
        self,
        framework_id: str,
        category: str | None,
        status: ControlStatus | None,
        requirement: str | None,
        scope_id: str = DEFAULT_SCOPE,
    ) -> ControlList:
        framework = self._known_category(framework_id, category)
        if requirement is not None and framework.requirement(requirement) is None:
            raise NotFound(f"{framework_id} has no criterion {requirement!r}.", code="requirement_not_found")
        async with self.pool.acquire() as conn:
            live = await self._live(conn, framework_id, scope_id)
        items = [
            c
            for c in live.controls
            if (category is None or category in c.categories)
            and (status is None or c.status is status)
            and (requirement is None or requirement in c.requirements)
        ]
        return ControlList(framework=framework_id, result=live.context, total=len(items), items=items)

    async def control(self, framework_id: str, control_id: str, scope_id: str = DEFAULT_SCOPE) -> ControlDetail:
        async with self.pool.acquire() as conn:
            live = await self._live(conn, framework_id, scope_id)
            result = next((c for c in live.controls if c.id == control_id), None)
            if result is None:
                raise NotFound(f"No control {control_id!r} is in scope for {framework_id}.", code="control_not_found")
            _, _, meta = await ScanRepository(conn).latest_catalogue()
            check_ids = [c.check_id for c in result.checks]
            found, _ = (
                await scoped_findings(
                    conn, live.computed.scope, self.clock.now(), check_ids=check_ids, not_passing=True
                )
                if check_ids
                else ([], [])
            )
            row = await ControlRepository(conn).get(control_id)
        failing = [ResourceFinding(**finding_view(f, control_id)) for f in found if f.row["status"] != "PASS"]
        checks = [
            CheckDetail(
                **c.model_dump(),
                description=str(meta.get(c.check_id, {}).get("description", "")),
                remediation=str(meta.get(c.check_id, {}).get("remediation", "")),
                resource_type=meta.get(c.check_id, {}).get("resource_type"),
            )
            for c in result.checks
        ]
        mappings = row["mappings"] if row is not None else []
        return ControlDetail(
            framework=framework_id,
            result=live.context,
            control=result,
            checks=checks,
            failing_resources=failing,
            rationale={m["id"]: m["rationale"] for m in mappings},
        )

    async def export(self, framework_id: str, scope_id: str = DEFAULT_SCOPE) -> dict[str, Any]:
        framework = framework_or_404(framework_id)
        async with self.pool.acquire() as conn:
            live = await self._live(conn, framework_id, scope_id)
            found, _ = await scoped_findings(conn, live.computed.scope, self.clock.now())
            scope = await snapshot(conn, scope_id)
        ctx = live.context
        computed_scope = live.computed.scope
        accounts = computed_scope.account_filter() if computed_scope is not None else list(scope.boundary.account_ids)
        return {
            "framework": framework_id,
            "framework_version": framework.version,
            "generated_at": ctx.computed_at,
            "scan_id": ctx.scan_id,
            "scope": {
                "account_ids": accounts or ([ctx.account_id] if ctx.account_id else []),
                "environments": list(scope.boundary.environments),
                "regions": scope.boundary.regions or ctx.regions,
                "categories": sorted(scope.categories),
                "scan_state": ctx.scan_state,
                "partial": ctx.partial,
                "finalised_at": ctx.finalised_at,
                "id": scope.id,
                "name": scope.name,
                "version": scope.version,
                "boundary": scope.boundary.model_dump(mode="json"),
                "periods": [p.model_dump(mode="json") for p in scope.periods],
                "subservice_organisations": [o.model_dump(mode="json") for o in scope.subservice_organisations],
                "user_entity_controls": [c.model_dump(mode="json") for c in scope.user_entity_controls],
                "not_applicable": [m.model_dump(mode="json") for m in scope.not_applicable],
            },
            "readiness": live.readiness,
            "requirements": [
                {
                    "id": r.id,
                    "category": r.category,
                    "status": r.status.value,
                    "controls": r.controls,
                    "title": r.title,
                    "reason": r.reason,
                }
                for r in live.requirements
            ],
            "controls": [
                {
                    "id": c.id,
                    "title": c.title,
                    "status": c.status.value,
                    "requirements": c.requirements,
                    "checks": [k.check_id for k in c.checks],
                    "owner": c.owner,
                    "kind": c.kind,
                    "reason": c.reason,
                }
                for c in live.controls
            ],
            "findings": [
                {k: v for k, v in finding_view(f).items() if k not in ("status_since", "evidence")} for f in found
            ],
            "versions": ctx.versions,
            "deviations": live.computed.deviations,
        }

    async def history(self, framework_id: str, scope_id: str, limit: int) -> ResultHistory:
        async with self.pool.acquire() as conn:
            await self._require_subscribed(conn, framework_id)
            await load_scope(conn, scope_id)
            rows = await PostureRepository(conn).scoped_history(framework_id, scope_id, limit)
        items = [
            StoredResultSummary(
                scan_id=r["scan_id"],
                scope_id=scope_id,
                scope_version=r["scope_version"],
                computed_at=r["computed_at"],
                account_id=r["account_id"],
                scan_state=r["scan_state"],
                partial=r["partial"],
                score=r["readiness"].get("score"),
                readiness=Readiness.model_validate(r["readiness"]),
                versions=r["versions"],
            )
            for r in rows
        ]
        return ResultHistory(framework=framework_id, scope=scope_id, items=items)

    async def stored(self, framework_id: str, scope_id: str, scan_id: str) -> StoredResultOut:
        async with self.pool.acquire() as conn:
            await self._require_subscribed(conn, framework_id)
            row = await PostureRepository(conn).scoped_result(framework_id, scope_id, scan_id)
        if row is None:
            raise NotFound(
                f"No stored {framework_id} result for scan {scan_id!r} in scope {scope_id!r}.", code="result_not_found"
            )
        v = row["versions"]
        context = ResultContext(
            scan_id=row["scan_id"],
            scan_state=row["scan_state"],
            partial=row["partial"],
            finalised_at=row["finalised_at"],
            framework_version=row["framework_version"],
            library_version=row["library_version"],
            catalogue_version=row["catalogue_version"],
            account_id=row["account_id"],
            regions=list(row["regions"] or []),
            scope_id=scope_id,
            scope_version=row["scope_version"],
            computed_at=row["computed_at"],
            live=False,
            versions=v,
        )
        return StoredResultOut(
            framework=framework_id,
            result=context,
            readiness=Readiness.model_validate(row["readiness"]),
            requirements=[RequirementResult.model_validate(r) for r in row["requirements"]],
            controls=[ControlResult.model_validate(c) for c in row["controls"]],
            deviations=row["deviations"],
        )

    def _known_category(self, framework_id: str, category: str | None) -> Framework:
        framework = framework_or_404(framework_id)
        if category is not None and category not in {c.id for c in framework.categories}:
            raise BadRequest(
                f"{framework_id} has no category {category!r}; known: {', '.join(c.id for c in framework.categories)}.",
                code="unknown_category",
            )
        return framework
