"""Reading frameworks and their stored posture; subscribing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from guardian_common import db
from guardian_common.errors import BadRequest, Conflict, NotFound
from guardian_compliance.findings.repository import FindingRepository
from guardian_compliance.frameworks.model import (
    BUNDLED_FRAMEWORKS,
    ControlStatus,
    Framework,
    bundled_framework,
    bundled_library,
)
from guardian_compliance.frameworks.schemas import (
    CategoryOut,
    CheckDetail,
    ControlDetail,
    ControlList,
    FrameworkOut,
    ReadinessOut,
    RequirementList,
    ResourceFinding,
    ResultContext,
    SubscriptionOut,
)
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.posture.service import store_for_scan
from guardian_compliance.posture.status import ControlResult, Readiness, RequirementResult
from guardian_compliance.scans.repository import ScanRepository


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
class StoredResult:
    context: ResultContext
    readiness: Readiness
    requirements: list[RequirementResult]
    controls: list[ControlResult]


@dataclass
class FrameworkService:
    pool: asyncpg.Pool

    def _out(self, framework: Framework, subscribed_at: datetime | None) -> FrameworkOut:
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

    async def subscribe(self, framework_id: str, by: str) -> SubscriptionOut:
        framework_or_404(framework_id)
        async with db.transaction(self.pool) as conn:
            added = await PostureRepository(conn).subscribe(framework_id, by)
            latest = await ScanRepository(conn).latest_final()
            if added and latest is not None:
                # Posture for the newest final scan, so the dashboard has something at once.
                await store_for_scan(conn, latest["scan_id"], [framework_id])
        return SubscriptionOut(framework_id=framework_id, subscribed=True)

    async def unsubscribe(self, framework_id: str) -> SubscriptionOut:
        framework_or_404(framework_id)
        async with db.transaction(self.pool) as conn:
            await PostureRepository(conn).unsubscribe(framework_id)
        return SubscriptionOut(framework_id=framework_id, subscribed=False)

    async def _stored(self, conn: asyncpg.Connection, framework_id: str) -> StoredResult:
        framework_or_404(framework_id)
        repo = PostureRepository(conn)
        if framework_id not in await repo.subscriptions():
            raise NotSubscribed(
                f"Subscribe to {framework_id} first (PUT /api/v1/frameworks/{framework_id}/subscription).",
            )
        row = await repo.latest(framework_id)
        if row is None:
            raise NoResults(f"No scan has been finalised for {framework_id} yet; run a scan.")
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
        )
        return StoredResult(
            context=context,
            readiness=Readiness.model_validate(row["readiness"]),
            requirements=[RequirementResult.model_validate(r) for r in row["requirements"]],
            controls=[ControlResult.model_validate(c) for c in row["controls"]],
        )

    async def readiness(self, framework_id: str) -> ReadinessOut:
        async with self.pool.acquire() as conn:
            stored = await self._stored(conn, framework_id)
        return ReadinessOut(framework=framework_id, result=stored.context, readiness=stored.readiness)

    async def requirements(
        self, framework_id: str, category: str | None, status: ControlStatus | None
    ) -> RequirementList:
        self._known_category(framework_id, category)
        async with self.pool.acquire() as conn:
            stored = await self._stored(conn, framework_id)
        items = [
            r
            for r in stored.requirements
            if (category is None or r.category == category) and (status is None or r.status is status)
        ]
        return RequirementList(framework=framework_id, result=stored.context, total=len(items), items=items)

    async def controls(
        self, framework_id: str, category: str | None, status: ControlStatus | None, requirement: str | None
    ) -> ControlList:
        framework = self._known_category(framework_id, category)
        if requirement is not None and framework.requirement(requirement) is None:
            raise NotFound(f"{framework_id} has no criterion {requirement!r}.", code="requirement_not_found")
        async with self.pool.acquire() as conn:
            stored = await self._stored(conn, framework_id)
        items = [
            c
            for c in stored.controls
            if (category is None or category in c.categories)
            and (status is None or c.status is status)
            and (requirement is None or requirement in c.requirements)
        ]
        return ControlList(framework=framework_id, result=stored.context, total=len(items), items=items)

    async def control(self, framework_id: str, control_id: str) -> ControlDetail:
        async with self.pool.acquire() as conn:
            stored = await self._stored(conn, framework_id)
            result = next((c for c in stored.controls if c.id == control_id), None)
            if result is None:
                raise NotFound(f"No control {control_id!r} is in scope for {framework_id}.", code="control_not_found")
            _, _, meta = await ScanRepository(conn).latest_catalogue()
            check_ids = [c.check_id for c in result.checks]
            _, rows = (
                await FindingRepository(conn).list(
                    status=None,
                    check_ids=check_ids,
                    resource_type=None,
                    account_id=None,
                    region=None,
                    include_closed=False,
                    limit=5000,
                    offset=0,
                )
                if check_ids
                else (0, [])
            )
        definition = next(c for c in bundled_library().controls if c.id == control_id)
        failing = [
            ResourceFinding(
                check_id=r["check_id"],
                resource_arn=r["resource_arn"],
                resource_type=r["resource_type"],
                resource_name=r["resource_name"],
                account_id=r["account_id"],
                region=r["region"],
                status=r["status"],
                severity=r["severity"],
                reason=r["reason"],
                observed_at=r["observed_at"],
                status_since=r["status_since"],
                evidence=r["evidence"] or {},
            )
            for r in rows
            if r["status"] != "PASS"
        ]
        checks = [
            CheckDetail(
                **c.model_dump(),
                description=str(meta.get(c.check_id, {}).get("description", "")),
                remediation=str(meta.get(c.check_id, {}).get("remediation", "")),
                resource_type=meta.get(c.check_id, {}).get("resource_type"),
            )
            for c in result.checks
        ]
        return ControlDetail(
            framework=framework_id,
            result=stored.context,
            control=result,
            checks=checks,
            failing_resources=failing,
            rationale={m.id: m.rationale for m in definition.requirements},
        )

    async def export(self, framework_id: str) -> dict[str, Any]:
        framework = framework_or_404(framework_id)
        async with self.pool.acquire() as conn:
            stored = await self._stored(conn, framework_id)
            _, rows = await FindingRepository(conn).list(
                status=None,
                check_ids=None,
                resource_type=None,
                account_id=None,
                region=None,
                include_closed=False,
                limit=1_000_000,
                offset=0,
            )
            _, catalogue, _ = await ScanRepository(conn).latest_catalogue()
        ctx = stored.context
        return {
            "framework": framework_id,
            "framework_version": framework.version,
            "generated_at": datetime.now(UTC),
            "scan_id": ctx.scan_id,
            "scope": {
                "account_ids": [ctx.account_id] if ctx.account_id else [],
                "regions": ctx.regions,
                "categories": sorted({c.id for c in framework.categories}),
                "scan_state": ctx.scan_state,
                "partial": ctx.partial,
                "finalised_at": ctx.finalised_at,
            },
            "readiness": stored.readiness,
            "requirements": [
                {
                    "id": r.id,
                    "category": r.category,
                    "status": r.status.value,
                    "controls": r.controls,
                    "title": r.title,
                    "reason": r.reason,
                }
                for r in stored.requirements
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
                for c in stored.controls
            ],
            "findings": [
                {
                    "check_id": r["check_id"],
                    "resource_arn": r["resource_arn"],
                    "resource_type": r["resource_type"],
                    "account_id": r["account_id"],
                    "region": r["region"],
                    "status": r["status"],
                    "severity": r["severity"],
                    "reason": r["reason"],
                    "resource_name": r["resource_name"],
                    "observed_at": r["observed_at"],
                }
                for r in rows
            ],
            "versions": {
                "framework": ctx.framework_version,
                "control_library": ctx.library_version,
                "check_catalogue": ctx.catalogue_version,
                "checks": {cid: entry.version for cid, entry in sorted(catalogue.items())},
            },
        }

    def _known_category(self, framework_id: str, category: str | None) -> Framework:
        framework = framework_or_404(framework_id)
        if category is not None and category not in {c.id for c in framework.categories}:
            raise BadRequest(
                f"{framework_id} has no category {category!r}; known: {', '.join(c.id for c in framework.categories)}.",
                code="unknown_category",
            )
        return framework
