"""Risk acceptances over the API (the interface calls them "exceptions")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

AcceptanceStatus = Literal["pending", "rejected", "scheduled", "in_force", "expired", "revoked"]


class AcceptanceCreate(BaseModel):
    """At least one selector; a finding is covered when it matches every selector given."""

    model_config = ConfigDict(extra="forbid")
    control_id: str | None = None
    check_id: str | None = None
    arn_pattern: str | None = Field(default=None, max_length=2048, description="Glob: * and ? and [...]")
    account_id: str | None = None
    region: str | None = None
    tag: str | None = Field(default=None, description="key=value")
    justification: str = ""
    compensating_control: str = ""
    starts_at: AwareDatetime | None = Field(default=None, description="Defaults to now; never in the past")
    expires_at: AwareDatetime


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = None


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(description="Why the acceptance ends early; kept with it and in the audit log")


class AcceptanceEventOut(BaseModel):
    action: str
    actor: str
    at: datetime
    note: str | None


class AcceptanceOut(BaseModel):
    id: str
    control_id: str | None
    check_id: str | None
    arn_pattern: str | None
    account_id: str | None
    region: str | None
    tag_key: str | None
    tag_value: str | None
    justification: str
    compensating_control: str
    requested_by: str
    requested_at: datetime
    starts_at: datetime
    expires_at: datetime
    # "revoked" only when it was revoked before it started; revoked while in force, it stays
    # "approved" with revoked_at set, because it did cover findings from starts_at to revoked_at.
    state: Literal["pending", "approved", "rejected", "revoked"]
    status: AcceptanceStatus
    approver: str | None
    decided_at: datetime | None
    decision_note: str | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revocation_reason: str | None = None
    ends_at: datetime = Field(description="End of the covered interval: the expiry, or the revocation if earlier")
    events: list[AcceptanceEventOut] = Field(default_factory=list)


class AcceptanceList(BaseModel):
    total: int
    items: list[AcceptanceOut]
