"""Scopes as the API shows them: categories, boundary, periods, carve-outs, user-entity controls."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ScopeId = str
SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
ACCOUNT = r"^\d{12}$"
REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
ENVIRONMENT = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class Boundary(BaseModel):
    """The system boundary. A resource is inside when it matches every non-empty part.

    ``tags`` maps a tag key to its allowed values; an empty list accepts any value of that key.
    Account-level facts (the ``AWS::::Account`` context, collection gaps) and resources whose tags
    are unknown are inside whenever their account and region are: leaving them out would hide errors.
    Resources of region ``global`` (IAM, account settings) are inside whenever their account is.
    """

    model_config = ConfigDict(extra="forbid")
    account_ids: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    tags: dict[str, list[str]] = Field(default_factory=dict)
    # Environments of the accounts inside (production, staging...), as the accounts registry names
    # them; empty: accounts of any environment. Accounts added to an environment later are inside too.
    environments: list[str] = Field(default_factory=list)


class CriterionCoverage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    coverage: Literal["full", "partial"]
    note: str = ""


class SubserviceOrganisation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    services: str = ""
    method: Literal["carve_out", "inclusive"] = "carve_out"
    criteria: list[CriterionCoverage] = Field(default_factory=list)
    # The evidence item holding this organisation's own SOC 2 report.
    report_evidence_id: str | None = None


class UserEntityControl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(min_length=1, max_length=2000)
    criteria: list[str] = Field(default_factory=list)


class NotApplicableMark(BaseModel):
    kind: Literal["control", "requirement"]
    id: str
    justification: str
    marked_by: str
    marked_at: datetime


class ScopeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=200)
    categories: list[str] = Field(default_factory=lambda: ["security"])
    boundary: Boundary = Field(default_factory=Boundary)
    # None: AWS carved out, as almost every AWS-hosted system is.
    subservice_organisations: list[SubserviceOrganisation] | None = None
    user_entity_controls: list[UserEntityControl] = Field(default_factory=list)


class ScopeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    categories: list[str] | None = None
    boundary: Boundary | None = None
    subservice_organisations: list[SubserviceOrganisation] | None = None
    user_entity_controls: list[UserEntityControl] | None = None


class NotApplicableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    justification: str = ""


class PeriodCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    start_date: date
    end_date: date
    type: Literal["type1", "type2"]


class PeriodUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    start_date: date | None = None
    end_date: date | None = None
    type: Literal["type1", "type2"] | None = None


class PeriodOut(BaseModel):
    id: str
    scope_id: str
    name: str
    start_date: date
    end_date: date
    type: Literal["type1", "type2"]
    locked: bool
    locked_at: datetime | None
    locked_by: str | None
    created_at: datetime


class ScopeOut(BaseModel):
    id: str
    name: str
    categories: list[str]
    boundary: Boundary
    subservice_organisations: list[SubserviceOrganisation]
    user_entity_controls: list[UserEntityControl]
    not_applicable: list[NotApplicableMark]
    version: int
    created_at: datetime
    updated_at: datetime
    periods: list[PeriodOut]


class ScopeVersionOut(BaseModel):
    version: int
    change: str
    changed_by: str
    changed_at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any]
