"""The hash chain itself: canonical form of an entry, its hash, and how a chain is checked.

An entry's hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8, timestamps in UTC
with microseconds) of every field that says what happened, its position and the previous entry's
hash. Changing any field of any entry, removing one or inserting one breaks the chain from that
entry on; rewriting the whole chain consistently is caught by comparing with heads exported
outside the database (:func:`check_heads`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The prev_hash of the first entry.
GENESIS = "0" * 64


def canonical_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class Entry:
    """One link of the chain, as stored."""

    seq: int
    entry_id: str
    source: str
    actor: dict[str, Any]
    action: str
    target_type: str
    target_id: str
    before: Any
    after: Any
    at: datetime
    recorded_at: datetime
    prev_hash: str
    hash: str

    def hashed_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "entry_id": self.entry_id,
            "source": self.source,
            "actor": self.actor,
            "action": self.action,
            "target": {"type": self.target_type, "id": self.target_id},
            "before": self.before,
            "after": self.after,
            "at": canonical_time(self.at),
            "recorded_at": canonical_time(self.recorded_at),
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.hashed_fields()).encode()).hexdigest()


@dataclass(frozen=True)
class Head:
    """The last entry of the chain at some moment: what is exported outside the database."""

    seq: int
    hash: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": canonical_time(self.at)}

    @classmethod
    def from_json(cls, data: Any) -> Head:
        if not isinstance(data, dict):
            raise ValueError("a chain head is a JSON object with seq, hash and at")
        seq, digest, at = data.get("seq"), data.get("hash"), data.get("at")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError(f"a chain head's seq is a positive integer, not {seq!r}")
        if not isinstance(digest, str) or len(digest) != 64:
            raise ValueError("a chain head's hash is 64 hexadecimal characters")
        if not isinstance(at, str):
            raise ValueError("a chain head's at is an ISO 8601 time")
        return cls(seq=seq, hash=digest.lower(), at=datetime.fromisoformat(at.replace("Z", "+00:00")))


@dataclass(frozen=True)
class Break:
    """The first entry at which the chain stops being trustworthy, and why."""

    seq: int
    entry_id: str | None
    reason: str


@dataclass(frozen=True)
class Verdict:
    entries: int
    head: Head | None
    heads_checked: int
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def link(
    *,
    seq: int,
    entry_id: str,
    source: str,
    actor: dict[str, Any],
    action: str,
    target_type: str,
    target_id: str,
    before: Any,
    after: Any,
    at: datetime,
    recorded_at: datetime,
    prev_hash: str,
) -> Entry:
    """A new entry chained after ``prev_hash``, with its hash computed."""
    draft = Entry(
        seq=seq,
        entry_id=entry_id,
        source=source,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        at=at,
        recorded_at=recorded_at,
        prev_hash=prev_hash,
        hash="",
    )
    return Entry(**{**draft.__dict__, "hash": draft.computed_hash()})


class ChainWalker:
    """Checks entries one by one, in seq order; remembers the first break and every hash by seq."""

    def __init__(self, wanted: Iterable[int] = ()) -> None:
        self.entries = 0
        self.last: Entry | None = None
        self.broken: Break | None = None
        self._wanted = set(wanted)
        self.hashes: dict[int, tuple[str, str]] = {}

    def feed(self, entry: Entry) -> None:
        self.entries += 1
        if entry.seq in self._wanted:
            self.hashes[entry.seq] = (entry.hash, entry.entry_id)
        if self.broken is None:
            self.broken = self._check(entry)
        self.last = entry

    def _check(self, entry: Entry) -> Break | None:
        expected_seq = 1 if self.last is None else self.last.seq + 1
        if entry.seq != expected_seq:
            return Break(
                expected_seq if entry.seq > expected_seq else entry.seq,
                None if entry.seq > expected_seq else entry.entry_id,
                f"entry {expected_seq} is missing (the chain jumps to {entry.seq})"
                if entry.seq > expected_seq
                else f"seq {entry.seq} appears out of order after {expected_seq - 1}",
            )
        expected_prev = GENESIS if self.last is None else self.last.hash
        if entry.prev_hash != expected_prev:
            return Break(entry.seq, entry.entry_id, "its prev_hash is not the hash of the entry before it")
        if entry.computed_hash() != entry.hash:
            return Break(entry.seq, entry.entry_id, "its content does not match its hash (the entry was changed)")
        return None


def check_heads(walker: ChainWalker, heads: Iterable[Head]) -> Break | None:
    """Compare the stored chain with heads exported earlier: the first mismatch, by seq."""
    for head in sorted(heads, key=lambda h: h.seq):
        found = walker.hashes.get(head.seq)
        if found is None:
            return Break(
                head.seq,
                None,
                f"entry {head.seq} was exported as a chain head on {canonical_time(head.at)} but is no longer"
                " in the chain (the chain was truncated)",
            )
        stored, entry_id = found
        if stored != head.hash:
            return Break(
                head.seq,
                entry_id,
                f"its hash differs from the chain head exported on {canonical_time(head.at)} (the chain was rewritten)",
            )
    return None


async def verify(entries: AsyncIterable[Entry], heads: Iterable[Head] = ()) -> Verdict:
    """Walk the whole chain once; the first break in the chain itself, else the first head mismatch."""
    heads = list(heads)
    walker = ChainWalker(h.seq for h in heads)
    async for entry in entries:
        walker.feed(entry)
    found = [b for b in (walker.broken, check_heads(walker, heads)) if b is not None]
    broken = min(found, key=lambda b: b.seq) if found else None
    head = None if walker.last is None else Head(walker.last.seq, walker.last.hash, walker.last.recorded_at)
    return Verdict(entries=walker.entries, head=head, heads_checked=len(heads), broken=broken)
