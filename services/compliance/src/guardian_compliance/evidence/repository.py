"""The ``evidence_items`` table: conditional upserts from events, and the items that count now."""

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
