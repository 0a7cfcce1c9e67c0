"""Every query on the remediation service's tables."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import asyncpg


def content_of(
    plan: asyncpg.Record | dict[str, Any], items: list[asyncpg.Record] | list[dict[str, Any]]
) -> dict[str, Any]:
    """What an approver approves: the action, its parameters, and per resource the calls and the state read."""
    return {
        "action_id": plan["action_id"],
        "action_version": plan["action_version"],
        "check_id": plan["check_id"],
        "parameters": plan["parameters"],
        "items": [
            {
                "resource_arn": i["resource_arn"],
                "disposition": i["disposition"],
                "state_hash": i["state_hash"],
                "calls": i["calls"],
                "steps": i["steps"],
                "expected": i["expected"],
            }
            for i in sorted(items, key=lambda i: int(i["position"]))
        ],
    }


def content_hash(content: dict[str, Any]) -> str:
    body = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class PlanRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def insert_plan(self, plan: dict[str, Any], items: list[dict[str, Any]]) -> None:
        await self.conn.execute(
            "INSERT INTO plans (plan_id, action_id, action_version, parameters, check_id, selection, state,"
            " content_hash, requested_by, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, 'proposed', $7, $8, $9, $9)",
            plan["plan_id"],
            plan["action_id"],
            plan["action_version"],
            plan["parameters"],
            plan["check_id"],
            plan["selection"],
            plan["content_hash"],
            plan["requested_by"],
            plan["created_at"],
        )
        await self.conn.executemany(
            "INSERT INTO plan_items (plan_id, position, resource_arn, resource_name, resource_type, account_id,"
            " region, disposition, state_before, state_hash, calls, steps, expected, warnings)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            [
                (
                    plan["plan_id"],
                    i["position"],
                    i["resource_arn"],
                    i["resource_name"],
                    i["resource_type"],
                    i["account_id"],
                    i["region"],
                    i["disposition"],
                    i["state_before"],
                    i["state_hash"],
                    i["calls"],
                    i["steps"],
                    i["expected"],
                    i["warnings"],
                )
                for i in items
            ],
        )

    async def plan(self, plan_id: str, *, lock: bool = False) -> asyncpg.Record | None:
        sql = "SELECT * FROM plans WHERE plan_id = $1" + (" FOR UPDATE" if lock else "")
        row: asyncpg.Record | None = await self.conn.fetchrow(sql, plan_id)
        return row

    async def items(self, plan_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM plan_items WHERE plan_id = $1 ORDER BY position", plan_id
        )
        return rows

    async def set_state(self, plan_id: str, state: str, at: datetime, **extra: Any) -> None:
        sets = ["state = $2", "updated_at = $3"]
        values: list[Any] = [plan_id, state, at]
        for column, value in extra.items():
            values.append(value)
            sets.append(f"{column} = ${len(values)}")
        await self.conn.execute(f"UPDATE plans SET {', '.join(sets)} WHERE plan_id = $1", *values)

    async def approval(self, plan_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow("SELECT * FROM approvals WHERE plan_id = $1", plan_id)
        return row

    async def insert_approval(self, approval: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO approvals (approval_id, plan_id, decision, content_hash, decided_by, self_approved, reason,"
            " decided_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            approval["approval_id"],
            approval["plan_id"],
            approval["decision"],
            approval["content_hash"],
            approval["decided_by"],
            approval["self_approved"],
            approval["reason"],
            approval["decided_at"],
            approval["expires_at"],
        )

    async def execution(self, plan_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow("SELECT * FROM executions WHERE plan_id = $1", plan_id)
        return row

    async def start_execution(self, execution: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO executions (execution_id, plan_id, approval_id, executed_by, started_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            execution["execution_id"],
            execution["plan_id"],
            execution["approval_id"],
            execution["executed_by"],
            execution["started_at"],
        )

    async def finish_execution(
        self, execution_id: str, finished_at: datetime, summary: dict[str, int], results: list[dict[str, Any]]
    ) -> None:
        await self.conn.executemany(
            "INSERT INTO results (execution_id, position, resource_arn, outcome, detail, calls_made, state_after, at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    execution_id,
                    r["position"],
                    r["resource_arn"],
                    r["outcome"],
                    r["detail"],
                    r["calls_made"],
                    r["state_after"],
                    r["at"],
                )
                for r in results
            ],
        )
        await self.conn.execute(
            "UPDATE executions SET finished_at = $2, summary = $3 WHERE execution_id = $1",
            execution_id,
            finished_at,
            summary,
        )

    async def results(self, execution_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM results WHERE execution_id = $1 ORDER BY position", execution_id
        )
        return rows

    async def record_verifications(self, plan_id: str, rows: list[dict[str, Any]]) -> None:
        await self.conn.executemany(
            "INSERT INTO verifications (plan_id, resource_arn, check_id, status, reason, scan_id, at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (plan_id, resource_arn, check_id) DO UPDATE"
            " SET status = EXCLUDED.status, reason = EXCLUDED.reason, scan_id = EXCLUDED.scan_id, at = EXCLUDED.at",
            [
                (plan_id, r["resource_arn"], r["check_id"], r["status"], r["reason"], r["scan_id"], r["at"])
                for r in rows
            ],
        )

    async def verifications(self, plan_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT * FROM verifications WHERE plan_id = $1 ORDER BY resource_arn, check_id", plan_id
        )
        return rows

    async def recent(self, limit: int, state: str | None) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            "SELECT p.*, (SELECT count(*) FROM plan_items i WHERE i.plan_id = p.plan_id) AS resources FROM plans p"
            " WHERE ($2::text IS NULL OR p.state = $2) ORDER BY p.created_at DESC LIMIT $1",
            limit,
            state,
        )
        return rows

    async def verifying(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch("SELECT * FROM plans WHERE state = 'verifying'")
        return rows
