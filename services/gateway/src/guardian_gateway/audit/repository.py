"""Every query on the audit chain (audit_log) and on the record of exported heads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from guardian_gateway.audit.chain import GENESIS, Entry, Head, link

_COLUMNS = (
    "seq, entry_id, source, actor, action, target_type, target_id, before, after, at, recorded_at, prev_hash, hash"
)
# Appends take this transaction-scoped lock (keyed by the schema, so deployments sharing a database
# do not wait on each other): two gateway replicas never read the same head and fork the chain.
_APPEND_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_log'))"
_EXPORT_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.audit_head_exports'))"


@dataclass(frozen=True)
class NewEntry:
    """An entry as a service recorded it, before it has a place in the chain."""

    entry_id: str
    source: str
    actor: dict[str, Any]
    action: str
    target_type: str
    target_id: str
    before: Any
    after: Any
    at: datetime


@dataclass(frozen=True)
class Filters:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def entry_of(row: asyncpg.Record) -> Entry:
    return Entry(**{name: row[name] for name in Entry.__dataclass_fields__})


class AuditRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def append(self, entries: list[NewEntry], recorded_at: datetime) -> list[Entry]:
        """Chain ``entries`` in order after the current head; an entry already chained is skipped.

        Must run inside a transaction: the lock is held until it commits.
        """
        await self.conn.execute(_APPEND_LOCK)
        last = await self.conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        seq, prev = (0, GENESIS) if last is None else (last["seq"], last["hash"])
        known = {
            r["entry_id"]
            for r in await self.conn.fetch(
                "SELECT entry_id FROM audit_log WHERE entry_id = ANY($1::text[])", [e.entry_id for e in entries]
            )
        }
        appended: list[Entry] = []
        for new in entries:
            if new.entry_id in known:
                continue
            known.add(new.entry_id)
            seq += 1
            # Hash what the database will give back: jsonb rewrites some numbers (1e+16 -> 10000000000000000).
            stored = await self.conn.fetchrow("SELECT $1::jsonb AS before, $2::jsonb AS after", new.before, new.after)
            fields = {**new.__dict__, "before": stored["before"], "after": stored["after"]}
            entry = link(seq=seq, prev_hash=prev, recorded_at=recorded_at, **fields)
            await self.conn.execute(
                f"INSERT INTO audit_log ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                entry.seq,
                entry.entry_id,
                entry.source,
                entry.actor,
                entry.action,
                entry.target_type,
                entry.target_id,
                entry.before,
                entry.after,
                entry.at,
                entry.recorded_at,
                entry.prev_hash,
                entry.hash,
            )
            prev = entry.hash
            appended.append(entry)
        return appended

    async def page(self, filters: Filters, after_seq: int, limit: int) -> list[Entry]:
        where = ["seq > $1"]
        args: list[Any] = [after_seq]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if filters.actor:
            value = arg(filters.actor)
            where.append(f"(actor ->> 'id' = {value} OR actor ->> 'name' = {value})")
        if filters.action:
            if filters.action.endswith("*"):
                where.append(f"starts_with(action, {arg(filters.action[:-1])})")
            else:
                where.append(f"action = {arg(filters.action)}")
        if filters.target:
            value = arg(filters.target)
            where.append(f"(target_id = {value} OR target_type || ':' || target_id = {value})")
        if filters.since is not None:
            where.append(f"at >= {arg(filters.since)}")
        if filters.until is not None:
            where.append(f"at < {arg(filters.until)}")
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT {arg(limit)}", *args
        )
        return [entry_of(r) for r in rows]

    async def get(self, seq: int) -> Entry | None:
        row = await self.conn.fetchrow(f"SELECT {_COLUMNS} FROM audit_log WHERE seq = $1", seq)
        return None if row is None else entry_of(row)

    async def head(self) -> Head | None:
        row = await self.conn.fetchrow("SELECT seq, hash, recorded_at FROM audit_log ORDER BY seq DESC LIMIT 1")
        return None if row is None else Head(seq=row["seq"], hash=row["hash"], at=row["recorded_at"])

    async def walk(self, batch: int = 500) -> AsyncIterator[Entry]:
        """Every entry in seq order, read in batches (inside a transaction, one consistent snapshot)."""
        after = 0
        while True:
            rows = await self.conn.fetch(
                f"SELECT {_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after, batch
            )
            for row in rows:
                yield entry_of(row)
            if len(rows) < batch:
                return
            after = rows[-1]["seq"]

    async def claim_export(self) -> bool:
        """True if this replica may export now (another one holding the lock is exporting)."""
        claimed: bool = await self.conn.fetchval(_EXPORT_LOCK)
        return claimed

    async def last_export(self, destination: str) -> int:
        seq: int | None = await self.conn.fetchval(
            "SELECT max(seq) FROM audit_head_exports WHERE destination = $1", destination
        )
        return seq or 0

    async def record_export(self, destination: str, head: Head, at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO audit_head_exports (seq, destination, hash, exported_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (destination, seq) DO NOTHING",
            head.seq,
            destination,
            head.hash,
            at,
        )
