"""The ``evidence_items`` table (each item's newest state) and ``evidence_versions`` (its versions' history)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

# The outbox number at the end of an event id ("evidence:outbox:42"): the order of two events
# of one item that happened at the same instant.
_SEQ = "COALESCE(substring({} FROM ':([0-9]+)$')::bigint, 0)"

UPSERT = f"""
INSERT INTO evidence_items (
    item_id, title, evidence_type, owner, control_ids, status, counts, accepted_version,
    latest_version, valid_until, period, updated_at, last_event_id, occurred_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (item_id) DO UPDATE SET
    title = EXCLUDED.title,
    evidence_type = EXCLUDED.evidence_type,
    owner = EXCLUDED.owner,
    control_ids = EXCLUDED.control_ids,
    status = EXCLUDED.status,
    counts = EXCLUDED.counts,
    accepted_version = EXCLUDED.accepted_version,
    latest_version = EXCLUDED.latest_version,
    valid_until = EXCLUDED.valid_until,
    period = EXCLUDED.period,
    updated_at = EXCLUDED.updated_at,
    last_event_id = EXCLUDED.last_event_id,
    occurred_at = EXCLUDED.occurred_at
WHERE evidence_items.occurred_at < EXCLUDED.occurred_at
   OR (
        evidence_items.occurred_at = EXCLUDED.occurred_at
        AND {_SEQ.format("evidence_items.last_event_id")} < {_SEQ.format("EXCLUDED.last_event_id")}
   )
RETURNING item_id
"""


# Merge one version's facts into its row: each fact keeps the first value learnt, except that an
# exact review time replaces an upper bound and the earliest of two upper bounds wins.
MERGE_VERSION = """
INSERT INTO evidence_versions AS v (
    item_id, version, uploaded_at, accepted_at, accepted_at_exact, rejected_at, valid_from, valid_until,
    deleted_at, updated_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (item_id, version) DO UPDATE SET
    uploaded_at = COALESCE(v.uploaded_at, EXCLUDED.uploaded_at),
    accepted_at = CASE
        WHEN v.accepted_at_exact THEN v.accepted_at
        WHEN EXCLUDED.accepted_at_exact THEN EXCLUDED.accepted_at
        ELSE LEAST(v.accepted_at, EXCLUDED.accepted_at)
    END,
    accepted_at_exact = v.accepted_at_exact OR EXCLUDED.accepted_at_exact,
    rejected_at = COALESCE(v.rejected_at, EXCLUDED.rejected_at),
    valid_from = COALESCE(v.valid_from, EXCLUDED.valid_from),
    valid_until = COALESCE(v.valid_until, EXCLUDED.valid_until),
    deleted_at = LEAST(v.deleted_at, EXCLUDED.deleted_at),
    updated_at = EXCLUDED.updated_at
WHERE (v.uploaded_at, v.accepted_at, v.accepted_at_exact, v.rejected_at, v.valid_from, v.valid_until, v.deleted_at)
    IS DISTINCT FROM (
        COALESCE(v.uploaded_at, EXCLUDED.uploaded_at),
        CASE
            WHEN v.accepted_at_exact THEN v.accepted_at
            WHEN EXCLUDED.accepted_at_exact THEN EXCLUDED.accepted_at
            ELSE LEAST(v.accepted_at, EXCLUDED.accepted_at)
        END,
        v.accepted_at_exact OR EXCLUDED.accepted_at_exact,
        COALESCE(v.rejected_at, EXCLUDED.rejected_at),
        COALESCE(v.valid_from, EXCLUDED.valid_from),
        COALESCE(v.valid_until, EXCLUDED.valid_until),
        LEAST(v.deleted_at, EXCLUDED.deleted_at)
    )
RETURNING item_id
"""

# Deleting an item marks every version compliance knows of it, whenever those rows arrive.
MARK_DELETED = """
UPDATE evidence_versions v SET deleted_at = i.occurred_at, updated_at = $2
FROM evidence_items i
WHERE v.item_id = $1 AND i.item_id = $1 AND i.status = 'deleted' AND v.deleted_at IS NULL
"""

# An accepted version stops being the item's current one when a higher version is accepted (never
# before its own acceptance). Derived from the set of rows, so the order they arrived in is moot.
SUPERSEDE = """
UPDATE evidence_versions v SET superseded_at = n.at, updated_at = $2
FROM (
    -- GREATEST skips NULL: a version no higher one superseded keeps NULL explicitly.
    SELECT a.version,
           CASE WHEN min(b.accepted_at) IS NOT NULL THEN GREATEST(a.accepted_at, min(b.accepted_at)) END AS at
    FROM evidence_versions a
    LEFT JOIN evidence_versions b
        ON b.item_id = a.item_id AND b.version > a.version AND b.accepted_at IS NOT NULL
    WHERE a.item_id = $1 AND a.accepted_at IS NOT NULL
    GROUP BY a.version, a.accepted_at
) n
WHERE v.item_id = $1 AND v.version = n.version AND v.superseded_at IS DISTINCT FROM n.at
"""


@dataclass(frozen=True)
class VersionFacts:
    """What one event says about one version; None where it says nothing."""

    version: int
    uploaded_at: datetime | None = None
    accepted_at: datetime | None = None
    accepted_at_exact: bool = False
    rejected_at: datetime | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class ItemState:
    item_id: str
    title: str
    evidence_type: str
    owner: str | None
    control_ids: list[str]
    status: str
    counts: bool
    accepted_version: int | None
    latest_version: int | None
    valid_until: datetime | None
    period: dict[str, Any]
    updated_at: datetime
    last_event_id: str
    occurred_at: datetime


class EvidenceItemRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def apply(self, s: ItemState) -> bool:
        """Store ``s`` unless the row already holds a newer (or the same) event; True when stored."""
        row = await self.conn.fetchrow(
            UPSERT,
            s.item_id,
            s.title,
            s.evidence_type,
            s.owner,
            s.control_ids,
            s.status,
            s.counts,
            s.accepted_version,
            s.latest_version,
            s.valid_until,
            s.period,
            s.updated_at,
            s.last_event_id,
            s.occurred_at,
        )
        return row is not None

    async def merge_versions(self, item_id: str, facts: Sequence[VersionFacts], now: datetime) -> bool:
        """Merge ``facts`` into the item's version rows; True when any row changed."""
        changed = False
        for f in facts:
            row = await self.conn.fetchrow(
                MERGE_VERSION,
                item_id,
                f.version,
                f.uploaded_at,
                f.accepted_at,
                f.accepted_at_exact,
                f.rejected_at,
                f.valid_from,
                f.valid_until,
                f.deleted_at,
                now,
            )
            changed = changed or row is not None
        await self.conn.execute(MARK_DELETED, item_id, now)
        await self.conn.execute(SUPERSEDE, item_id, now)
        return changed

    async def versions(self, item_ids: Sequence[str]) -> list[asyncpg.Record]:
        """The known versions of ``item_ids``, oldest first per item."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM evidence_versions WHERE item_id = ANY($1::text[]) ORDER BY item_id, version",
            list(item_ids),
        )
        return rows

    async def counting(self, now: datetime, control_ids: Sequence[str]) -> list[asyncpg.Record]:
        """Items that count at ``now`` for any of ``control_ids``: accepted, not deleted, not expired."""
        if not control_ids:
            return []
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT item_id, evidence_type, control_ids, accepted_version, valid_until FROM evidence_items"
            " WHERE counts AND status <> 'deleted' AND valid_until IS NOT NULL AND valid_until > $1"
            " AND control_ids && $2::text[] ORDER BY item_id",
            now,
            list(control_ids),
        )
        return rows

    async def for_control(self, control_id: str) -> list[asyncpg.Record]:
        """Every item (deleted ones excluded) that names ``control_id``."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM evidence_items WHERE control_ids @> ARRAY[$1]::text[] AND status <> 'deleted'"
            " ORDER BY evidence_type, title, item_id",
            control_id,
        )
        return rows

    async def get(self, item_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT * FROM evidence_items WHERE item_id = $1", item_id
        )
        return row
