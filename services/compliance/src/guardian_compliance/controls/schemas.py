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
