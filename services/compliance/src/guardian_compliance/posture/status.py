"""Control and requirement statuses and the readiness score: a pure function of the facts.

Precedence (DESIGN.md): FAIL (an in-scope finding fails and is not risk-accepted) > ERROR (something
could not be evaluated) > EVIDENCE_REQUIRED (required evidence missing, unreviewed or stale) > PASS.
NOT_APPLICABLE only when collection succeeded and nothing is in scope, or when a scope marks the
control or criterion not applicable with a written justification. A check that was never
collected, or that the evaluator does not know, is ERROR: silence is never a PASS. A failing
finding covered by a risk acceptance in force counts as accepted, not failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from guardian_compliance.frameworks.model import Control, ControlLibrary, ControlStatus, Framework

PRECEDENCE = (
    ControlStatus.FAIL,
    ControlStatus.ERROR,
    ControlStatus.EVIDENCE_REQUIRED,
    ControlStatus.PASS,
)

FORMULA = (
    "readiness = PASS controls / in-scope controls that are not NOT_APPLICABLE"
    " (ERROR and EVIDENCE_REQUIRED count as not passing)"
)


@dataclass
class CheckFacts:
    """What the current findings say about one check."""

    passed: int = 0
    failed: int = 0
    errored: int = 0
    accepted: int = 0


@dataclass(frozen=True)
class CatalogueEntry:
    title: str
    severity: str
    service: str
    version: int


@dataclass
class Facts:
    checks: Mapping[str, CheckFacts]
    catalogue: Mapping[str, CatalogueEntry]
    # Services with at least one complete or partial collection, so silence there means "none".
    collected_services: set[str]
    categories: set[str]
    # Control ids whose evidence requirements are currently met.
    evidence_met: set[str] = field(default_factory=set)
    # Scope marks: id -> written justification.
    not_applicable_controls: Mapping[str, str] = field(default_factory=dict)
    not_applicable_requirements: Mapping[str, str] = field(default_factory=dict)
    # Failing findings accepted only for one control (acceptances scoped to a control):
    # control id -> check id -> how many of that check's failures the control may treat as accepted.
    control_accepted: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # Criteria a subservice organisation is carved out for: requirement id -> [(organisation, coverage)].
    carve_outs: Mapping[str, list[tuple[str, str]]] = field(default_factory=dict)


class CheckOutcome(BaseModel):
    check_id: str
    title: str
    severity: str
    status: ControlStatus
    passed: int
    failed: int
    errored: int
    accepted: int


class ControlResult(BaseModel):
    id: str
    title: str
    description: str
    owner: str
    frequency: str
    kind: str
    status: ControlStatus
    reason: str
    requirements: list[str]
    categories: list[str]
    checks: list[CheckOutcome]
    evidence_required: list[str]
    justification: str | None = None


class RequirementResult(BaseModel):
    id: str
    category: str
    group: str
    title: str
    description: str
    status: ControlStatus
    controls: list[str]
    reason: str
    justification: str | None = None
    carved_out_to: list[str] = Field(default_factory=list)


class CategoryReadiness(BaseModel):
    category: str
    name: str
    score: float | None
    passing: int
    applicable: int


class Readiness(BaseModel):
    score: float | None
    passing: int
    applicable: int
    in_scope: int
    not_applicable: int
    by_status: dict[str, int]
    by_category: list[CategoryReadiness]
    formula: str = FORMULA


class FrameworkPosture(BaseModel):
    readiness: Readiness
    requirements: list[RequirementResult]
    controls: list[ControlResult]


def worst(statuses: Iterable[ControlStatus]) -> ControlStatus:
    present = set(statuses)
    for status in PRECEDENCE:
        if status in present:
            return status
    return ControlStatus.NOT_APPLICABLE


def check_outcome(check_id: str, facts: Facts, control_id: str | None = None) -> CheckOutcome:
    entry = facts.catalogue.get(check_id)
    counts = facts.checks.get(check_id, CheckFacts())
    extra = facts.control_accepted.get(control_id, {}).get(check_id, 0) if control_id is not None else 0
    if extra:
        moved = min(extra, counts.failed)
        counts = CheckFacts(
            passed=counts.passed,
            failed=counts.failed - moved,
            errored=counts.errored,
            accepted=counts.accepted + moved,
        )
    if entry is None:
        status = ControlStatus.ERROR
    elif counts.failed:
        status = ControlStatus.FAIL
    elif counts.errored:
        status = ControlStatus.ERROR
    elif counts.passed or counts.accepted:
        status = ControlStatus.PASS
    elif entry.service in facts.collected_services:
        status = ControlStatus.NOT_APPLICABLE
    else:
        status = ControlStatus.ERROR  # never collected: not monitored, so not passing
    return CheckOutcome(
        check_id=check_id,
        title=entry.title if entry else f"Unknown check {check_id}",
        severity=entry.severity if entry else "high",
        status=status,
        passed=counts.passed,
        failed=counts.failed,
        errored=counts.errored,
        accepted=counts.accepted,
    )


def _control_reason(control: Control, checks: list[CheckOutcome], status: ControlStatus, facts: Facts) -> str:
    if status is ControlStatus.FAIL:
        bad = [c for c in checks if c.status is ControlStatus.FAIL]
        total = sum(c.failed for c in bad)
        return f"{total} resource(s) fail: " + ", ".join(f"{c.check_id} ({c.failed})" for c in bad)
    if status is ControlStatus.ERROR:
        parts = []
        for c in checks:
            if c.status is not ControlStatus.ERROR:
                continue
            if c.check_id not in facts.catalogue:
                parts.append(f"{c.check_id} is not in the evaluator's catalogue")
            elif c.errored:
                parts.append(f"{c.check_id} could not evaluate {c.errored} resource(s)")
            else:
                parts.append(f"{c.check_id} has never been collected")
        return "Not evaluable: " + "; ".join(parts)
    if status is ControlStatus.EVIDENCE_REQUIRED:
        return "Evidence required: " + "; ".join(e.description for e in control.evidence)
    if status is ControlStatus.PASS:
        if not checks:
            return "Required evidence is current and accepted."
        return f"All {sum(c.passed for c in checks)} evaluated resource(s) pass."
    return "No in-scope resources for its checks; collection succeeded."


def control_result(
    control: Control, framework: Framework, facts: Facts, inapplicable_reason: str | None = None
) -> ControlResult:
    """``inapplicable_reason`` is set when every criterion the control serves is marked not applicable."""
    checks = [check_outcome(c, facts, control.id) for c in control.checks]
    statuses = [c.status for c in checks]
    if control.evidence and control.id not in facts.evidence_met:
        statuses.append(ControlStatus.EVIDENCE_REQUIRED)
    elif control.evidence:
        statuses.append(ControlStatus.PASS)
    status = worst(statuses)
    justification = facts.not_applicable_controls.get(control.id)
    if justification is not None:
        status = ControlStatus.NOT_APPLICABLE
        reason = f"Marked not applicable in this scope: {justification}"
    elif inapplicable_reason is not None:
        status = ControlStatus.NOT_APPLICABLE
        reason = inapplicable_reason
    else:
        reason = _control_reason(control, checks, status, facts)
    categories = sorted(
        {req.category for m in control.requirements if (req := framework.requirement(m.id)) is not None}
    )
    return ControlResult(
        id=control.id,
        title=control.title,
        description=control.description,
        owner=control.owner,
        frequency=control.frequency,
        kind=control.kind,
        status=status,
        reason=reason,
        # Only this framework's criteria: a control may also serve another framework (CIS ids).
        requirements=[m.id for m in control.requirements if framework.requirement(m.id) is not None],
        categories=categories,
        checks=checks,
        evidence_required=[] if control.id in facts.evidence_met else [e.description for e in control.evidence],
        justification=justification,
    )


def compute(framework: Framework, library: ControlLibrary, facts: Facts) -> FrameworkPosture:
    in_scope_categories = facts.categories | framework.required_categories
    requirement_ids = {r.id for r in framework.requirements if r.category in in_scope_categories}
    applicable_ids = requirement_ids - set(facts.not_applicable_requirements)
    controls = []
    for c in library.controls:
        served = [m.id for m in c.requirements if m.id in requirement_ids]
        if not served:
            continue
        inapplicable = None
        if not any(r in applicable_ids for r in served):
            inapplicable = "Serves only criteria marked not applicable in this scope: " + ", ".join(served)
        controls.append(control_result(c, framework, facts, inapplicable))
    by_id = {c.id: c for c in controls}
    requirements: list[RequirementResult] = []
    for req in framework.requirements:
        if req.id not in requirement_ids:
            continue
        mapped = [by_id[c.id] for c in library.for_requirement(req.id) if c.id in by_id]
        carved = facts.carve_outs.get(req.id, [])
        justification = facts.not_applicable_requirements.get(req.id)
        if justification is not None:
            status = ControlStatus.NOT_APPLICABLE
            reason = f"Marked not applicable in this scope: {justification}"
        elif mapped:
            status = worst(c.status for c in mapped)
            reason = ", ".join(f"{c.id}: {c.status.value}" for c in mapped)
        elif any(coverage == "full" for _, coverage in carved):
            status = ControlStatus.NOT_APPLICABLE
            reason = "Carved out: addressed by " + ", ".join(o for o, cov in carved if cov == "full")
        else:
            status = ControlStatus.ERROR
            reason = "No control is mapped to this criterion."
        requirements.append(
            RequirementResult(
                id=req.id,
                category=req.category,
                group=req.group,
                title=req.title,
                description=req.description,
                status=status,
                controls=[c.id for c in mapped],
                reason=reason,
                justification=justification,
                carved_out_to=[o for o, _ in carved],
            )
        )
    return FrameworkPosture(
        readiness=readiness(framework, controls, in_scope_categories),
        requirements=requirements,
        controls=controls,
    )


def _score(passing: int, applicable: int) -> float | None:
    return round(100.0 * passing / applicable, 1) if applicable else None


def readiness(framework: Framework, controls: list[ControlResult], categories: set[str]) -> Readiness:
    by_status = {s.value: 0 for s in ControlStatus}
    for c in controls:
        by_status[c.status.value] += 1
    applicable = [c for c in controls if c.status is not ControlStatus.NOT_APPLICABLE]
    passing = sum(1 for c in applicable if c.status is ControlStatus.PASS)
    per_category = []
    for cat in framework.categories:
        if cat.id not in categories:
            continue
        in_cat = [c for c in applicable if cat.id in c.categories]
        cat_passing = sum(1 for c in in_cat if c.status is ControlStatus.PASS)
        per_category.append(
            CategoryReadiness(
                category=cat.id,
                name=cat.name,
                score=_score(cat_passing, len(in_cat)),
                passing=cat_passing,
                applicable=len(in_cat),
            )
        )
    return Readiness(
        score=_score(passing, len(applicable)),
        passing=passing,
        applicable=len(applicable),
        in_scope=len(controls),
        not_applicable=len(controls) - len(applicable),
        by_status=by_status,
        by_category=per_category,
    )
