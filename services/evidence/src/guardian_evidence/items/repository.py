"""Every query on the evidence tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


class EvidenceRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert_item(self, item: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO items (item_id, title, description, evidence_type, owner, control_ids, frequency,"
            " period_label, period_start, period_end, created_by, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            item["item_id"],
            item["title"],
            item["description"],
            item["evidence_type"],
            item["owner"],
            item["control_ids"],
            item["frequency"],
            item["period_label"],
            item["period_start"],
            item["period_end"],
            item["created_by"],
            item["created_at"],
        )

    async def item(self, item_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
        sql = "SELECT * FROM items WHERE item_id = $1" + (" FOR UPDATE" if for_update else "")
        row: asyncpg.Record | None = await self.conn.fetchrow(sql, item_id)
        return row

    async def next_version(self, item_id: str) -> int:
        value: int = await self.conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM versions WHERE item_id = $1", item_id
        )
        return value

    async def insert_version(self, version: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO versions (item_id, version, backend, storage_key, filename, media_type, size_bytes, sha256,"
            " uploaded_by, uploaded_by_key, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            version["item_id"],
            version["version"],
            version["backend"],
            version["storage_key"],
            version["filename"],
            version["media_type"],
            version["size_bytes"],
            version["sha256"],
            version["uploaded_by"],
            version["uploaded_by_key"],
            version["uploaded_at"],
        )

    async def version(self, item_id: str, version: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT v.*, r.decision FROM versions v LEFT JOIN reviews r USING (item_id, version)"
            " WHERE v.item_id = $1 AND v.version = $2",
            item_id,
            version,
        )
        return row

    async def insert_review(self, review: dict[str, Any]) -> bool:
        """False when the version already has its review."""
        inserted = await self.conn.fetchval(
            "INSERT INTO reviews (item_id, version, decision, comment, reviewer, reviewer_key, reviewed_at,"
            " valid_from, valid_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (item_id, version) DO NOTHING RETURNING 1",
            review["item_id"],
            review["version"],
            review["decision"],
            review["comment"],
            review["reviewer"],
            review["reviewer_key"],
            review["reviewed_at"],
            review["valid_from"],
            review["valid_until"],
        )
        return inserted is not None

    async def set_lock(self, item_id: str, locked_until: Any) -> None:
        await self.conn.execute("UPDATE items SET locked_until = $2 WHERE item_id = $1", item_id, locked_until)

    async def search(
        self,
        *,
        control: str | None,
        evidence_type: str | None,
        owner: str | None,
        text: str | None,
        created_before: datetime | None = None,
    ) -> list[asyncpg.Record]:
        clauses: list[str] = []
        args: list[Any] = []

        def add(clause: str, value: Any) -> None:
            args.append(value)
            clauses.append(clause.format(p=f"${len(args)}"))

        if control:
            add("{p} = ANY(i.control_ids)", control)
        if evidence_type:
            add("i.evidence_type = {p}", evidence_type)
        if owner:
            add("lower(i.owner) = lower({p})", owner)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            add(
                "(i.title ILIKE {p} OR i.description ILIKE {p} OR coalesce(i.period_label, '') ILIKE {p}"
                " OR EXISTS (SELECT 1 FROM versions v WHERE v.item_id = i.item_id AND v.filename ILIKE {p}))",
                pattern,
            )
        if created_before is not None:
            add("i.created_at < {p}", created_before)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT i.* FROM items i{where} ORDER BY i.created_at DESC, i.item_id", *args
        )
        return rows

    async def versions_of(self, item_ids: list[str]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT v.*, r.decision, r.comment, r.reviewer, r.reviewed_at, r.valid_from, r.valid_until"
            " FROM versions v LEFT JOIN reviews r USING (item_id, version)"
            " WHERE v.item_id = ANY($1::text[]) ORDER BY v.item_id, v.version",
            item_ids,
        )
        return rows

    async def insert_tombstone(self, tombstone: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO tombstones (item_id, deleted_by, deleted_by_key, deleted_at, reason, item)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            tombstone["item_id"],
            tombstone["deleted_by"],
            tombstone["deleted_by_key"],
            tombstone["deleted_at"],
            tombstone["reason"],
            tombstone["item"],
        )

    async def delete_item(self, item_id: str) -> None:
        await self.conn.execute("DELETE FROM items WHERE item_id = $1", item_id)

    async def tombstones(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch("SELECT * FROM tombstones ORDER BY deleted_at DESC")
        return rows
