"""Read queries on current findings that filter, count, aggregate and page in PostgreSQL.

A scope's boundary (accounts, regions, tags) is turned into SQL here, so a scope's posture or a page
of findings never loads every finding into Python. What SQL cannot decide exactly (a risk
acceptance's ARN pattern) is left to :mod:`guardian_compliance.acceptances.matching`, over the few
rows an acceptance could cover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import asyncpg

from guardian_compliance.acceptances.matching import Rule
from guardian_compliance.scope.model import ACCOUNT_CONTEXT, GAP_PREFIX, GLOBAL_REGION, Scope

Sort = Literal["status", "severity", "check", "resource", "newest", "oldest"]
SORTS: tuple[Sort, ...] = ("status", "severity", "check", "resource", "newest", "oldest")

# The two ranks are also the keys of the findings_open_order index (migration 0014): change both together.
_STATUS_RANK = "CASE f.status WHEN 'FAIL' THEN 0 WHEN 'ERROR' THEN 1 ELSE 2 END"
_SEVERITY_RANK = (
    "CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END"
)
# Every order ends on the primary key, so paging is stable.
_ORDER: dict[Sort, str] = {
    "status": f"{_STATUS_RANK}, {_SEVERITY_RANK}, f.check_id, f.resource_arn",
    "severity": f"{_SEVERITY_RANK}, {_STATUS_RANK}, f.check_id, f.resource_arn",
    "check": "f.check_id, f.resource_arn",
    "resource": "f.resource_name, f.resource_arn, f.check_id",
    "newest": "f.status_since DESC, f.check_id, f.resource_arn",
    "oldest": "f.status_since, f.check_id, f.resource_arn",
}
_WILDCARDS = "*?["


@dataclass(frozen=True)
class FindingFilter:
    """Which current findings to read; ``None`` (or empty) means "any"."""

    scope: Scope | None = None
    statuses: Sequence[str] | None = None
    check_ids: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    services: Sequence[str] | None = None
    resource_type: str | None = None
    account_id: str | None = None
    region: str | None = None
    text: str | None = None
    include_closed: bool = False
    # (check_id, resource_arn) pairs left out: failures a risk acceptance covers, when listing FAIL.
    exclude: Sequence[tuple[str, str]] = ()


@dataclass
class _Where:
    clauses: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _scope(w: _Where, scope: Scope) -> None:
    """The boundary as :meth:`Scope.contains` decides it, in SQL (``f`` findings, ``r`` their resource)."""
    accounts = scope.account_filter()
    if accounts is not None:
        w.add(f"f.account_id = ANY({w.param(accounts)}::text[])")
    b = scope.boundary
    if b.regions:
        w.add(f"(f.region = {w.param(GLOBAL_REGION)} OR f.region = ANY({w.param(list(b.regions))}::text[]))")
    if b.tags:
        # Unknown tags (no inventory row), account-level facts and collection gaps stay inside.
        parts = []
        for key, allowed in b.tags.items():
            k = w.param(key)
            if allowed:
                parts.append(f"(r.tags ? {k} AND r.tags ->> {k} = ANY({w.param(list(allowed))}::text[]))")
            else:
                parts.append(f"r.tags ? {k}")
        w.add(
            f"(r.tags IS NULL OR jsonb_typeof(r.tags) = 'null' OR f.resource_type = {w.param(ACCOUNT_CONTEXT)}"
            f" OR starts_with(f.resource_arn, {w.param(GAP_PREFIX)}) OR ({' AND '.join(parts)}))"
        )


def _where(f: FindingFilter) -> _Where:
    w = _Where()
    if not f.include_closed:
        w.add("f.state <> 'closed'")
    if f.scope is not None:
        _scope(w, f.scope)
    if f.statuses:
        w.add(f"f.status = ANY({w.param(list(f.statuses))}::text[])")
    if f.check_ids:
        w.add(f"f.check_id = ANY({w.param(list(f.check_ids))}::text[])")
    if f.severities:
        w.add(f"f.severity = ANY({w.param(list(f.severities))}::text[])")
    if f.services:
        w.add(f"f.service = ANY({w.param(list(f.services))}::text[])")
    if f.resource_type is not None:
        w.add(f"f.resource_type = {w.param(f.resource_type)}")
    if f.account_id is not None:
        w.add(f"f.account_id = {w.param(f.account_id)}")
    if f.region is not None:
        w.add(f"f.region = {w.param(f.region)}")
    if f.text:
        p = w.param(_like(f.text))
        w.add(
            f"(f.resource_name ILIKE {p} OR f.resource_arn ILIKE {p} OR f.check_id ILIKE {p}"
            f" OR f.reason ILIKE {p} OR f.resource_type ILIKE {p})"
        )
    if f.exclude:
        checks = w.param([c for c, _ in f.exclude])
        arns = w.param([a for _, a in f.exclude])
        w.add(f"(f.check_id, f.resource_arn) NOT IN (SELECT * FROM unnest({checks}::text[], {arns}::text[]))")
    return w


def _needs_tags(f: FindingFilter) -> bool:
    return f.scope is not None and bool(f.scope.boundary.tags)


_FROM = " FROM findings f LEFT JOIN resources r ON r.arn = f.resource_arn"


async def count(conn: asyncpg.Connection, f: FindingFilter) -> int:
    w = _where(f)
    source = _FROM if _needs_tags(f) else " FROM findings f"
    total: int = await conn.fetchval(f"SELECT count(*){source}{w.sql()}", *w.args)
    return total


async def page(
    conn: asyncpg.Connection, f: FindingFilter, *, sort: Sort = "status", limit: int | None = None, offset: int = 0
) -> list[asyncpg.Record]:
    """Findings with their resource's tags (``resource_tags``, NULL when the inventory does not know it)."""
    w = _where(f)
    window = ""
    if limit is not None:
        window += f" LIMIT {w.param(limit)}"
    if offset:
        window += f" OFFSET {w.param(offset)}"
    if _needs_tags(f) or not window:
        sql = f"SELECT f.*, r.tags AS resource_tags{_FROM}{w.sql()} ORDER BY {_ORDER[sort]}{window}"
    else:
        # The page first, then the inventory's tags of just its rows.
        sql = (
            f"SELECT f.*, r.tags AS resource_tags FROM (SELECT f.* FROM findings f{w.sql()}"
            f" ORDER BY {_ORDER[sort]}{window}) f LEFT JOIN resources r ON r.arn = f.resource_arn"
            f" ORDER BY {_ORDER[sort]}"
        )
    rows: list[asyncpg.Record] = await conn.fetch(sql, *w.args)
    return rows


async def status_counts(conn: asyncpg.Connection, scope: Scope | None) -> list[asyncpg.Record]:
    """(check_id, status, n) over the open findings inside ``scope``; a stale PASS counts as ERROR."""
    f = FindingFilter(scope=scope)
    w = _where(f)
    source = _FROM if _needs_tags(f) else " FROM findings f"
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT f.check_id, CASE WHEN f.state = 'stale' AND f.status = 'PASS' THEN 'ERROR' ELSE f.status END"
        f" AS status, count(*) AS n{source}{w.sql()} GROUP BY 1, 2",
        *w.args,
    )
    return rows


def _rule_clause(w: _Where, rule: Rule) -> str:
    """What SQL can tell of a rule cheaply; the matching module still decides each candidate."""
    parts = ["TRUE"]
    if rule.check_id is not None:
        parts.append(f"f.check_id = {w.param(rule.check_id)}")
    if rule.account_id is not None:
        parts.append(f"f.account_id = {w.param(rule.account_id)}")
    if rule.region is not None:
        parts.append(f"f.region = {w.param(rule.region)}")
    if rule.arn_pattern is not None:
        cut = min((i for i, ch in enumerate(rule.arn_pattern) if ch in _WILDCARDS), default=len(rule.arn_pattern))
        if cut:
            parts.append(f"starts_with(f.resource_arn, {w.param(rule.arn_pattern[:cut])})")
    return "(" + " AND ".join(parts) + ")"


async def acceptance_candidates(
    conn: asyncpg.Connection, f: FindingFilter, rules: Sequence[Rule], *, sort: Sort = "status"
) -> list[asyncpg.Record]:
    """Open FAIL findings matching ``f`` that one of ``rules`` may cover (none when there is no rule)."""
    if not rules:
        return []
    narrowed = replace(f, statuses=["FAIL"], include_closed=False, exclude=())
    w = _where(narrowed)
    w.add("(" + " OR ".join(_rule_clause(w, r) for r in rules) + ")")
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT f.*, r.tags AS resource_tags{_FROM}{w.sql()} ORDER BY {_ORDER[sort]}", *w.args
    )
    return rows
