from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from guardian_evidence.validity import Frequency, Status

CONTROL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class EvidenceType(StrEnum):
    POLICY = "policy"
    PROCEDURE = "procedure"
    TRAINING_RECORD = "training_record"
    VENDOR_ASSESSMENT = "vendor_assessment"
    ACCESS_REVIEW = "access_review"
    SCREENSHOT = "screenshot"
    MINUTES = "minutes"
    REPORT = "report"
    OTHER = "other"


class Period(BaseModel):
    label: str | None = None
    start: date | None = None
    end: date | None = None


class ItemCreate(BaseModel):
    """The metadata sent as form fields beside the first file."""

    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=5000)
    type: EvidenceType
    owner: str = Field(min_length=1, max_length=200)
    control_ids: list[str] = Field(min_length=1, max_length=100)
    frequency: Frequency | None = None
    period_label: str | None = Field(default=None, max_length=100)
    period_start: date | None = None
    period_end: date | None = None

    @field_validator("title", "owner")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("control_ids")
    @classmethod
    def _control_ids(cls, values: list[str]) -> list[str]:
        cleaned = sorted({v.strip() for v in values if v.strip()})
        if not cleaned:
            raise ValueError("name at least one control")
        bad = [v for v in cleaned if not CONTROL_ID.match(v)]
        if bad:
            raise ValueError(f"not a control id: {', '.join(bad)}")
        return cleaned

    @model_validator(mode="after")
    def _period_ordered(self) -> ItemCreate:
        if self.period_start and self.period_end and self.period_start > self.period_end:
            raise ValueError("period_start is after period_end")
        return self

    @classmethod
    def from_form(cls, fields: dict[str, list[str]]) -> ItemCreate:
        def one(name: str) -> str | None:
            values = fields.get(name)
            return values[-1] if values else None

        controls: list[str] = []
        for name in ("control", "control_ids", "controls"):
            for value in fields.get(name, []):
                controls += value.split(",")
        data: dict[str, Any] = {
            "title": one("title"),
            "description": one("description") or "",
            "type": one("type"),
            "owner": one("owner"),
            "control_ids": controls,
            "frequency": one("frequency") or None,
            "period_label": one("period_label") or None,
            "period_start": one("period_start") or None,
            "period_end": one("period_end") or None,
        }
        return cls.model_validate({k: v for k, v in data.items() if v is not None})


class ReviewIn(BaseModel):
    decision: Literal["accepted", "rejected"]
    comment: str = Field(min_length=1, max_length=5000)

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a review needs a comment")
        return value.strip()


class LockIn(BaseModel):
    locked_until: date


class ReviewOut(BaseModel):
    decision: Literal["accepted", "rejected"]
    comment: str
    reviewer: str
    reviewed_at: datetime
    valid_from: datetime | None
    valid_until: datetime | None


class VersionOut(BaseModel):
    version: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    backend: str
    uploaded_by: str
    uploaded_at: datetime
    review: ReviewOut | None = None


class ItemOut(BaseModel):
    item_id: str
    title: str
    description: str
    type: EvidenceType
    owner: str
    control_ids: list[str]
    frequency: Frequency
    period: Period
    locked_until: date | None
    created_by: str
    created_at: datetime
    status: Status
    counts: bool = Field(description="True while an accepted, unexpired version backs the item")
    accepted_version: int | None
    valid_until: datetime | None
    latest_version: int
    versions: list[VersionOut]


class ItemList(BaseModel):
    items: list[ItemOut]
    total: int


class IndexEntry(BaseModel):
    item_id: str
    title: str
    type: EvidenceType
    control_ids: list[str]
    period: Period
    version: int
    sha256: str
    filename: str
    reviewed_by: str
    current_from: datetime
    current_to: datetime | None = Field(description="None: still current when the index was computed")


class EvidenceIndex(BaseModel):
    window_from: date
    window_to: date
    entries: list[IndexEntry]
    uncovered: list[str] = Field(description="Items that existed in the window but had no accepted, valid version")


class TombstoneOut(BaseModel):
    item_id: str
    deleted_by: str
    deleted_at: datetime
    reason: str
    item: dict[str, Any]


class TombstoneList(BaseModel):
    items: list[TombstoneOut]
