"""The "what's missing" view of one control's evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

# Why a requirement is not met, most actionable first when several apply.
MissingReason = Literal["pending_review", "expired", "rejected", "none_uploaded"]


class VersionView(BaseModel):
    """One version of an item as compliance knows it: when it was accepted and when it was current."""

    version: int
    uploaded_at: datetime | None
    accepted_at: datetime | None = Field(description="The review time of its acceptance")
    accepted_at_exact: bool = Field(
        description="False: no event carried the review time; accepted_at is the latest it can have happened"
    )
    rejected_at: datetime | None
    valid_from: datetime | None
    valid_until: datetime | None
    superseded_at: datetime | None = Field(description="When a higher version was accepted")
    deleted_at: datetime | None
    current_from: datetime | None = Field(description="Accepted versions: from when it was the item's current one")
    current_until: datetime | None = Field(
        description="Until when it was current: superseded, expired or deleted, whichever came first; null if still"
    )
    covers: str | None = Field(description="The occurrence of the control's frequency this version covers")


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
    versions: list[VersionView] = Field(default_factory=list, description="Every version known, oldest first")


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
