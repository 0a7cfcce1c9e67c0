"""Every query on the inventory: resources and their configuration history."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from guardian_common.events import ResourceSnapshot
from guardian_compliance.inventory.cloudtrail import EVENTS_TYPE, record_events
from guardian_compliance.inventory.normalise import canonical_json, hash_of_canonical, normalise


class InventoryRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def observe(self, snapshots: Sequence[ResourceSnapshot]) -> None:
        """Upsert resources when newer than stored; append a configuration version when it changed.

        CloudTrail event snapshots are no resources: their events are stored for drift actors.
        """
        events = [s for s in snapshots if s.resource_type == EVENTS_TYPE]
        if events:
            await record_events(self.conn, events)
            snapshots = [s for s in snapshots if s.resource_type != EVENTS_TYPE]
        if not snapshots:
            return
        latest: dict[str, ResourceSnapshot] = {}
        for snap in snapshots:
            if snap.arn not in latest or latest[snap.arn].observed_at < snap.observed_at:
                latest[snap.arn] = snap
        stored = await self.conn.fetch(
            "SELECT arn, config_hash, observed_at FROM resources WHERE arn = ANY($1::text[])", list(latest)
        )
        known = {r["arn"]: r for r in stored}
        rows: list[tuple[Any, ...]] = []
        versions: list[tuple[Any, ...]] = []
        for snap in latest.values():
            old = known.get(snap.arn)
            if old is not None and old["observed_at"] >= snap.observed_at:
                continue  # not newer than stored: nothing to normalise or write
            # One canonical JSON text per configuration: its hash, and the jsonb of both tables
            # (the server parses the text; encoding the dict again per column would cost twice).
            canonical = canonical_json(normalise(snap.configuration))
            digest = hash_of_canonical(canonical)
            rows.append(
                (
                    snap.arn,
                    snap.resource_type,
                    snap.name,
                    snap.account_id,
                    snap.region,
                    snap.collection_region,
                    snap.service,
                    json.dumps(dict(snap.tags)),
                    digest,
                    canonical,
                    snap.observed_at,
                    snap.scan_id,
                )
            )
            if old is None or old["config_hash"] != digest:
                versions.append((snap.arn, digest, snap.observed_at, snap.scan_id, canonical))
        if not rows:
            return
        # One statement per table for the batch (arns are unique in it, as ON CONFLICT DO UPDATE
        # requires): the server plans and runs each once instead of once per resource.
        await self.conn.execute(
            "INSERT INTO resources AS r (arn, resource_type, name, account_id, region, collection_region, service,"
            " tags, config_hash, configuration, observed_at, first_seen, last_seen, last_scan_id, state)"
            " SELECT k.arn, k.resource_type, k.name, k.account_id, k.region, k.collection_region, k.service,"
            " k.tags::jsonb, k.config_hash, k.configuration::jsonb, k.observed_at, k.observed_at, k.observed_at,"
            " k.scan_id, 'active' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[])"
            " AS k(arn, resource_type, name, account_id, region, collection_region, service, tags, config_hash,"
            " configuration, observed_at, scan_id)"
            " ON CONFLICT (arn) DO UPDATE SET resource_type = EXCLUDED.resource_type, name = EXCLUDED.name,"
            " region = EXCLUDED.region, collection_region = EXCLUDED.collection_region, tags = EXCLUDED.tags,"
            " config_hash = EXCLUDED.config_hash, configuration = EXCLUDED.configuration,"
            " observed_at = EXCLUDED.observed_at, last_seen = EXCLUDED.observed_at,"
            " last_scan_id = EXCLUDED.last_scan_id, state = 'active', closed_at = NULL"
            " WHERE r.observed_at < EXCLUDED.observed_at",
            *[list(column) for column in zip(*rows, strict=True)],
        )
        if versions:
            await self.conn.execute(
                "INSERT INTO resource_configs (arn, config_hash, observed_at, scan_id, configuration)"
                " SELECT k.arn, k.config_hash, k.observed_at, k.scan_id, k.configuration::jsonb"
                " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[])"
                " AS k(arn, config_hash, observed_at, scan_id, configuration) ON CONFLICT DO NOTHING",
                *[list(column) for column in zip(*versions, strict=True)],
            )

    async def close_missing(
        self,
        scan_id: str,
        account_id: str,
        collection_region: str,
        service: str,
        before: datetime,
        at: datetime,
        only: Sequence[str] | None = None,
    ) -> int:
        result: str = await self.conn.execute(
            "UPDATE resources r SET state = 'closed', closed_at = $6"
            " WHERE r.account_id = $2 AND r.collection_region = $3 AND r.service = $4 AND r.state <> 'closed'"
            " AND r.observed_at < $5 AND ($7::text[] IS NULL OR r.arn = ANY($7::text[]))"
            " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.scan_id = $1 AND e.arn = r.arn)",
            scan_id,
            account_id,
            collection_region,
            service,
            before,
            at,
            list(only) if only is not None else None,
        )
        return int(result.split()[-1])

    async def mark_stale(
        self, scan_id: str, account_id: str, collection_region: str, service: str, before: datetime
    ) -> int:
        result: str = await self.conn.execute(
            "UPDATE resources r SET state = 'stale'"
            " WHERE r.account_id = $2 AND r.collection_region = $3 AND r.service = $4 AND r.state = 'active'"
            " AND r.observed_at < $5"
            " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.scan_id = $1 AND e.arn = r.arn)",
            scan_id,
            account_id,
            collection_region,
            service,
            before,
        )
        return int(result.split()[-1])

    async def list(
        self,
        *,
        resource_type: str | None,
        account_id: str | None,
        region: str | None,
        include_closed: bool,
        limit: int,
        offset: int,
    ) -> tuple[int, list[asyncpg.Record]]:
        where = (
            " WHERE ($1::text IS NULL OR resource_type = $1) AND ($2::text IS NULL OR account_id = $2)"
            " AND ($3::text IS NULL OR region = $3) AND ($4 OR state <> 'closed')"
        )
        args = (resource_type, account_id, region, include_closed)
        total: int = await self.conn.fetchval(f"SELECT count(*) FROM resources{where}", *args)
        rows = await self.conn.fetch(
            f"SELECT * FROM resources{where} ORDER BY resource_type, arn LIMIT {int(limit)} OFFSET {int(offset)}",
            *args,
        )
        return total, rows

    async def encryption_rows(
        self, checks: Mapping[str, str], *, resource_type: str | None, account_id: str | None, region: str | None
    ) -> Sequence[asyncpg.Record]:
        """Current verdicts of the encryption-at-rest checks, with each store's stored configuration."""
        rows: Sequence[asyncpg.Record] = await self.conn.fetch(
            "SELECT f.resource_arn, f.resource_type, f.resource_name, f.account_id, f.region, f.status, f.reason,"
            " f.check_id, r.configuration FROM findings f"
            " JOIN unnest($1::text[], $2::text[]) AS k(resource_type, check_id)"
            " ON f.resource_type = k.resource_type AND f.check_id = k.check_id"
            " LEFT JOIN resources r ON r.arn = f.resource_arn"
            " WHERE f.state <> 'closed' AND f.resource_arn NOT LIKE 'guardian:collection:%'"
            " AND ($3::text IS NULL OR f.resource_type = $3) AND ($4::text IS NULL OR f.account_id = $4)"
            " AND ($5::text IS NULL OR f.region = $5)",
            list(checks),
            list(checks.values()),
            resource_type,
            account_id,
            region,
        )
        return rows
