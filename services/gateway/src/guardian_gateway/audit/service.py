"""Reading and verifying the audit chain."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from guardian_common.errors import GuardianError, NotFound
from guardian_gateway.audit import chain
from guardian_gateway.audit.export import HeadSink, HeadsUnreadable
from guardian_gateway.audit.repository import AuditRepository, Filters
from guardian_gateway.audit.schemas import AuditEntryOut, AuditPage, BreakOut, HeadOut, VerifyOut


class HeadsUnavailable(GuardianError):
    code = "audit_heads_unreadable"
    status = 503


@dataclass
class AuditService:
    pool: asyncpg.Pool
    sink: HeadSink | None = None

    async def page(self, filters: Filters, after: int, limit: int) -> AuditPage:
        async with self.pool.acquire() as conn:
            # One more than asked tells whether another page follows.
            entries = await AuditRepository(conn).page(filters, after, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return AuditPage(
            items=[AuditEntryOut.of(e) for e in entries],
            next_after=entries[-1].seq if more and entries else None,
        )

    async def head(self) -> HeadOut:
        async with self.pool.acquire() as conn:
            head = await AuditRepository(conn).head()
        if head is None:
            raise NotFound("The audit log has no entries yet.", code="audit_log_empty")
        return HeadOut.of(head)

    async def verify(self) -> VerifyOut:
        heads: list[chain.Head] = []
        if self.sink is not None:
            try:
                heads = await self.sink.read()
            except HeadsUnreadable as exc:
                raise HeadsUnavailable(f"The exported chain heads could not be read: {exc}") from exc
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            verdict = await chain.verify(AuditRepository(conn).walk(), heads)
        return VerifyOut(
            intact=verdict.intact,
            entries=verdict.entries,
            head=None if verdict.head is None else HeadOut.of(verdict.head),
            heads_checked=verdict.heads_checked,
            heads_source=None if self.sink is None else self.sink.destination,
            broken=None if verdict.broken is None else BreakOut.of(verdict.broken),
        )
