"""Frameworks (requirements in categories) and the control library, as loaded from data files."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Frequency = Literal["continuous", "daily", "weekly", "monthly", "quarterly", "annual"]
EvidenceType = Literal[
    "policy",
    "procedure",
    "training_record",
    "vendor_assessment",
    "access_review",
    "screenshot",
    "minutes",
    "report",
    "other",
]


class ControlStatus(StrEnum):
    """Precedence, worst first (DESIGN.md): FAIL > ERROR > EVIDENCE_REQUIRED > PASS; NOT_APPLICABLE aside."""

    FAIL = "FAIL"
    ERROR = "ERROR"
    EVIDENCE_REQUIRED = "EVIDENCE_REQUIRED"
    PASS = "PASS"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Category(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    required: bool = False
    description: str = ""


class Requirement(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    category: str
    group: str = ""
    title: str
    description: str


class Framework(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    title: str
    version: str
    categories: list[Category]
    requirements: list[Requirement]

    @model_validator(mode="after")
    def _consistent(self) -> Framework:
        cats = {c.id for c in self.categories}
        ids = [r.id for r in self.requirements]
        if len(ids) != len(set(ids)):
            raise ValueError(f"framework {self.id}: duplicate requirement ids")
        stray = sorted({r.category for r in self.requirements} - cats)
        if stray:
            raise ValueError(f"framework {self.id}: unknown categories {stray}")
        return self

    def requirement(self, requirement_id: str) -> Requirement | None:
        return next((r for r in self.requirements if r.id == requirement_id), None)

    @property
    def required_categories(self) -> set[str]:
        return {c.id for c in self.categories if c.required}


class Mapping(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    rationale: str = Field(min_length=1)


class EvidenceRequirement(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: EvidenceType
    description: str


class Control(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    title: str
    description: str
    owner: str
    frequency: Frequency
    requirements: list[Mapping] = Field(min_length=1)
    checks: list[str] = Field(default_factory=list)
    evidence: list[EvidenceRequirement] = Field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.checks and self.evidence:
            return "hybrid"
        return "automated" if self.checks else "procedural"


class ControlLibrary(BaseModel):
    model_config = ConfigDict(frozen=True)
    library: str
    version: str
    controls: list[Control]

    @model_validator(mode="after")
    def _unique(self) -> ControlLibrary:
        ids = [c.id for c in self.controls]
        if len(ids) != len(set(ids)):
            raise ValueError("control library: duplicate control ids")
        return self

    def for_requirement(self, requirement_id: str) -> list[Control]:
        return [c for c in self.controls if any(m.id == requirement_id for m in c.requirements)]


def content_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _load_yaml(*parts: str) -> Any:
    path = resources.files("guardian_compliance").joinpath("data", *parts)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


BUNDLED_FRAMEWORKS = ("soc2", "cis_aws")


@cache
def bundled_framework(framework_id: str) -> Framework:
    if framework_id not in BUNDLED_FRAMEWORKS:
        raise KeyError(framework_id)
    return Framework.model_validate(_load_yaml("frameworks", f"{framework_id}.yaml"))


def merge_library(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Compose a control library from a base document and extensions.

    The first document is the base (``library``, ``version``, ``controls``). Each later one may add
    ``controls`` and ``extend`` existing ones: an ``extend`` entry names a control ``id`` and the
    ``checks``, ``requirements`` and ``evidence`` to add to it. Adding a requirement a control
    already maps, or a control id that exists, is refused: composition never silently overrides.
    """
    base, *extensions = documents
    merged = {"library": base["library"], "version": base["version"], "controls": list(base["controls"])}
    by_id = {c["id"]: c for c in merged["controls"]}
    # Every file's new controls first, then every extension: any file may extend any control.
    for doc in extensions:
        for control in doc.get("controls") or []:
            if control["id"] in by_id:
                raise ValueError(f"control {control['id']} is defined twice")
            merged["controls"].append(control)
            by_id[control["id"]] = control
    for doc in extensions:
        for ext in doc.get("extend") or []:
            target = by_id.get(ext["id"])
            if target is None:
                raise ValueError(f"extension of unknown control {ext['id']}")
            target = by_id[ext["id"]] = dict(target)
            merged["controls"] = [target if c["id"] == ext["id"] else c for c in merged["controls"]]
            mapped = {m["id"] for m in target.get("requirements", [])}
            for mapping in ext.get("requirements") or []:
                if mapping["id"] in mapped:
                    raise ValueError(f"control {ext['id']} already maps {mapping['id']}")
            target["requirements"] = [*target.get("requirements", []), *(ext.get("requirements") or [])]
            target["checks"] = [
                *target.get("checks", []),
                *(c for c in ext.get("checks") or [] if c not in target.get("checks", [])),
            ]
            target["evidence"] = [*target.get("evidence", []), *(ext.get("evidence") or [])]
    return merged


def library_documents() -> list[dict[str, Any]]:
    """``default.yaml`` first, then every other bundled library file in name order."""
    folder = resources.files("guardian_compliance").joinpath("data", "controls")
    names = sorted(e.name for e in folder.iterdir() if e.name.endswith(".yaml") and e.name != "default.yaml")
    return [_load_yaml("controls", "default.yaml"), *(_load_yaml("controls", n) for n in names)]


@cache
def bundled_library() -> ControlLibrary:
    return ControlLibrary.model_validate(merge_library(library_documents()))


def library_version(library: ControlLibrary) -> str:
    """The declared version plus a content hash: an edited file is a new version."""
    return f"{library.version}+{content_hash(library.model_dump(mode='json'))}"
