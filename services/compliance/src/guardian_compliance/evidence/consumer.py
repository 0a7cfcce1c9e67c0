"""The evidence service's domain events, as compliance reads them, and how each one is applied.

Events arrive on ``<prefix>.domain.evidence.<event>`` (version added, reviewed, deleted). Each
carries the item's whole state after the change, so applying one is a conditional upsert: the
row takes the event's state only when the event is newer than the one the row came from. A
redelivery, or an older event arriving late, changes nothing.

Each event also tells facts about versions, merged into ``evidence_versions`` (the history that
occurrence coverage is judged from): the version it is about (uploaded at, or reviewed at with
the decision and validity), every reviewed version of the item (``reviews``, when the evidence
service sends it), and the item's accepted version. An accepted version known only from the
item's state gets the event's time as its acceptance time: an upper bound, replaced by the review
time when an event carrying it arrives. Facts never change once known, so merging is idempotent
and independent of arrival order.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

import asyncpg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from guardian_common import bus
from guardian_common.logging import get_logger
from guardian_compliance.evidence.repository import EvidenceItemRepository, ItemState, VersionFacts

log = get_logger("guardian.compliance.evidence")

DURABLE = "compliance-evidence"
DELETED = "evidence.deleted"


def evidence_subject(subjects: bus.Subjects) -> str:
    return subjects.domain("evidence.>")


class EvidencePeriod(BaseModel):
    model_config = ConfigDict(extra="ignore")
    label: str | None = None
    start: str | None = None
    end: str | None = None


class ReviewFacts(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: int = Field(gt=0)
    decision: Literal["accepted", "rejected"]
    reviewed_at: AwareDatetime
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None

    def facts(self) -> VersionFacts:
        if self.decision == "rejected":
            return VersionFacts(self.version, rejected_at=self.reviewed_at)
        return VersionFacts(
            self.version,
            accepted_at=self.reviewed_at,
            accepted_at_exact=True,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
        )


class EvidenceData(BaseModel):
    """The item's state after the change; other fields (hashes, reviewer, file name...) are ignored."""

    model_config = ConfigDict(extra="ignore")
    item_id: str = Field(min_length=1)
    title: str
    evidence_type: str = Field(min_length=1)
    owner: str | None = None
    control_ids: list[str] = Field(default_factory=list)
    frequency: str | None = None
    period: EvidencePeriod = Field(default_factory=EvidencePeriod)
    status: str
    counts: bool
    accepted_version: int | None = None
    valid_until: AwareDatetime | None = None
    latest_version: int | None = None
    # About the version the event concerns (absent from older events: then only the item's state counts).
    version: int | None = Field(default=None, gt=0)
    uploaded_at: AwareDatetime | None = None
    decision: Literal["accepted", "rejected"] | None = None
    reviewed_at: AwareDatetime | None = None
    version_valid_from: AwareDatetime | None = None
    version_valid_until: AwareDatetime | None = None
    deleted_at: AwareDatetime | None = None
    reviews: list[ReviewFacts] = Field(default_factory=list)


class EvidenceEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event_id: str = Field(min_length=1)
    event_type: str = Field(pattern=r"^evidence\.")
    # A body of another shape is refused (dead-lettered) rather than misread.
    schema_version: Literal[1]
    source: str
    occurred_at: AwareDatetime
    data: EvidenceData

    def state(self, applied_at: datetime) -> ItemState:
        d = self.data
        deleted = self.event_type == DELETED
        period: dict[str, Any] = d.period.model_dump()
        return ItemState(
            item_id=d.item_id,
            title=d.title,
            evidence_type=d.evidence_type,
            owner=d.owner,
            control_ids=sorted(set(d.control_ids)),
            status="deleted" if deleted else d.status,
            # Deleted evidence never counts, whatever else the body says.
            counts=False if deleted else d.counts,
            accepted_version=d.accepted_version,
            latest_version=d.latest_version,
            valid_until=d.valid_until,
            period=period,
            updated_at=applied_at,
            last_event_id=self.event_id,
            occurred_at=self.occurred_at,
        )

    def version_facts(self) -> list[VersionFacts]:
        """Everything the event says about the item's versions (several facts may name one version)."""
        d = self.data
        deleted_at = (d.deleted_at or self.occurred_at) if self.event_type == DELETED else None
        out = [r.facts() for r in d.reviews]
        if d.version is not None and d.decision is not None and d.reviewed_at is not None:
            review = ReviewFacts(
                version=d.version,
                decision=d.decision,
                reviewed_at=d.reviewed_at,
                valid_from=d.version_valid_from,
                valid_until=d.version_valid_until,
            )
            out.append(review.facts())
        if d.version is not None and d.uploaded_at is not None:
            out.append(VersionFacts(d.version, uploaded_at=d.uploaded_at))
        if d.accepted_version is not None:
            # Accepted no later than this event said so.
            out.append(VersionFacts(d.accepted_version, accepted_at=self.occurred_at, valid_until=d.valid_until))
        if deleted_at is not None:
            out = [replace(f, deleted_at=deleted_at) for f in out]
        return out


async def apply_evidence_events(conn: asyncpg.Connection, events: list[EvidenceEvent], now: datetime) -> int:
    """Apply the events in one transaction; return how many changed an item."""
    repo = EvidenceItemRepository(conn)
    changed = 0
    for event in sorted(events, key=lambda e: e.occurred_at):
        stored = await repo.apply(event.state(now))
        merged = await repo.merge_versions(event.data.item_id, event.version_facts(), now)
        if stored or merged:
            changed += 1
        else:
            log.debug("evidence_event_not_newer", event_id=event.event_id, item_id=event.data.item_id)
    return changed
