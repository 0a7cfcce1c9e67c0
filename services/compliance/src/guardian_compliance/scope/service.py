"""Scopes: categories, boundary, periods, carve-outs, complementary controls, not-applicable marks.

Every change is a new scope version (``scope_versions`` keeps who, when, before and after); a
locked audit period never changes again; the Security category can never leave a scope.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.errors import BadRequest, Conflict, NotFound
from guardian_compliance.clock import Clock
from guardian_compliance.controls.repository import ControlRepository
from guardian_compliance.frameworks.model import BUNDLED_FRAMEWORKS, bundled_framework
from guardian_compliance.outbox import OUTBOX, emit
from guardian_compliance.scope.model import DEFAULT_SCOPE, Scope, aws_carve_out
from guardian_compliance.scope.repository import ScopeRepository
from guardian_compliance.scope.schemas import (
    ACCOUNT,
    ENVIRONMENT,
    REGION,
    Boundary,
    NotApplicableMark,
    PeriodCreate,
    PeriodOut,
    PeriodUpdate,
    ScopeCreate,
    ScopeOut,
    ScopeUpdate,
    ScopeVersionOut,
    SubserviceOrganisation,
    UserEntityControl,
)

REQUIRED_CATEGORY = "security"


class ScopeNotFound(NotFound):
    code = "scope_not_found"


class PeriodNotFound(NotFound):
    code = "period_not_found"


class PeriodLocked(Conflict):
    code = "period_locked"


def known_categories() -> list[str]:
    seen: list[str] = []
    for fid in BUNDLED_FRAMEWORKS:
        seen.extend(c.id for c in bundled_framework(fid).categories if c.id not in seen)
    return seen


def known_requirements() -> set[str]:
    return {r.id for fid in BUNDLED_FRAMEWORKS for r in bundled_framework(fid).requirements}


def _validate_categories(categories: list[str]) -> list[str]:
    known = known_categories()
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise BadRequest(
            f"Unknown categories {unknown}; known: {', '.join(known)}.",
            code="unknown_category",
        )
    if REQUIRED_CATEGORY not in categories:
        raise BadRequest(
            "Security (the common criteria) is part of every SOC 2 report and cannot be removed from a scope.",
            code="security_required",
        )
    return [c for c in known if c in categories]


def _validate_boundary(boundary: Boundary) -> None:
    bad_accounts = [a for a in boundary.account_ids if not re.match(ACCOUNT, a)]
    if bad_accounts:
        raise BadRequest(f"Account ids are 12 digits: {bad_accounts}.", code="invalid_account_id")
    bad_regions = [r for r in boundary.regions if not re.match(REGION, r)]
    if bad_regions:
        raise BadRequest(f"Not AWS region names: {bad_regions}.", code="invalid_region")
    if any(not k.strip() for k in boundary.tags):
        raise BadRequest("A tag filter needs a non-empty key.", code="invalid_tag_filter")
    bad_environments = [e for e in boundary.environments if not re.match(ENVIRONMENT, e)]
    if bad_environments:
        raise BadRequest(
            f"Environment names are lower case letters, digits, '-' and '_': {bad_environments}.",
            code="invalid_environment",
        )


def _validate_criteria(ids: list[str], where: str) -> None:
    unknown = sorted(set(ids) - known_requirements())
    if unknown:
        raise BadRequest(f"{where} names unknown criteria {unknown}.", code="unknown_criterion")


def _validate_orgs(orgs: list[SubserviceOrganisation]) -> None:
    for org in orgs:
        _validate_criteria([c.id for c in org.criteria], f"Subservice organisation {org.name!r}")


def _validate_cuecs(cuecs: list[UserEntityControl]) -> None:
    for cuec in cuecs:
        _validate_criteria(cuec.criteria, "A complementary user-entity control")


def _values(
    name: str,
    categories: list[str],
    boundary: Boundary,
    orgs: list[SubserviceOrganisation],
    cuecs: list[UserEntityControl],
    marks: list[NotApplicableMark],
) -> dict[str, Any]:
    return {
        "name": name,
        "categories": categories,
        "account_ids": boundary.account_ids,
        "regions": boundary.regions,
        "tag_filters": boundary.tags,
        "environments": boundary.environments,
        "subservice_organisations": [o.model_dump(mode="json") for o in orgs],
        "user_entity_controls": [c.model_dump(mode="json") for c in cuecs],
        "not_applicable": [m.model_dump(mode="json") for m in marks],
    }


def _period_out(row: asyncpg.Record) -> PeriodOut:
    return PeriodOut(
        id=row["period_id"],
        scope_id=row["scope_id"],
        name=row["name"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        type=row["report_type"],
        locked=row["locked_at"] is not None,
        locked_at=row["locked_at"],
        locked_by=row["locked_by"],
        created_at=row["created_at"],
    )


def scope_of(row: asyncpg.Record) -> Scope:
    return Scope(
        id=row["scope_id"],
        name=row["name"],
        version=row["version"],
        categories=frozenset(row["categories"]),
        boundary=Boundary(
            account_ids=list(row["account_ids"]),
            regions=list(row["regions"]),
            tags=row["tag_filters"],
            environments=list(row["environments"]),
        ),
        environment_accounts=(
            frozenset(row["environment_accounts"]) if row["environment_accounts"] is not None else None
        ),
        subservice_organisations=tuple(
            SubserviceOrganisation.model_validate(o) for o in row["subservice_organisations"]
        ),
        user_entity_controls=tuple(UserEntityControl.model_validate(c) for c in row["user_entity_controls"]),
        not_applicable=tuple(NotApplicableMark.model_validate(m) for m in row["not_applicable"]),
    )


async def load_scope(conn: asyncpg.Connection, scope_id: str) -> Scope:
    row = await ScopeRepository(conn).get(scope_id)
    if row is None:
        raise ScopeNotFound(f"No scope has the id {scope_id!r}.")
    return scope_of(row)


async def snapshot(conn: asyncpg.Connection, scope_id: str) -> ScopeOut:
    repo = ScopeRepository(conn)
    row = await repo.get(scope_id)
    if row is None:
        raise ScopeNotFound(f"No scope has the id {scope_id!r}.")
    scope = scope_of(row)
    return ScopeOut(
        id=scope.id,
        name=scope.name,
        categories=list(row["categories"]),
        boundary=scope.boundary,
        subservice_organisations=list(scope.subservice_organisations),
        user_entity_controls=list(scope.user_entity_controls),
        not_applicable=list(scope.not_applicable),
        version=scope.version,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        periods=[_period_out(p) for p in await repo.periods(scope_id)],
    )


def _doc(out: ScopeOut) -> dict[str, Any]:
    """What a scope version records: the whole scope, periods included, minus bookkeeping."""
    return out.model_dump(mode="json", exclude={"version", "created_at", "updated_at"})


async def ensure_default_scope(conn: asyncpg.Connection, now: datetime) -> None:
    repo = ScopeRepository(conn)
    values = _values("Default scope", known_categories(), Boundary(), [aws_carve_out()], [], [])
    if await repo.insert(DEFAULT_SCOPE, values, now):
        created = await snapshot(conn, DEFAULT_SCOPE)
        await repo.record_version(DEFAULT_SCOPE, 1, "create", "guardian-default", now, None, _doc(created))
        await _audit(conn, None, "create", DEFAULT_SCOPE, None, created, now)


@dataclass
class ScopeService:
    pool: asyncpg.Pool
    clock: Clock

    async def all(self) -> list[ScopeOut]:
        async with self.pool.acquire() as conn:
            rows = await ScopeRepository(conn).all()
            return [await snapshot(conn, r["scope_id"]) for r in rows]

    async def get(self, scope_id: str) -> ScopeOut:
        async with self.pool.acquire() as conn:
            return await snapshot(conn, scope_id)

    async def versions(self, scope_id: str) -> list[ScopeVersionOut]:
        async with self.pool.acquire() as conn:
            await load_scope(conn, scope_id)
            rows = await ScopeRepository(conn).versions(scope_id)
        return [
            ScopeVersionOut(
                version=r["version"],
                change=r["change"],
                changed_by=r["changed_by"],
                changed_at=r["changed_at"],
                before=r["before"],
                after=r["after"],
            )
            for r in rows
        ]

    async def create(self, body: ScopeCreate, by: str, actor: Principal | None = None) -> ScopeOut:
        categories = _validate_categories(body.categories)
        _validate_boundary(body.boundary)
        orgs = body.subservice_organisations if body.subservice_organisations is not None else [aws_carve_out()]
        _validate_orgs(orgs)
        _validate_cuecs(body.user_entity_controls)
        now = self.clock.now()
        async with db.transaction(self.pool) as conn:
            repo = ScopeRepository(conn)
            values = _values(body.name, categories, body.boundary, orgs, body.user_entity_controls, [])
            if not await repo.insert(body.id, values, now):
                raise Conflict(f"A scope with the id {body.id!r} exists.", code="scope_exists")
            out = await snapshot(conn, body.id)
            await repo.record_version(body.id, 1, "create", by, now, None, _doc(out))
            await _audit(conn, actor, "create", body.id, None, out, now)
        return out

    async def update(self, scope_id: str, body: ScopeUpdate, by: str, actor: Principal | None = None) -> ScopeOut:
        async with db.transaction(self.pool) as conn:
            before = await self._locked(conn, scope_id)
            categories = _validate_categories(body.categories) if body.categories is not None else before.categories
            boundary = body.boundary if body.boundary is not None else before.boundary
            _validate_boundary(boundary)
            orgs = body.subservice_organisations
            if orgs is None:
                orgs = before.subservice_organisations
            _validate_orgs(orgs)
            cuecs = body.user_entity_controls
            if cuecs is None:
                cuecs = before.user_entity_controls
            _validate_cuecs(cuecs)
            values = _values(body.name or before.name, categories, boundary, orgs, cuecs, before.not_applicable)
            return await self._write(conn, scope_id, before, values, "update", by, actor)

    async def mark_not_applicable(
        self, scope_id: str, kind: str, target: str, justification: str, by: str, actor: Principal | None = None
    ) -> ScopeOut:
        text = justification.strip()
        if not text:
            raise BadRequest(
                "Marking something not applicable needs a written justification.", code="justification_required"
            )
        async with db.transaction(self.pool) as conn:
            before = await self._locked(conn, scope_id)
            if kind == "requirement" and target not in known_requirements():
                raise BadRequest(f"No framework has the criterion {target!r}.", code="unknown_criterion")
            if kind == "control" and await ControlRepository(conn).get(target) is None:
                raise NotFound(f"No control has the id {target!r}.", code="control_not_found")
            now = self.clock.now()
            marks = [m for m in before.not_applicable if not (m.kind == kind and m.id == target)]
            marks.append(NotApplicableMark(kind=kind, id=target, justification=text, marked_by=by, marked_at=now))
            values = _values(
                before.name,
                before.categories,
                before.boundary,
                before.subservice_organisations,
                before.user_entity_controls,
                marks,
            )
            return await self._write(conn, scope_id, before, values, f"not_applicable.{kind}", by, actor)

    async def clear_not_applicable(
        self, scope_id: str, kind: str, target: str, by: str, actor: Principal | None = None
    ) -> ScopeOut:
        async with db.transaction(self.pool) as conn:
            before = await self._locked(conn, scope_id)
            marks = [m for m in before.not_applicable if not (m.kind == kind and m.id == target)]
            if len(marks) == len(before.not_applicable):
                raise NotFound(f"{target!r} is not marked not applicable in {scope_id!r}.", code="mark_not_found")
            values = _values(
                before.name,
                before.categories,
                before.boundary,
                before.subservice_organisations,
                before.user_entity_controls,
                marks,
            )
            return await self._write(conn, scope_id, before, values, f"applicable.{kind}", by, actor)

    # Periods -----------------------------------------------------------------------------------

    async def create_period(
        self, scope_id: str, body: PeriodCreate, by: str, actor: Principal | None = None
    ) -> PeriodOut:
        _check_dates(body.start_date, body.end_date)
        async with db.transaction(self.pool) as conn:
            before = await self._locked(conn, scope_id)
            period_id = f"per-{secrets.token_hex(6)}"
            await ScopeRepository(conn).insert_period(
                period_id, scope_id, body.name, body.start_date, body.end_date, body.type, self.clock.now()
            )
            await self._record(conn, scope_id, before, "period.create", by, actor, period_id)
            row = await ScopeRepository(conn).period(scope_id, period_id)
        assert row is not None
        return _period_out(row)

    async def update_period(
        self, scope_id: str, period_id: str, body: PeriodUpdate, by: str, actor: Principal | None = None
    ) -> PeriodOut:
        async with db.transaction(self.pool) as conn:
            before = await self._locked(conn, scope_id)
            repo = ScopeRepository(conn)
            row = await self._open_period(repo, scope_id, period_id)
            start = body.start_date or row["start_date"]
            end = body.end_date or row["end_date"]
            _check_dates(start, end)
            await repo.update_period(period_id, body.name or row["name"], start, end, body.type or row["report_type"])
            await self._record(conn, scope_id, before, "period.update", by, actor, period_id)
            updated = await repo.period(scope_id, period_id)
        assert updated is not None
        return _period_out(updated)

    async def delete_period(self, scope_id: str, period_id: str, by: str, actor: Principal | None = None) -> None:
        async with db.transaction(self.pool) as conn:
            before = await self._locked(conn, scope_id)
            repo = ScopeRepository(conn)
            await self._open_period(repo, scope_id, period_id)
            await repo.delete_period(period_id)
            await self._record(conn, scope_id, before, "period.delete", by, actor, period_id)

    async def lock_period(self, scope_id: str, period_id: str, by: str, actor: Principal | None = None) -> PeriodOut:
        async with db.transaction(self.pool) as conn:
            before = await self._locked(conn, scope_id)
            repo = ScopeRepository(conn)
            await self._open_period(repo, scope_id, period_id)
            await repo.lock_period(period_id, by, self.clock.now())
            await self._record(conn, scope_id, before, "period.lock", by, actor, period_id)
            row = await repo.period(scope_id, period_id)
        assert row is not None
        return _period_out(row)

    # Helpers -----------------------------------------------------------------------------------

    async def _locked(self, conn: asyncpg.Connection, scope_id: str) -> ScopeOut:
        """The scope's current state, with its row locked so concurrent edits serialise."""
        if await ScopeRepository(conn).get(scope_id, for_update=True) is None:
            raise ScopeNotFound(f"No scope has the id {scope_id!r}.")
        return await snapshot(conn, scope_id)

    async def _open_period(self, repo: ScopeRepository, scope_id: str, period_id: str) -> asyncpg.Record:
        row = await repo.period(scope_id, period_id, for_update=True)
        if row is None:
            raise PeriodNotFound(f"Scope {scope_id!r} has no audit period {period_id!r}.")
        if row["locked_at"] is not None:
            raise PeriodLocked(
                f"Audit period {row['name']!r} was locked on {row['locked_at']:%Y-%m-%d}; create a new period instead."
            )
        return row

    async def _write(
        self,
        conn: asyncpg.Connection,
        scope_id: str,
        before: ScopeOut,
        values: dict[str, Any],
        change: str,
        by: str,
        actor: Principal | None = None,
    ) -> ScopeOut:
        repo = ScopeRepository(conn)
        now = self.clock.now()
        version = await repo.update(scope_id, values, now)
        after = await snapshot(conn, scope_id)
        await repo.record_version(scope_id, version, change, by, now, _doc(before), _doc(after))
        await _announce(conn, scope_id, version, change, by, now)
        await _audit(conn, actor, change, scope_id, before, after, now)
        return after

    async def _record(
        self,
        conn: asyncpg.Connection,
        scope_id: str,
        before: ScopeOut,
        change: str,
        by: str,
        actor: Principal | None = None,
        period_id: str | None = None,
    ) -> None:
        repo = ScopeRepository(conn)
        now = self.clock.now()
        version = await repo.bump(scope_id, now)
        after = await snapshot(conn, scope_id)
        await repo.record_version(scope_id, version, change, by, now, _doc(before), _doc(after))
        await _announce(conn, scope_id, version, change, by, now)
        await _audit(conn, actor, change, scope_id, before, after, now, period_id)


# Scope version changes -> audit actions; periods are audited as their own targets.
_AUDIT_ACTIONS = {
    "create": "scope.created",
    "update": "scope.updated",
    "not_applicable.control": "scope.control_not_applicable",
    "not_applicable.requirement": "scope.requirement_not_applicable",
    "applicable.control": "scope.control_applicable",
    "applicable.requirement": "scope.requirement_applicable",
    "period.create": "period.created",
    "period.update": "period.updated",
    "period.delete": "period.deleted",
    "period.lock": "period.locked",
}


async def _audit(
    conn: asyncpg.Connection,
    actor: Principal | None,
    change: str,
    scope_id: str,
    before: ScopeOut | None,
    after: ScopeOut,
    at: datetime,
    period_id: str | None = None,
) -> None:
    """The audit entry of one scope version, in its transaction: the scope, or the one period changed."""
    if period_id is None:
        target_type, target_id = "scope", scope_id
        old = None if before is None else _doc(before)
        new: dict[str, Any] | None = _doc(after)
    else:
        target_type, target_id = "period", period_id
        old = _period_doc(before, period_id)
        new = _period_doc(after, period_id)
    await audit.record(
        conn,
        OUTBOX,
        actor=actor,
        action=_AUDIT_ACTIONS.get(change, f"scope.{change}"),
        target_type=target_type,
        target_id=target_id,
        before=old,
        after=new,
        at=at,
    )


def _period_doc(scope: ScopeOut | None, period_id: str) -> dict[str, Any] | None:
    if scope is None:
        return None
    found = [p for p in scope.periods if p.id == period_id]
    return found[0].model_dump(mode="json") if found else None


async def _announce(conn: asyncpg.Connection, scope_id: str, version: int, change: str, by: str, at: datetime) -> None:
    """Every scope version is a domain event (a locked period tells reporting its report is frozen)."""
    event_type = "period.locked" if change == "period.lock" else "scope.changed"
    data = {"scope_id": scope_id, "version": version, "change": change, "by": by}
    await emit(conn, event_type, f"scope:{scope_id}:{version}", data, at)


def _check_dates(start: Any, end: Any) -> None:
    if end < start:
        raise BadRequest(f"An audit period ends on or after it starts ({start} to {end}).", code="invalid_period_dates")
