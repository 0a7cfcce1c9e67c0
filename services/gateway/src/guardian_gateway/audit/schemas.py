from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from guardian_gateway.audit.chain import Break, Entry, Head


class ActorOut(BaseModel):
    id: str
    role: str
    name: str


class TargetOut(BaseModel):
    type: str
    id: str


class AuditEntryOut(BaseModel):
    seq: int = Field(description="Position in the chain, from 1, without gaps")
    entry_id: str
    source: str = Field(description="The service that made the change")
    actor: ActorOut
    action: str = Field(description="<noun>.<verb>, e.g. scope.updated")
    target: TargetOut
    before: Any = Field(description="The target before the change; null for a creation")
    after: Any = Field(description="The target after the change; null for a deletion")
    at: datetime = Field(description="When the change was made")
    recorded_at: datetime = Field(description="When the entry joined the chain")
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: Entry) -> AuditEntryOut:
        return cls(
            seq=entry.seq,
            entry_id=entry.entry_id,
            source=entry.source,
            actor=ActorOut(
                id=str(entry.actor.get("id", "")),
                role=str(entry.actor.get("role", "")),
                name=str(entry.actor.get("name", "")),
            ),
            action=entry.action,
            target=TargetOut(type=entry.target_type, id=entry.target_id),
            before=entry.before,
            after=entry.after,
            at=entry.at,
            recorded_at=entry.recorded_at,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_after: int | None = Field(description="Pass as 'after' for the next page; null on the last page")


class HeadOut(BaseModel):
    seq: int
    hash: str
    at: datetime

    @classmethod
    def of(cls, head: Head) -> HeadOut:
        return cls(seq=head.seq, hash=head.hash, at=head.at)


class BreakOut(BaseModel):
    seq: int = Field(description="The first entry that cannot be trusted")
    entry_id: str | None
    reason: str

    @classmethod
    def of(cls, broken: Break) -> BreakOut:
        return cls(seq=broken.seq, entry_id=broken.entry_id, reason=broken.reason)


class VerifyOut(BaseModel):
    intact: bool
    entries: int = Field(description="Entries checked")
    head: HeadOut | None = Field(description="The last entry of the chain")
    heads_checked: int = Field(description="Exported chain heads compared with the chain")
    heads_source: str | None = Field(description="Where the exported heads were read from; null if none configured")
    broken: BreakOut | None = Field(description="The first broken entry and why; null when intact")
