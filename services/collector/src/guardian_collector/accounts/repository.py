"""Every query on the accounts registry."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from guardian_collector.accounts.schemas import AccountOut

COLUMNS = (
    "account_id, name, role_arn, external_id, environment, tags, regions, exclude_regions, services,"
    " exclude_services, source, management_account_id, org_status, state, retired_reason, retired_at,"
    " created_by, created_at, updated_at"
)
SETTABLE = (
    "name",
    "role_arn",
    "external_id",
    "environment",
    "tags",
    "regions",
    "exclude_regions",
    "services",
    "exclude_services",
)


def _list(value: Any) -> list[str] | None:
    return list(value) if value is not None else None


def to_out(row: asyncpg.Record) -> AccountOut:
    data = dict(row)
    external_id = data.pop("external_id")
    data["tags"] = dict(data["tags"])
    for key in ("regions", "services"):
        data[key] = _list(data[key])
    for key in ("exclude_regions", "exclude_services"):
        data[key] = list(data[key])
    return AccountOut(**data, has_external_id=bool(external_id))


class AccountRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, account_id: str, *, lock: bool = False) -> asyncpg.Record | None:
        suffix = " FOR UPDATE" if lock else ""
        row: asyncpg.Record | None = await self.conn.fetchrow(
            f"SELECT {COLUMNS} FROM accounts WHERE account_id = $1{suffix}", account_id
        )
        return row

    async def find(self, state: str | None, environment: str | None) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT {COLUMNS} FROM accounts WHERE ($1::text IS NULL OR state = $1)"
            " AND ($2::text IS NULL OR environment = $2) ORDER BY name, account_id",
            state,
            environment,
        )
        return rows

    async def insert(self, values: dict[str, Any], at: datetime) -> asyncpg.Record:
        row: asyncpg.Record = await self.conn.fetchrow(
            "INSERT INTO accounts (account_id, name, role_arn, external_id, environment, tags, regions,"
            " exclude_regions, services, exclude_services, source, management_account_id, org_status,"
            " created_by, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)"
            f" RETURNING {COLUMNS}",
            values["account_id"],
            values["name"],
            values.get("role_arn"),
            values.get("external_id"),
            values.get("environment"),
            values.get("tags") or {},
            values.get("regions"),
            values.get("exclude_regions") or [],
            values.get("services"),
            values.get("exclude_services") or [],
            values["source"],
            values.get("management_account_id"),
            values.get("org_status"),
            values.get("created_by"),
            at,
        )
        return row

    async def update(self, account_id: str, changes: dict[str, Any], at: datetime) -> asyncpg.Record:
        """Set the given columns (names from :data:`SETTABLE` or the registry's own) and ``updated_at``."""
        assignments = []
        args: list[Any] = [account_id, at]
        for column, value in changes.items():
            args.append(value)
            assignments.append(f"{column} = ${len(args)}")
        row: asyncpg.Record = await self.conn.fetchrow(
            f"UPDATE accounts SET {', '.join([*assignments, 'updated_at = $2'])} WHERE account_id = $1"
            f" RETURNING {COLUMNS}",
            *args,
        )
        return row

    async def event(
        self, account_id: str, action: str, actor: str | None, detail: dict[str, Any], at: datetime
    ) -> None:
        await self.conn.execute(
            "INSERT INTO account_events (account_id, action, actor, detail, at) VALUES ($1, $2, $3, $4, $5)",
            account_id,
            action,
            actor,
            json.loads(json.dumps(detail, default=str)),
            at,
        )
