"""A framework's mapping: every requirement with the controls that serve it, why, and what each control
rests on (its checks, described from the evaluator's catalogue, and the evidence it needs).

It describes the active control library (the matrix as edited, with custom checks added where their
rule files name a control), not a computed posture: no subscription or scan is needed to read it.
"""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
from pydantic import BaseModel

from guardian_compliance.controls.repository import ControlRepository
from guardian_compliance.controls.service import active_library
from guardian_compliance.frameworks.model import Control
from guardian_compliance.frameworks.service import framework_or_404
from guardian_compliance.scans.custom_mappings import declared_mappings, unknown_mappings
from guardian_compliance.scans.repository import ScanRepository


class MappedCheck(BaseModel):
    id: str
    title: str | None
    severity: str | None
    service: str | None
    # library: the control lists the check; rule_file: a custom check's rule file names the control
    # (whether or not the control also lists it).
    mapped_by: Literal["library", "rule_file"]
    # False when the evaluator's current catalogue does not know the check (it then counts as ERROR).
    in_catalogue: bool


class MappedEvidence(BaseModel):
    type: str
    description: str


class MappedControl(BaseModel):
    id: str
    title: str
    kind: str
    owner: str
    frequency: str
    rationale: str
    checks: list[MappedCheck]
    evidence: list[MappedEvidence]


class RequirementMapping(BaseModel):
    id: str
    category: str
    group: str
    title: str
    automated: bool
    controls: list[MappedControl]


class MappingSummary(BaseModel):
    requirements: int
    mapped: int
    automated: int
    unmapped: list[str]


class UnknownControlMapping(BaseModel):
    """A custom check's rule file names a control the matrix does not hold (or holds retired): the check's
    findings count nowhere until that is fixed."""

    control_id: str
    checks: list[str]
    reason: Literal["retired", "not_in_matrix"]
    detail: str


class FrameworkMapping(BaseModel):
    framework: str
    title: str
    version: str
    library_version: str
    catalogue_version: str | None
    summary: MappingSummary
    requirements: list[RequirementMapping]
    # Never silently dropped: rule-file mappings to controls that are not active.
    unknown_mappings: list[UnknownControlMapping] = []


def _check(
    check_id: str, control: Control, meta: dict[str, dict[str, Any]], declared: dict[str, list[str]]
) -> MappedCheck:
    info = meta.get(check_id)
    by_rule = check_id in declared.get(control.id, [])
    return MappedCheck(
        id=check_id,
        title=info.get("title") if info else None,
        severity=info.get("severity") if info else None,
        service=info.get("service") if info else None,
        mapped_by="rule_file" if by_rule else "library",
        in_catalogue=info is not None,
    )


async def framework_mapping(conn: asyncpg.Connection, framework_id: str) -> FrameworkMapping:
    framework = framework_or_404(framework_id)
    library = await active_library(conn)
    catalogue_version, _, meta = await ScanRepository(conn).latest_catalogue()
    declared = declared_mappings(meta)
    retired = {
        r["control_id"] for r in await ControlRepository(conn).all(include_retired=True) if r["state"] != "active"
    }
    unknown = unknown_mappings(library.library.controls, declared, retired)

    requirements: list[RequirementMapping] = []
    for requirement in framework.requirements:
        controls = []
        for control in library.library.controls:
            rationale = next((m.rationale for m in control.requirements if m.id == requirement.id), None)
            if rationale is None:
                continue
            controls.append(
                MappedControl(
                    id=control.id,
                    title=control.title,
                    kind=control.kind,
                    owner=control.owner,
                    frequency=str(control.frequency),
                    rationale=rationale,
                    checks=[_check(c, control, meta, declared) for c in control.checks],
                    evidence=[MappedEvidence(type=str(e.type), description=e.description) for e in control.evidence],
                )
            )
        requirements.append(
            RequirementMapping(
                id=requirement.id,
                category=requirement.category,
                group=requirement.group,
                title=requirement.title,
                automated=any(c.checks for c in controls),
                controls=controls,
            )
        )
    return FrameworkMapping(
        framework=framework.id,
        title=framework.title,
        version=framework.version,
        library_version=library.version,
        catalogue_version=catalogue_version,
        summary=MappingSummary(
            requirements=len(requirements),
            mapped=sum(1 for r in requirements if r.controls),
            automated=sum(1 for r in requirements if r.automated),
            unmapped=[r.id for r in requirements if not r.controls],
        ),
        requirements=requirements,
        unknown_mappings=[
            UnknownControlMapping(control_id=u.control_id, checks=u.checks, reason=u.reason, detail=u.detail)
            for u in unknown
        ],
    )
