"""Risk acceptances: requested by an editor, decided by a different admin, in force for a window.

Never retroactive: the start cannot lie in the past, and a result stored before the approval is
never rewritten. Expiry is a time, not a scan: live statuses compare against the clock, and a
background sweep writes the expiry (and the advance warning) to the outbox exactly once.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.errors import BadRequest, Conflict, Forbidden, NotFound
from guardian_compliance.acceptances.matching import covered_until
from guardian_compliance.acceptances.repository import AcceptanceRepository
from guardian_compliance.acceptances.schemas import (
    AcceptanceCreate,
    AcceptanceEventOut,
    AcceptanceList,
    AcceptanceOut,
    AcceptanceStatus,
)
from guardian_compliance.clock import Clock
from guardian_compliance.controls.repository import ControlRepository
from guardian_compliance.controls.service import known_checks
from guardian_compliance.outbox import OUTBOX, emit
from guardian_compliance.scope.schemas import ACCOUNT, REGION

# A start this close to now is taken as "now": clients' clocks and the request's own latency.
START_GRACE = timedelta(seconds=60)


class AcceptanceNotFound(NotFound):
    code = "acceptance_not_found"


def status_of(row: asyncpg.Record | dict[str, Any], now: datetime) -> AcceptanceStatus:
    if row["state"] == "pending":
        return "pending"
    if row["state"] == "rejected":
        return "rejected"
    if row["state"] == "revoked" or (row["revoked_at"] is not None and now >= row["revoked_at"]):
        return "revoked"
    if now < row["starts_at"]:
        return "scheduled"
    return "in_force" if now < row["expires_at"] else "expired"


def _out(row: asyncpg.Record, now: datetime, events: list[asyncpg.Record]) -> AcceptanceOut:
    return AcceptanceOut(
        id=row["acceptance_id"],
        control_id=row["control_id"],
        check_id=row["check_id"],
        arn_pattern=row["arn_pattern"],
        account_id=row["account_id"],
        region=row["region"],
        tag_key=row["tag_key"],
        tag_value=row["tag_value"],
        justification=row["justification"],
        compensating_control=row["compensating_control"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        starts_at=row["starts_at"],
        expires_at=row["expires_at"],
        state=row["state"],
        status=status_of(row, now),
        approver=row["decided_by"] if row["state"] == "approved" else None,
        decided_at=row["decided_at"],
        decision_note=row["decision_note"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
        revocation_reason=row["revocation_reason"],
        ends_at=covered_until(row),
        events=[AcceptanceEventOut(action=e["action"], actor=e["actor"], at=e["at"], note=e["note"]) for e in events],
    )


def _event_data(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    keys = ("acceptance_id", "control_id", "check_id", "arn_pattern", "account_id", "region", "tag_key", "tag_value")
    return {
        **{k: row[k] for k in keys},
        "requested_by": row["requested_by"],
        "starts_at": row["starts_at"].isoformat(),
        "expires_at": row["expires_at"].isoformat(),
    }


def _who(principal: Principal) -> str:
    return principal.name or principal.key_id


async def _audit(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    before: asyncpg.Record | None,
    after: asyncpg.Record,
    now: datetime,
) -> None:
    """The audit entry of a request or a decision, with the acceptance before and after, in its transaction."""

    def state(row: asyncpg.Record) -> dict[str, Any]:
        return _out(row, now, []).model_dump(mode="json", exclude={"events", "status"})

    await audit.record(
        conn,
        OUTBOX,
        actor=principal,
        action=action,
        target_type="acceptance",
        target_id=after["acceptance_id"],
        before=None if before is None else state(before),
        after=state(after),
        at=now,
    )


@dataclass
class AcceptanceService:
    pool: asyncpg.Pool
    clock: Clock
    max_days: int

    async def list(self, status: AcceptanceStatus | None) -> AcceptanceList:
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            rows = await AcceptanceRepository(conn).all()
        items = [_out(r, now, []) for r in rows]
        if status is not None:
            items = [i for i in items if i.status == status]
        return AcceptanceList(total=len(items), items=items)

    async def get(self, acceptance_id: str) -> AcceptanceOut:
        async with self.pool.acquire() as conn:
            repo = AcceptanceRepository(conn)
            row = await repo.get(acceptance_id)
            if row is None:
                raise AcceptanceNotFound(f"No risk acceptance has the id {acceptance_id!r}.")
            events = await repo.events([acceptance_id])
        return _out(row, self.clock.now(), events)

    async def create(self, body: AcceptanceCreate, principal: Principal) -> AcceptanceOut:
        now = self.clock.now()
        values = self._validate_shape(body, now)
        by = _who(principal)
        values.update(requested_by=by, requested_at=now)
        acceptance_id = f"acc-{secrets.token_hex(6)}"
        async with db.transaction(self.pool) as conn:
            await self._validate_references(conn, body)
            repo = AcceptanceRepository(conn)
            await repo.insert(acceptance_id, values)
            await repo.record(acceptance_id, "requested", by, now, None)
            row = await repo.get(acceptance_id)
            assert row is not None
            await emit(conn, "acceptance.requested", f"acceptance:{acceptance_id}:requested", _event_data(row), now)
            await _audit(conn, principal, "acceptance.requested", None, row, now)
            events = await repo.events([acceptance_id])
        return _out(row, now, events)

    async def approve(self, acceptance_id: str, principal: Principal, note: str | None) -> AcceptanceOut:
        return await self._decide(acceptance_id, principal, note, approve=True)

    async def reject(self, acceptance_id: str, principal: Principal, note: str | None) -> AcceptanceOut:
        return await self._decide(acceptance_id, principal, note, approve=False)

    async def _decide(
        self, acceptance_id: str, principal: Principal, note: str | None, *, approve: bool
    ) -> AcceptanceOut:
        now = self.clock.now()
        by = _who(principal)
        async with db.transaction(self.pool) as conn:
            repo = AcceptanceRepository(conn)
            row = await repo.get(acceptance_id, for_update=True)
            if row is None:
                raise AcceptanceNotFound(f"No risk acceptance has the id {acceptance_id!r}.")
            if row["state"] != "pending":
                raise Conflict(
                    f"Risk acceptance {acceptance_id} was already {row['state']} by {row['decided_by']}.",
                    code="acceptance_decided",
                )
            if approve and by == row["requested_by"]:
                raise Forbidden(
                    f"{by} requested this risk acceptance and cannot approve it; another admin must.",
                    code="self_approval",
                )
            if approve and row["expires_at"] <= now:
                raise Conflict(
                    f"Risk acceptance {acceptance_id} expired on {row['expires_at']:%Y-%m-%d %H:%M} UTC"
                    " before it was approved; request a new one.",
                    code="acceptance_expired",
                )
            state = "approved" if approve else "rejected"
            await repo.decide(acceptance_id, state, by, now, note)
            await repo.record(acceptance_id, state, by, now, note)
            decided = await repo.get(acceptance_id)
            assert decided is not None
            await _audit(conn, principal, f"acceptance.{state}", row, decided, now)
            await emit(
                conn,
                f"acceptance.{state}",
                f"acceptance:{acceptance_id}:{state}",
                {**_event_data(decided), "decided_by": by},
                now,
            )
            events = await repo.events([acceptance_id])
        return _out(decided, now, events)

    async def revoke(self, acceptance_id: str, principal: Principal, reason: str) -> AcceptanceOut:
        """End an approved acceptance now: findings it covered fail their controls again from this moment.

        Revoked while in force, its covered interval (start to now) stays in period data; revoked
        before it started, it never covered anything and its state becomes ``revoked``.
        """
        now = self.clock.now()
        by = _who(principal)
        if not reason.strip():
            raise BadRequest("Say why the risk acceptance is revoked.", code="reason_required")
        async with db.transaction(self.pool) as conn:
            repo = AcceptanceRepository(conn)
            row = await repo.get(acceptance_id, for_update=True)
            if row is None:
                raise AcceptanceNotFound(f"No risk acceptance has the id {acceptance_id!r}.")
            status = status_of(row, now)
            if status not in ("scheduled", "in_force"):
                hint = {
                    "pending": "it is not approved yet; reject it instead",
                    "rejected": "it was rejected",
                    "expired": f"it expired on {row['expires_at']:%Y-%m-%d %H:%M} UTC",
                    "revoked": f"{row['revoked_by']} revoked it already",
                }[status]
                raise Conflict(
                    f"Risk acceptance {acceptance_id} cannot be revoked: {hint}.", code="acceptance_not_revocable"
                )
            state = "approved" if status == "in_force" else "revoked"
            await repo.revoke(acceptance_id, state, by, now, reason.strip())
            await repo.record(acceptance_id, "revoked", by, now, reason.strip())
            revoked = await repo.get(acceptance_id)
            assert revoked is not None
            await _audit(conn, principal, "acceptance.revoked", row, revoked, now)
            await emit(
                conn,
                "acceptance.revoked",
                f"acceptance:{acceptance_id}:revoked",
                {**_event_data(revoked), "revoked_by": by, "revoked_at": now.isoformat(), "reason": reason.strip()},
                now,
            )
            events = await repo.events([acceptance_id])
        return _out(revoked, now, events)

    def _validate_shape(self, body: AcceptanceCreate, now: datetime) -> dict[str, Any]:
        tag_key = tag_value = None
        if body.tag is not None:
            key, sep, value = body.tag.partition("=")
            if not sep or not key.strip():
                raise BadRequest(f"A tag selector is 'key=value', not {body.tag!r}.", code="invalid_tag_selector")
            tag_key, tag_value = key.strip(), value.strip()
        selectors = {
            "control_id": body.control_id or None,
            "check_id": body.check_id or None,
            "arn_pattern": body.arn_pattern or None,
            "account_id": body.account_id or None,
            "region": body.region or None,
            "tag_key": tag_key,
            "tag_value": tag_value,
        }
        if not any(v is not None for k, v in selectors.items() if k != "tag_value"):
            raise BadRequest(
                "Say what the acceptance covers: a control, check, resource ARN pattern, account, region or tag.",
                code="no_selector",
            )
        if selectors["account_id"] is not None and not re.match(ACCOUNT, selectors["account_id"]):
            raise BadRequest("An account id is 12 digits.", code="invalid_account_id")
        if selectors["region"] is not None and not re.match(REGION, selectors["region"]) and body.region != "global":
            raise BadRequest(f"{body.region!r} is not an AWS region name.", code="invalid_region")
        if not body.justification.strip():
            raise BadRequest("A risk acceptance needs a written justification.", code="justification_required")
        if not body.compensating_control.strip():
            raise BadRequest(
                "A risk acceptance names the compensating control that limits the risk meanwhile.",
                code="compensating_control_required",
            )
        starts_at = body.starts_at or now
        if starts_at < now - START_GRACE:
            raise BadRequest(
                f"A risk acceptance cannot start in the past ({starts_at.isoformat()}); acceptances are never"
                " retroactive.",
                code="backdated_start",
            )
        starts_at = max(starts_at, now)
        if body.expires_at <= starts_at:
            raise BadRequest("A risk acceptance expires after it starts.", code="invalid_expiry")
        latest = now + timedelta(days=self.max_days)
        if body.expires_at > latest:
            raise BadRequest(
                f"A risk acceptance may run at most {self.max_days} days: expire it by {latest:%Y-%m-%d}.",
                code="expiry_too_far",
            )
        return {
            **selectors,
            "justification": body.justification.strip(),
            "compensating_control": body.compensating_control.strip(),
            "starts_at": starts_at,
            "expires_at": body.expires_at,
        }

    async def _validate_references(self, conn: asyncpg.Connection, body: AcceptanceCreate) -> None:
        if body.control_id:
            control = await ControlRepository(conn).get(body.control_id)
            if control is None or control["state"] != "active":
                raise BadRequest(f"No active control has the id {body.control_id!r}.", code="unknown_control")
        if body.check_id:
            catalogue = await known_checks(conn)
            if catalogue is not None and body.check_id not in catalogue:
                raise BadRequest(f"The evaluator has no check {body.check_id!r}.", code="unknown_check")


async def sweep(conn: asyncpg.Connection, now: datetime, warning: timedelta) -> tuple[int, int]:
    """Write the expiry and advance-warning events that are due; each is written once (unique key)."""
    repo = AcceptanceRepository(conn)
    expired = warned = 0
    for row in await repo.expired_since(now):
        if await emit(conn, "acceptance.expired", f"acceptance:{row['acceptance_id']}:expired", _event_data(row), now):
            await repo.record(row["acceptance_id"], "expired", "guardian", now, None)
            expired += 1
    for row in await repo.expiring_within(now, now + warning):
        data = {**_event_data(row), "expires_in_seconds": int((row["expires_at"] - now).total_seconds())}
        if await emit(conn, "acceptance.expiring", f"acceptance:{row['acceptance_id']}:expiring", data, now):
            await repo.record(row["acceptance_id"], "expiry_warning", "guardian", now, None)
            warned += 1
    return expired, warned
