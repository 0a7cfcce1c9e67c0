"""Registering accounts by hand or from AWS Organizations, and scanning many of them at once.

Every change is written with its audit entry and an ``account.changed`` domain event in one
transaction; nothing is ever deleted (an account leaves the registry by being retired).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from guardian_collector.accounts.credentials import assume_role_session
from guardian_collector.accounts.repository import SETTABLE, AccountRepository, to_out
from guardian_collector.accounts.schemas import (
    AccountIn,
    AccountOut,
    AccountUpdate,
    DiscoverIn,
    DiscoverOut,
    role_account,
)
from guardian_collector.outbox import OUTBOX
from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.errors import BadRequest, Conflict, GuardianError, NotFound

ACCOUNT_CHANGED = "account.changed"
ORG_RETIRED_PREFIX = "AWS Organizations: "
CLOSED_STATES = {"SUSPENDED", "PENDING_CLOSURE", "CLOSED"}

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class OrganizationsUnavailable(GuardianError):
    code = "organizations_unavailable"
    status = 424


@dataclass(frozen=True)
class AccountAccess:
    """What a scan needs to reach one registered account."""

    account_id: str
    name: str
    role_arn: str | None
    external_id: str | None
    environment: str | None
    tags: dict[str, str]
    regions: list[str] | None
    exclude_regions: list[str]
    services: list[str] | None
    exclude_services: list[str]

    @classmethod
    def of(cls, row: asyncpg.Record) -> AccountAccess:
        return cls(
            account_id=row["account_id"],
            name=row["name"],
            role_arn=row["role_arn"],
            external_id=row["external_id"],
            environment=row["environment"],
            tags=dict(row["tags"]),
            regions=list(row["regions"]) if row["regions"] is not None else None,
            exclude_regions=list(row["exclude_regions"]),
            services=list(row["services"]) if row["services"] is not None else None,
            exclude_services=list(row["exclude_services"]),
        )

    async def session(
        self, *, region: str, endpoint_url: str | None, max_attempts: int, base: AioSession | None = None
    ) -> AioSession:
        if self.role_arn is None:
            return base or get_session()
        return await assume_role_session(
            self.role_arn,
            external_id=self.external_id,
            region=region,
            endpoint_url=endpoint_url,
            max_attempts=max_attempts,
            base=base,
        )


def _actor(principal: Principal | None) -> str | None:
    return (principal.name or principal.key_id) if principal else None


@dataclass
class AccountService:
    pool: asyncpg.Pool
    home_region: str
    endpoint_url: str | None
    max_attempts: int = 6
    clock: Clock = utcnow

    async def _record(
        self,
        conn: asyncpg.Connection,
        principal: Principal | None,
        action: str,
        before: AccountOut | None,
        after: AccountOut,
        at: datetime,
    ) -> None:
        old = before.model_dump(mode="json") if before else None
        new = after.model_dump(mode="json")
        await AccountRepository(conn).event(after.account_id, action, _actor(principal), {"after": new}, at)
        await audit.record(
            conn,
            OUTBOX,
            actor=principal,
            action=f"account.{action}",
            target_type="account",
            target_id=after.account_id,
            before=old,
            after=new,
            at=at,
        )
        await OUTBOX.emit(
            conn,
            ACCOUNT_CHANGED,
            f"account:{after.account_id}:{action}:{at.isoformat()}",
            {"action": action, "account": new},
            at,
        )

    async def find(self, state: str | None = None, environment: str | None = None) -> list[AccountOut]:
        async with self.pool.acquire() as conn:
            return [to_out(r) for r in await AccountRepository(conn).find(state, environment)]

    async def get(self, account_id: str) -> AccountOut:
        async with self.pool.acquire() as conn:
            row = await AccountRepository(conn).get(account_id)
        if row is None:
            raise NotFound(f"No account {account_id} is registered.", code="account_not_found")
        return to_out(row)

    async def access(self, account_ids: list[str] | None, environment: str | None) -> list[AccountAccess]:
        """The active accounts to scan: the named ones (each must be registered and active) or all matching."""
        async with self.pool.acquire() as conn:
            repo = AccountRepository(conn)
            if account_ids:
                rows = []
                for account_id in sorted(set(account_ids)):
                    row = await repo.get(account_id)
                    if row is None:
                        raise NotFound(f"No account {account_id} is registered.", code="account_not_found")
                    if row["state"] != "active":
                        raise Conflict(f"Account {account_id} is retired; it is not scanned.", code="account_retired")
                    if environment is None or row["environment"] == environment:
                        rows.append(row)
            else:
                rows = await repo.find("active", environment)
        return [AccountAccess.of(r) for r in rows]

    async def add(self, body: AccountIn, principal: Principal | None) -> AccountOut:
        at = self.clock()
        values: dict[str, Any] = body.model_dump()
        values["name"] = body.name or body.account_id
        values["source"] = "manual"
        values["created_by"] = _actor(principal)
        async with db.transaction(self.pool) as conn:
            repo = AccountRepository(conn)
            existing = await repo.get(body.account_id, lock=True)
            if existing is not None and existing["state"] == "active":
                raise Conflict(f"Account {body.account_id} is already registered.", code="account_exists")
            if existing is not None:
                changes = {k: values[k] for k in SETTABLE if k in body.model_fields_set or k == "name"}
                changes.update(state="active", retired_reason=None, retired_at=None)
                row = await repo.update(body.account_id, changes, at)
                await self._record(conn, principal, "reactivated", to_out(existing), to_out(row), at)
            else:
                row = await repo.insert(values, at)
                await self._record(conn, principal, "registered", None, to_out(row), at)
        return to_out(row)

    async def update(self, account_id: str, body: AccountUpdate, principal: Principal | None) -> AccountOut:
        changes = {k: v for k, v in body.model_dump().items() if k in body.model_fields_set}
        if not changes:
            raise BadRequest("Nothing to change: give at least one field.", code="empty_update")
        if changes.get("name") is None and "name" in changes:
            raise BadRequest("An account's name cannot be removed.", code="invalid_account")
        for key in ("tags", "exclude_regions", "exclude_services"):
            if key in changes and changes[key] is None:
                changes[key] = {} if key == "tags" else []
        if changes.get("role_arn") is not None and role_account(changes["role_arn"]) != account_id:
            raise BadRequest(
                f"role_arn belongs to account {role_account(changes['role_arn'])}, not {account_id}.",
                code="role_account_mismatch",
            )
        at = self.clock()
        async with db.transaction(self.pool) as conn:
            repo = AccountRepository(conn)
            before = await repo.get(account_id, lock=True)
            if before is None:
                raise NotFound(f"No account {account_id} is registered.", code="account_not_found")
            row = await repo.update(account_id, changes, at)
            await self._record(conn, principal, "updated", to_out(before), to_out(row), at)
        return to_out(row)

    async def retire(self, account_id: str, reason: str, principal: Principal | None) -> AccountOut:
        at = self.clock()
        async with db.transaction(self.pool) as conn:
            repo = AccountRepository(conn)
            before = await repo.get(account_id, lock=True)
            if before is None:
                raise NotFound(f"No account {account_id} is registered.", code="account_not_found")
            if before["state"] == "retired":
                raise Conflict(f"Account {account_id} is already retired.", code="account_retired")
            row = await repo.update(account_id, {"state": "retired", "retired_reason": reason, "retired_at": at}, at)
            await self._record(conn, principal, "retired", to_out(before), to_out(row), at)
        return to_out(row)

    async def _organization(self, body: DiscoverIn) -> tuple[str, list[dict[str, Any]]]:
        """The management account id and every member with its status and tags, read from Organizations."""
        base = get_session()
        session = base
        if body.management_role_arn is not None:
            session = await assume_role_session(
                body.management_role_arn,
                external_id=body.external_id,
                region=self.home_region,
                endpoint_url=self.endpoint_url,
                max_attempts=self.max_attempts,
                base=base,
            )
        config = AioConfig(retries={"mode": "adaptive", "max_attempts": self.max_attempts})
        async with session.create_client(
            "organizations", region_name=self.home_region, endpoint_url=self.endpoint_url, config=config
        ) as org:
            described = await org.describe_organization()
            management = str(described["Organization"]["MasterAccountId"])
            members: list[dict[str, Any]] = []
            paginator = org.get_paginator("list_accounts")
            async for page in paginator.paginate():
                members.extend(page.get("Accounts", []))
            for member in members:
                tags: dict[str, str] = {}
                async for page in org.get_paginator("list_tags_for_resource").paginate(ResourceId=member["Id"]):
                    tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
                member["_tags"] = tags
        return management, members

    async def discover(self, body: DiscoverIn, principal: Principal | None) -> DiscoverOut:
        try:
            management, members = await self._organization(body)
        except GuardianError:
            raise
        except Exception as exc:
            raise OrganizationsUnavailable(f"Could not read AWS Organizations: {type(exc).__name__}: {exc}") from exc
        at = self.clock()
        result = DiscoverOut(
            management_account_id=management, added=[], updated=[], retired=[], reactivated=[], unchanged=[]
        )
        seen: set[str] = set()
        async with db.transaction(self.pool) as conn:
            repo = AccountRepository(conn)
            for member in sorted(members, key=lambda m: str(m["Id"])):
                account_id = str(member["Id"])
                seen.add(account_id)
                status = str(member.get("State") or member.get("Status") or "ACTIVE").upper()
                tags: dict[str, str] = member["_tags"]
                environment = tags.get(body.environment_tag)
                if environment is not None:
                    environment = environment.strip().lower() or None
                existing = await repo.get(account_id, lock=True)
                closed = status in CLOSED_STATES
                if existing is None:
                    if closed:
                        continue
                    row = await repo.insert(
                        {
                            "account_id": account_id,
                            "name": str(member.get("Name") or account_id),
                            "role_arn": f"arn:aws:iam::{account_id}:role/{body.member_role_name}",
                            "external_id": body.member_external_id,
                            "environment": environment,
                            "tags": tags,
                            "source": "organizations",
                            "management_account_id": management,
                            "org_status": status,
                            "created_by": _actor(principal),
                        },
                        at,
                    )
                    await self._record(conn, principal, "registered", None, to_out(row), at)
                    result.added.append(account_id)
                    continue
                before = to_out(existing)
                if closed and existing["state"] == "active":
                    row = await repo.update(
                        account_id,
                        {
                            "state": "retired",
                            "retired_reason": f"{ORG_RETIRED_PREFIX}the account is {status.lower()}",
                            "retired_at": at,
                            "org_status": status,
                        },
                        at,
                    )
                    await self._record(conn, principal, "retired", before, to_out(row), at)
                    result.retired.append(account_id)
                    continue
                changes: dict[str, Any] = {}
                if existing["org_status"] != status:
                    changes["org_status"] = status
                if existing["management_account_id"] != management:
                    changes["management_account_id"] = management
                if existing["source"] == "organizations":
                    if environment is not None and existing["environment"] != environment:
                        changes["environment"] = environment
                    if dict(existing["tags"]) != tags:
                        changes["tags"] = tags
                reopen = (
                    not closed
                    and existing["state"] == "retired"
                    and str(existing["retired_reason"] or "").startswith(ORG_RETIRED_PREFIX)
                )
                if reopen:
                    changes.update(state="active", retired_reason=None, retired_at=None)
                if not changes:
                    result.unchanged.append(account_id)
                    continue
                row = await repo.update(account_id, changes, at)
                action = "reactivated" if reopen else "updated"
                await self._record(conn, principal, action, before, to_out(row), at)
                (result.reactivated if reopen else result.updated).append(account_id)
            # Members registered from this organisation that it no longer lists have left it.
            for row in await repo.find("active", None):
                if (
                    row["source"] == "organizations"
                    and row["management_account_id"] == management
                    and row["account_id"] not in seen
                ):
                    before = to_out(row)
                    updated = await repo.update(
                        row["account_id"],
                        {
                            "state": "retired",
                            "retired_reason": f"{ORG_RETIRED_PREFIX}no longer a member of the organisation",
                            "retired_at": at,
                        },
                        at,
                    )
                    await self._record(conn, principal, "retired", before, to_out(updated), at)
                    result.retired.append(row["account_id"])
        return result


async def gather_limited(limit: int, jobs: list[Any]) -> list[Any]:
    """Await ``jobs`` with at most ``limit`` running at once, returning results (or exceptions) in order."""
    gate = asyncio.Semaphore(max(1, limit))

    async def run(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(run(j) for j in jobs), return_exceptions=True))
