"""The control matrix over the API: definitions, versions, import results."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from guardian_compliance.frameworks.model import EvidenceRequirement, Frequency

CONTROL_ID = r"^[A-Z0-9][A-Z0-9_.-]{1,63}$"


class MappingIn(BaseModel):
    """A criterion the control serves, and why (an auditor reads the rationale)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    rationale: str = ""


class ControlFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=5000)
    owner: str = Field(min_length=1, max_length=200)
    frequency: Frequency
    requirements: list[MappingIn]
    checks: list[str] = Field(default_factory=list)
    evidence: list[EvidenceRequirement] = Field(default_factory=list)


class ControlCreate(ControlFields):
    id: str = Field(pattern=CONTROL_ID)
    note: str | None = None


class ControlUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, min_length=1, max_length=5000)
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    frequency: Frequency | None = None
    requirements: list[MappingIn] | None = None
    checks: list[str] | None = None
    evidence: list[EvidenceRequirement] | None = None
    note: str | None = None


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = None


class ControlOut(BaseModel):
    id: str
    title: str
    description: str
    owner: str
    frequency: str
    requirements: list[MappingIn]
    checks: list[str]
    evidence: list[EvidenceRequirement]
    kind: Literal["automated", "procedural", "hybrid"]
    state: Literal["active", "retired"]
    version: int
    origin: str
    created_at: datetime
    updated_at: datetime


class ControlVersionOut(BaseModel):
    version: int
    change: str
    state: str
    definition: dict[str, Any]
    changed_by: str
    changed_at: datetime
    note: str | None


class ControlHistory(ControlOut):
    versions: list[ControlVersionOut]


class ControlListOut(BaseModel):
    total: int
    items: list[ControlOut]


class ImportResult(BaseModel):
    created: list[str]
    updated: list[str]
    retired: list[str]
    unchanged: int


class LibraryAdditions(BaseModel):
    """What a newer bundled library adds to a control since the company last took or dismissed it."""

    checks: list[str]
    requirements: list[MappingIn]
    evidence: list[EvidenceRequirement]


class LibraryRemovals(LibraryAdditions):
    """What a newer bundled library removed from a control the company edited: the company's version keeps
    it until an editor accepts the update."""


class LibraryUpdateOut(BaseModel):
    id: str
    control_id: str
    library_version: str
    additions: LibraryAdditions
    removals: LibraryRemovals = Field(
        default_factory=lambda: LibraryRemovals(checks=[], requirements=[], evidence=[]),
        description="What the library removed and the company's edited version still has",
    )
    state: Literal["open", "accepted", "dismissed", "superseded"]
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


class LibraryUpdateList(BaseModel):
    bundled_version: str = Field(description="The library this Guardian ships")
    compared_version: str | None = Field(description="The library the matrix was last compared with")
    total: int
    items: list[LibraryUpdateOut]


class LibraryDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = None
