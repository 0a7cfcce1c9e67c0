"""The evidence service's domain events, as compliance reads them, and how each one is applied.

Events arrive on ``<prefix>.domain.evidence.<event>`` (version added, reviewed, deleted). Each
carries the item's whole state after the change, so applying one is a conditional upsert: the
row takes the event's state only when the event is newer than the one the row came from. A
redelivery, or an older event arriving late, changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import asyncpg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from guardian_common import bus
from guardian_common.logging import get_logger
from guardian_compliance.evidence.repository import EvidenceItemRepository, ItemState

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


async def apply_evidence_events(conn: asyncpg.Connection, events: list[EvidenceEvent], now: datetime) -> int:
    """Apply the events in one transaction; return how many changed an item."""
    repo = EvidenceItemRepository(conn)
    changed = 0
    for event in sorted(events, key=lambda e: e.occurred_at):
        if await repo.apply(event.state(now)):
            changed += 1
        else:
            log.debug("evidence_event_not_newer", event_id=event.event_id, item_id=event.data.item_id)
    return changed
