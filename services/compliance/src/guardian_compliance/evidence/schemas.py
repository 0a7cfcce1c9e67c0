"""The "what's missing" view of one control's evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

# Why a requirement is not met, most actionable first when several apply.
MissingReason = Literal["pending_review", "expired", "rejected", "none_uploaded"]


class EvidenceItemView(BaseModel):
    item_id: str
    title: str
    type: str
    owner: str | None
    status: str = Field(description="The evidence service's status when it last reported the item")
    counts: bool = Field(description="Accepted and not expired now: this item satisfies its requirement")
    accepted_version: int | None
    latest_version: int | None
    valid_until: datetime | None
    period: dict[str, Any]
    reported_at: datetime = Field(description="When the evidence service's newest event about it happened")


class RequirementEvidence(BaseModel):
    type: str
    description: str
    met: bool
    reason_code: MissingReason | None = None
    reason: str | None = Field(default=None, description="What is missing, when not met")
    items: list[EvidenceItemView]


class ControlEvidence(BaseModel):
    control_id: str
    title: str
    kind: str
    frequency: str
    met: bool = Field(description="Every required evidence type has an accepted, current item")
    checked_at: datetime
    missing: list[str] = Field(description="Descriptions of the requirements still to satisfy")
    requirements: list[RequirementEvidence]
