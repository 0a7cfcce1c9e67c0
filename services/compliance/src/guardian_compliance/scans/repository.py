"""Every query on compliance's scans, units, collection errors, dead letters and catalogues."""

from __future__ import annotations

from typing import Any

import asyncpg

from guardian_common.events import CheckCatalogue, CollectionError, DeadLetter, ScanCompleted, ScanStarted
from guardian_compliance.posture.status import CatalogueEntry


class ScanRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def started(self, event: ScanStarted) -> None:
        # The account as the registry names it now (environment may change between scans).
        await self.conn.execute(
            "INSERT INTO accounts (account_id, name, environment, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4)"
            " ON CONFLICT (account_id) DO UPDATE SET name = COALESCE(EXCLUDED.name, accounts.name),"
            " environment = EXCLUDED.environment, last_seen = GREATEST(accounts.last_seen, EXCLUDED.last_seen)",
            event.account_id,
            event.account_name,
            event.environment,
            event.started_at,
        )
        await self.conn.execute(
            "INSERT INTO scans (scan_id, account_id, regions, services, started_at, targets)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (scan_id) DO UPDATE SET account_id = EXCLUDED.account_id, regions = EXCLUDED.regions,"
            " services = EXCLUDED.services, started_at = EXCLUDED.started_at,"
            " targets = COALESCE(EXCLUDED.targets, scans.targets)",
            event.scan_id,
            event.account_id,
            event.regions,
            event.services,
            event.started_at,
            event.targets,
        )

    async def completed(self, event: ScanCompleted) -> None:
        await self.conn.execute(
            "INSERT INTO scans (scan_id, account_id, collected_at, total_snapshots, state, targets)"
            " VALUES ($1, $2, $3, $4, 'evaluating', $5)"
            " ON CONFLICT (scan_id) DO UPDATE SET account_id = EXCLUDED.account_id,"
            " collected_at = EXCLUDED.collected_at, total_snapshots = EXCLUDED.total_snapshots,"
            " state = CASE WHEN scans.state = 'collecting' THEN 'evaluating' ELSE scans.state END,"
            " targets = COALESCE(EXCLUDED.targets, scans.targets)",
            event.scan_id,
            event.account_id,
            event.completed_at,
            event.total_snapshots,
            event.targets,
        )
        await self.conn.executemany(
            "INSERT INTO scan_units (scan_id, region, service, status, snapshots, errors, first_error)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            [
                (event.scan_id, u.region, u.service, u.status.value, u.snapshots, u.errors, u.first_error)
                for u in event.units
            ],
        )

    async def collection_error(self, event: CollectionError) -> None:
        await self.conn.execute(
            "INSERT INTO collection_errors (event_id, scan_id, account_id, region, service, operation, error_code,"
            " message, resource_arn, observed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT DO NOTHING",
            event.event_id,
            event.scan_id,
            event.account_id,
            event.region,
            event.service,
            event.operation,
            event.error_code,
            event.message,
            event.resource_arn,
            event.observed_at,
        )

    async def lock(self, scan_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT * FROM scans WHERE scan_id = $1 FOR UPDATE", scan_id
        )
        return row

    async def get(self, scan_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow("SELECT * FROM scans WHERE scan_id = $1", scan_id)
        return row

    async def units(self, scan_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM scan_units WHERE scan_id = $1 ORDER BY region, service", scan_id
        )
        return rows

    async def evaluated_seqs(self, scan_id: str) -> set[int]:
        rows = await self.conn.fetch("SELECT seq FROM evaluations WHERE scan_id = $1", scan_id)
        return {r["seq"] for r in rows}

    async def finish(
        self, scan_id: str, state: str, partial: bool, missing: Any, catalogue_version: str | None
    ) -> None:
        await self.conn.execute(
            "UPDATE scans SET state = $2, partial = $3, missing = $4, finalised_at = now(),"
            " catalogue_version = $5 WHERE scan_id = $1",
            scan_id,
            state,
            partial,
            missing,
            catalogue_version,
        )

    async def overdue(self, seconds: float) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT scan_id FROM scans WHERE state IN ('collecting', 'evaluating')"
            " AND COALESCE(collected_at, started_at, created_at) < now() - make_interval(secs => $1)",
            seconds,
        )
        return [r["scan_id"] for r in rows]

    async def latest_final(self, account_id: str | None = None) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT * FROM scans WHERE state IN ('final', 'incomplete')"
            " AND ($1::text IS NULL OR account_id = $1) ORDER BY finalised_at DESC LIMIT 1",
            account_id,
        )
        return row

    async def recent(self, limit: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM scans ORDER BY created_at DESC LIMIT $1", limit
        )
        return rows

    async def collected_services(self) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT u.service FROM scan_units u JOIN scans s USING (scan_id)"
            " WHERE u.status IN ('complete', 'partial') AND s.state IN ('final', 'incomplete')"
        )
        return {r["service"] for r in rows}

    async def collected_units(self) -> set[tuple[str | None, str, str]]:
        """(account, region, service) units read completely or partly by some final scan."""
        rows = await self.conn.fetch(
            "SELECT DISTINCT s.account_id, u.region, u.service FROM scan_units u JOIN scans s USING (scan_id)"
            " WHERE u.status IN ('complete', 'partial') AND s.state IN ('final', 'incomplete')"
        )
        return {(r["account_id"], r["region"], r["service"]) for r in rows}

    async def latest_final_in(self, account_ids: list[str] | None) -> asyncpg.Record | None:
        """The newest final scan of any of ``account_ids`` (of any account when None or empty)."""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            "SELECT * FROM scans WHERE state IN ('final', 'incomplete')"
            " AND (cardinality($1::text[]) = 0 OR account_id = ANY($1::text[])) ORDER BY finalised_at DESC LIMIT 1",
            account_ids or [],
        )
        return row

    async def errors(self, scan_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM collection_errors WHERE scan_id = $1 ORDER BY event_id", scan_id
        )
        return rows

    # Dead letters ---------------------------------------------------------------------------

    async def dead_letter(self, letter: DeadLetter) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO dead_letters (event_id, consumer, source_subject, reason, scan_id, seq, arn, resource_type,"
            " dead_lettered_at, payload_excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            letter.event_id,
            letter.consumer,
            letter.source_subject,
            letter.reason,
            letter.scan_id,
            letter.seq,
            letter.arn,
            letter.resource_type,
            letter.dead_lettered_at,
            letter.payload_excerpt,
        )
        return inserted is not None

    async def dead_letters(self, scan_id: str | None, limit: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM dead_letters WHERE ($1::text IS NULL OR scan_id = $1)"
            " ORDER BY dead_lettered_at DESC LIMIT $2",
            scan_id,
            limit,
        )
        return rows

    async def dead_letter_count(self, scan_id: str) -> int:
        value: int = await self.conn.fetchval("SELECT count(*) FROM dead_letters WHERE scan_id = $1", scan_id)
        return value

    # Catalogue ------------------------------------------------------------------------------

    async def store_catalogue(self, catalogue: CheckCatalogue) -> None:
        await self.conn.execute(
            "INSERT INTO catalogues (catalogue_version, checks) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            catalogue.catalogue_version,
            [c.model_dump(mode="json") for c in catalogue.checks],
        )

    async def latest_catalogue(
        self,
    ) -> tuple[str | None, dict[str, CatalogueEntry], dict[str, dict[str, Any]]]:
        row = await self.conn.fetchrow(
            "SELECT catalogue_version, checks FROM catalogues ORDER BY received_at DESC LIMIT 1"
        )
        if row is None:
            return None, {}, {}
        entries = {
            c["id"]: CatalogueEntry(
                title=c["title"], severity=c["severity"], service=c["service"], version=c["version"]
            )
            for c in row["checks"]
        }
        return row["catalogue_version"], entries, {c["id"]: c for c in row["checks"]}
