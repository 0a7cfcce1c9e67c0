"""The gateway's durable consumer of ``audit.recorded``: every service's entries join the chain.

Each batch is appended in one transaction (under the chain's advisory lock) and acked after it
commits; an entry id already in the chain is skipped, so a redelivery, or the same event relayed
twice, appends once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import asyncpg
from nats.js import JetStreamContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from guardian_common import bus, db
from guardian_common.audit import AUDIT_EVENT
from guardian_gateway.audit.repository import AuditRepository, NewEntry
from guardian_gateway.clock import Clock

DURABLE = "gateway-audit"


class AuditActor(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    role: str
    name: str


class AuditTarget(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = Field(min_length=1)
    id: str = Field(min_length=1)


class AuditData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    entry_id: str = Field(min_length=1)
    actor: AuditActor
    action: str = Field(min_length=1)
    target: AuditTarget
    before: Any = None
    after: Any = None
    at: AwareDatetime
    source: str = Field(min_length=1)


class AuditEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event_id: str = Field(min_length=1)
    event_type: Literal["audit.recorded"]
    # Another shape is dead-lettered rather than misread into the chain.
    schema_version: Literal[1]
    source: str
    occurred_at: AwareDatetime
    data: AuditData

    def entry(self) -> NewEntry:
        d = self.data
        return NewEntry(
            entry_id=d.entry_id,
            source=d.source,
            actor=d.actor.model_dump(),
            action=d.action,
            target_type=d.target.type,
            target_id=d.target.id,
            before=d.before,
            after=d.after,
            at=d.at,
        )


async def append_events(conn: asyncpg.Connection, events: list[AuditEvent], now: datetime) -> int:
    return len(await AuditRepository(conn).append([e.entry() for e in events], now))


def build_consumer(
    js: JetStreamContext, subjects: bus.Subjects, pool: asyncpg.Pool, clock: Clock, batch_size: int = 200
) -> bus.Consumer[AuditEvent]:
    async def on_entries(batch: list[bus.Delivery[AuditEvent]]) -> None:
        async with db.transaction(pool) as conn:
            await append_events(conn, [d.event for d in batch], clock())

    return bus.Consumer(
        js=js,
        subjects=subjects,
        stream="DOMAIN",
        durable=DURABLE,
        filter_subject=subjects.domain(AUDIT_EVENT),
        model=AuditEvent,
        handler=on_entries,
        batch_size=batch_size,
    )
