"""The Action Centre's flow: plan -> approve (another admin, the plan's hash) -> execute -> verify.

Planning reads every resource with the remediation service's own credentials and stores, per
resource, the state read (and its hash), the exact calls and the expected result; the plan's content
hash covers all of it. Execution refuses an unapproved, rejected, expired, self-approved (unless
allowed) or altered plan, re-reads each resource and skips any that changed since the plan, makes
exactly the planned calls, and reports per resource. Verification asks the collector for a targeted
scan of the changed resources and reads compliance's verdicts on them. A resource deleted after the
plan was made is reported per resource as gone ("resource no longer exists"): at execution when AWS
says so, at verification when the complete re-collection does not find it and AWS confirms; it is
never counted as fixed, and it does not hold up the plan. Every step is an audit entry
and a ``remediation.*`` domain event, written in the transaction of the change.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from botocore import xform_name

from guardian_common import audit, db
from guardian_common.auth import Principal, Role
from guardian_common.errors import BadRequest, Conflict, Forbidden, GuardianError, NotFound
from guardian_common.logging import get_logger
from guardian_common.outbox import stop_task
from guardian_remediation.actions import catalogue, for_check
from guardian_remediation.actions.base import (
    Action,
    ApiCall,
    Aws,
    ParameterError,
    Reading,
    Target,
    error_code,
    managed_as_code,
    resource_gone,
)
from guardian_remediation.outbox import OUTBOX
from guardian_remediation.repository import PlanRepository, content_hash, content_of
from guardian_remediation.schemas import (
    ActionOut,
    ApprovalOut,
    ExecutionOut,
    ItemOut,
    PlanOut,
    PlanRequest,
    PlanSummary,
    ResultOut,
    VerificationOut,
)
from guardian_remediation.settings import RemediationSettings
from guardian_remediation.upstream import Upstream

log = get_logger("guardian.remediation")

READ_CONCURRENCY = 8
DONE_STATES = ("executed", "verifying", "verified", "verification_failed")
VERIFIABLE = ("fixed", "already_compliant")
# A resource deleted after the plan was made: verification re-collects it to confirm it is gone.
GONE = "gone"
GONE_DETAIL = "Resource no longer exists: it was deleted after the plan was made; nothing was changed."
GONE_REASON = (
    "Resource no longer exists: the verification's complete re-collection did not find it, so its failing"
    " finding is resolved by the deletion, not verified as fixed."
)
# How long verification retries a targeted scan the collector refuses because the same one runs.
SCAN_BUSY_SECONDS = 120.0
# Reads the service makes on its own behalf while waiting for a verification (never changes anything).
SYSTEM_READER = Principal(key_id="remediation", role=Role.AUDITOR, name="Guardian remediation")


class NotInCatalogue(GuardianError):
    code = "action_not_in_catalogue"
    status = 422


def utcnow() -> datetime:
    return datetime.now(UTC)


def who(principal: Principal) -> dict[str, str]:
    return {"id": principal.key_id, "role": principal.role.value, "name": principal.name}


def iac_warning(tags: dict[str, str]) -> list[str]:
    found = managed_as_code(tags)
    if not found:
        return []
    return [
        f"Managed as code ({', '.join(found)}): the fix belongs in that code; a change made here is undone"
        " at its next deployment."
    ]


@dataclass
class RemediationService:
    pool: asyncpg.Pool
    settings: RemediationSettings
    aws: Aws
    upstream: Upstream
    now: Callable[[], datetime] = utcnow
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # Catalogue --------------------------------------------------------------------------------

    def actions(self) -> list[ActionOut]:
        return [ActionOut.model_validate(a.describe()) for _, a in sorted(catalogue().items())]

    def action(self, action_id: str) -> Action:
        found = catalogue().get(action_id)
        if found is None:
            raise NotInCatalogue(
                f"{action_id!r} is not in the remediation catalogue; Guardian makes no other change."
                " See GET /api/v1/remediation/actions."
            )
        return found

    def _choose(self, request: PlanRequest) -> Action:
        if request.action_id is not None:
            chosen = self.action(request.action_id)
            if request.check_id not in chosen.checks:
                raise BadRequest(
                    f"Action {chosen.id} fixes {', '.join(chosen.checks)}, not {request.check_id}.",
                    code="action_does_not_fix_check",
                )
            return chosen
        candidates = for_check(request.check_id)
        if not candidates:
            raise NotInCatalogue(
                f"No action in the remediation catalogue fixes {request.check_id}; it is fixed by hand.",
                code="no_action_for_check",
            )
        if len(candidates) > 1:
            raise BadRequest(
                f"Several actions fix {request.check_id}: {', '.join(a.id for a in candidates)}; name one.",
                code="action_required",
            )
        return candidates[0]

    # Plan -------------------------------------------------------------------------------------

    async def plan(self, principal: Principal, authorization: str | None, request: PlanRequest) -> PlanOut:
        chosen = self._choose(request)
        try:
            params = chosen.resolve(request.parameters)
        except ParameterError as exc:
            raise BadRequest(str(exc)[0].upper() + str(exc)[1:] + ".", code="invalid_parameters") from exc
        findings = await self.upstream.findings(
            principal,
            authorization,
            [request.check_id],
            status="FAIL",
            account_id=request.account_id,
            region=request.region,
            resource_type=chosen.resource_type,
        )
        if request.resource_arn is not None:
            findings = [f for f in findings if f["resource_arn"] == request.resource_arn]
            if not findings:
                raise Conflict(
                    f"No failing finding of {request.check_id} on {request.resource_arn}: nothing to fix.",
                    code="finding_not_failing",
                )
        findings = [f for f in findings if f.get("resource_type") == chosen.resource_type]
        if not findings:
            raise Conflict(f"No resource fails {request.check_id} in this selection.", code="nothing_to_fix")
        if len(findings) > self.settings.max_plan_resources:
            raise BadRequest(
                f"The selection has {len(findings)} resources; a plan takes at most"
                f" {self.settings.max_plan_resources}. Narrow it by account or region.",
                code="selection_too_large",
            )
        findings.sort(key=lambda f: str(f["resource_arn"]))
        targets = [
            Target(
                arn=str(f["resource_arn"]),
                name=str(f.get("resource_name") or f["resource_arn"]),
                resource_type=str(f["resource_type"]),
                account_id=str(f["account_id"]),
                region=str(f.get("region") or ""),
            )
            for f in findings
        ]
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def one(position: int, target: Target) -> dict[str, Any]:
            async with gate:
                return await self._plan_item(chosen, params, position, target)

        items = list(await asyncio.gather(*(one(n, t) for n, t in enumerate(targets, start=1))))
        at = self.now()
        plan: dict[str, Any] = {
            "plan_id": f"plan-{at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
            "action_id": chosen.id,
            "action_version": chosen.version,
            "parameters": params,
            "check_id": request.check_id,
            "selection": {
                "resource_arn": request.resource_arn,
                "account_id": request.account_id,
                "region": request.region,
                "bulk": request.resource_arn is None,
            },
            "requested_by": who(principal),
            "created_at": at,
        }
        plan["content_hash"] = content_hash(content_of(plan, items))
        async with db.transaction(self.pool) as conn:
            await PlanRepository(conn).insert_plan(plan, items)
            summary = dict(Counter(i["disposition"] for i in items))
            after = {"action_id": chosen.id, "check_id": request.check_id, "content_hash": plan["content_hash"]}
            await audit.record(
                conn,
                OUTBOX,
                actor=principal,
                action="remediation_plan.created",
                target_type="remediation_plan",
                target_id=plan["plan_id"],
                before=None,
                after={**after, "resources": summary},
                at=at,
            )
            await OUTBOX.emit(
                conn,
                "remediation.planned",
                f"remediation.planned:{plan['plan_id']}",
                {**after, "plan_id": plan["plan_id"], "resources": summary, "requested_by": who(principal)},
                at,
            )
        log.info("plan_created", plan_id=plan["plan_id"], action_id=chosen.id, resources=len(items))
        return await self.get(plan["plan_id"])

    async def _plan_item(self, chosen: Action, params: dict[str, Any], position: int, target: Target) -> dict[str, Any]:
        item: dict[str, Any] = {
            "position": position,
            "resource_arn": target.arn,
            "resource_name": target.name,
            "resource_type": target.resource_type,
            "account_id": target.account_id,
            "region": target.region,
            "state_before": None,
            "state_hash": None,
            "calls": [],
            "steps": [],
            "expected": chosen.expected(params),
            "warnings": [],
        }
        try:
            reading = await chosen.read(self.aws, target)
        except Exception as exc:
            item["disposition"] = "unreadable"
            item["warnings"] = [f"Could not read the resource ({error_code(exc)}: {exc}); it will not be changed."]
            return item
        item["state_before"] = reading.state
        item["state_hash"] = reading.digest()
        item["warnings"] = iac_warning(reading.tags)
        if chosen.satisfied(reading.state, params):
            item["disposition"] = "already_compliant"
        elif not chosen.in_place:
            item["disposition"] = "manual"
            item["steps"] = chosen.steps(target, params)
            item["warnings"].append("AWS cannot fix this in place: Guardian lists the steps and does not act.")
        else:
            item["disposition"] = "fix"
            item["calls"] = [c.as_dict() for c in chosen.calls(self.aws, target, reading.state, params)]
        return item

    # Approve / reject -------------------------------------------------------------------------

    async def approve(self, principal: Principal, plan_id: str, approved_hash: str) -> PlanOut:
        at = self.now()
        async with db.transaction(self.pool) as conn:
            repo = PlanRepository(conn)
            plan = await self._locked(repo, plan_id)
            if plan["state"] != "proposed":
                raise Conflict(f"Plan {plan_id} is {plan['state']}, not awaiting approval.", code="plan_not_proposed")
            current = content_hash(content_of(plan, await repo.items(plan_id)))
            if current != plan["content_hash"]:
                raise Conflict(f"Plan {plan_id} was altered after it was made; make a new plan.", code="plan_altered")
            if approved_hash != plan["content_hash"]:
                raise Conflict(
                    f"The hash approved ({approved_hash[:12]}...) is not plan {plan_id}'s"
                    f" ({plan['content_hash'][:12]}...): review the plan as it is now.",
                    code="plan_hash_mismatch",
                )
            self_approved = plan["requested_by"]["id"] == principal.key_id
            if self_approved and not self.settings.allow_self_approval:
                raise Forbidden(
                    "An admin other than the requester must approve this plan"
                    " (self-approval is off: GUARDIAN_ALLOW_SELF_APPROVAL).",
                    code="self_approval_forbidden",
                )
            approval = {
                "approval_id": f"appr-{uuid.uuid4().hex[:12]}",
                "plan_id": plan_id,
                "decision": "approved",
                "content_hash": approved_hash,
                "decided_by": who(principal),
                "self_approved": self_approved,
                "reason": None,
                "decided_at": at,
                "expires_at": at + timedelta(seconds=self.settings.approval_ttl_seconds),
            }
            await repo.insert_approval(approval)
            await repo.set_state(plan_id, "approved", at)
            after = {
                "state": "approved",
                "content_hash": approved_hash,
                "self_approved": self_approved,
                "expires_at": approval["expires_at"].isoformat(),
            }
            await audit.record(
                conn,
                OUTBOX,
                actor=principal,
                action="remediation_plan.self_approved" if self_approved else "remediation_plan.approved",
                target_type="remediation_plan",
                target_id=plan_id,
                before={"state": "proposed"},
                after=after,
                at=at,
            )
            await OUTBOX.emit(
                conn,
                "remediation.approved",
                f"remediation.approved:{plan_id}",
                {"plan_id": plan_id, "approved_by": who(principal), **after},
                at,
            )
        return await self.get(plan_id)

    async def reject(self, principal: Principal, plan_id: str, reason: str) -> PlanOut:
        at = self.now()
        async with db.transaction(self.pool) as conn:
            repo = PlanRepository(conn)
            plan = await self._locked(repo, plan_id)
            if plan["state"] != "proposed":
                raise Conflict(f"Plan {plan_id} is {plan['state']}, not awaiting approval.", code="plan_not_proposed")
            await repo.insert_approval(
                {
                    "approval_id": f"appr-{uuid.uuid4().hex[:12]}",
                    "plan_id": plan_id,
                    "decision": "rejected",
                    "content_hash": plan["content_hash"],
                    "decided_by": who(principal),
                    "self_approved": False,
                    "reason": reason,
                    "decided_at": at,
                    "expires_at": None,
                }
            )
            await repo.set_state(plan_id, "rejected", at)
            await audit.record(
                conn,
                OUTBOX,
                actor=principal,
                action="remediation_plan.rejected",
                target_type="remediation_plan",
                target_id=plan_id,
                before={"state": "proposed"},
                after={"state": "rejected", "reason": reason},
                at=at,
            )
            await OUTBOX.emit(
                conn,
                "remediation.rejected",
                f"remediation.rejected:{plan_id}",
                {"plan_id": plan_id, "rejected_by": who(principal), "reason": reason},
                at,
            )
        return await self.get(plan_id)

    # Execute ----------------------------------------------------------------------------------

    async def execute(self, principal: Principal, plan_id: str) -> PlanOut:
        at = self.now()
        async with db.transaction(self.pool) as conn:
            repo = PlanRepository(conn)
            plan = await self._locked(repo, plan_id)
            if plan["state"] in DONE_STATES:
                # Re-running a done plan changes nothing: the stored execution is the answer.
                out = await self.get(plan_id)
                if out.execution is not None:
                    out.execution.rerun = True
                return out
            if plan["state"] == "executing":
                raise Conflict(f"Plan {plan_id} is being executed.", code="plan_executing")
            if plan["state"] != "approved":
                raise Conflict(
                    f"Plan {plan_id} is {plan['state']}: only an approved plan runs.", code="plan_not_approved"
                )
            approval = await repo.approval(plan_id)
            if approval is None or approval["decision"] != "approved":
                raise Conflict(f"Plan {plan_id} has no approval.", code="plan_not_approved")
            if approval["expires_at"] is not None and at >= approval["expires_at"]:
                raise Conflict(
                    f"The approval of plan {plan_id} expired at {approval['expires_at'].isoformat()};"
                    " make and approve a new plan.",
                    code="approval_expired",
                )
            if approval["self_approved"] and not self.settings.allow_self_approval:
                raise Forbidden(
                    f"Plan {plan_id} was approved by its requester and self-approval is now off.",
                    code="self_approval_forbidden",
                )
            items = await repo.items(plan_id)
            current = content_hash(content_of(plan, items))
            if current != approval["content_hash"] or current != plan["content_hash"]:
                raise Conflict(f"Plan {plan_id} differs from what was approved; it will not run.", code="plan_altered")
            execution_id = f"exec-{uuid.uuid4().hex[:12]}"
            await repo.start_execution(
                {
                    "execution_id": execution_id,
                    "plan_id": plan_id,
                    "approval_id": approval["approval_id"],
                    "executed_by": who(principal),
                    "started_at": at,
                }
            )
            await repo.set_state(plan_id, "executing", at)
        chosen = self.action(plan["action_id"])
        params = dict(plan["parameters"])
        results = [await self._execute_item(chosen, params, item) for item in items]
        finished = self.now()
        summary = dict(Counter(r["outcome"] for r in results))
        async with db.transaction(self.pool) as conn:
            repo = PlanRepository(conn)
            await repo.finish_execution(execution_id, finished, summary, results)
            await repo.set_state(plan_id, "executed", finished)
            await audit.record(
                conn,
                OUTBOX,
                actor=principal,
                action="remediation_plan.executed",
                target_type="remediation_plan",
                target_id=plan_id,
                before={"state": "approved"},
                after={"state": "executed", "execution_id": execution_id, "results": summary},
                at=finished,
            )
            await OUTBOX.emit(
                conn,
                "remediation.executed",
                f"remediation.executed:{plan_id}",
                {
                    "plan_id": plan_id,
                    "execution_id": execution_id,
                    "executed_by": who(principal),
                    "results": [
                        {"resource_arn": r["resource_arn"], "outcome": r["outcome"], "detail": r["detail"]}
                        for r in results
                    ],
                },
                finished,
            )
            for r in results:
                if r["outcome"] not in ("skipped_changed", "unreadable", "manual", GONE):
                    continue
                await audit.record(
                    conn,
                    OUTBOX,
                    actor=principal,
                    action="remediation_item.skipped",
                    target_type="remediation_item",
                    target_id=f"{plan_id}:{r['position']}",
                    before=None,
                    after={"resource_arn": r["resource_arn"], "outcome": r["outcome"], "detail": r["detail"]},
                    at=finished,
                )
                await OUTBOX.emit(
                    conn,
                    "remediation.skipped",
                    f"remediation.skipped:{plan_id}:{r['position']}",
                    {
                        "plan_id": plan_id,
                        "resource_arn": r["resource_arn"],
                        "outcome": r["outcome"],
                        "detail": r["detail"],
                    },
                    finished,
                )
        log.info("plan_executed", plan_id=plan_id, results=summary)
        return await self.get(plan_id)

    async def _execute_item(self, chosen: Action, params: dict[str, Any], item: asyncpg.Record) -> dict[str, Any]:
        target = Target(
            arn=item["resource_arn"],
            name=item["resource_name"],
            resource_type=item["resource_type"],
            account_id=item["account_id"],
            region=item["region"],
        )
        result: dict[str, Any] = {
            "position": item["position"],
            "resource_arn": target.arn,
            "calls_made": [],
            "state_after": None,
        }

        def done(outcome: str, detail: str) -> dict[str, Any]:
            result["outcome"] = outcome
            result["detail"] = detail
            result["at"] = self.now()
            return result

        if item["disposition"] == "unreadable":
            return done("unreadable", "The resource could not be read when planned; nothing was changed.")
        if item["disposition"] == "manual":
            return done("manual", f"{len(item['steps'])} step(s) to take by hand; Guardian does not act on it.")
        try:
            reading = await chosen.read(self.aws, target)
        except Exception as exc:
            if resource_gone(exc):
                return done(GONE, GONE_DETAIL)
            return done("failed", f"Could not re-read the resource: {error_code(exc)}: {exc}")
        if reading.digest() != item["state_hash"]:
            result["state_after"] = reading.state
            return done("skipped_changed", "The resource changed since the plan was made; it was left alone.")
        if item["disposition"] == "already_compliant":
            result["state_after"] = reading.state
            return done("already_compliant", "Already as the action would leave it; no call made.")
        for raw in item["calls"]:
            call = ApiCall.from_dict(raw)
            try:
                await self._call(call)
            except Exception as exc:
                result["calls_made"].append({**call.as_dict(), "ok": False, "error": error_code(exc)})
                if resource_gone(exc):
                    return done(GONE, GONE_DETAIL)
                return done("failed", f"{call.service}:{call.operation} failed: {error_code(exc)}: {exc}")
            result["calls_made"].append({**call.as_dict(), "ok": True})
        try:
            after: Reading = await chosen.read(self.aws, target)
        except Exception as exc:
            return done("fixed", f"The calls succeeded; re-reading afterwards failed ({error_code(exc)}).")
        result["state_after"] = after.state
        if chosen.satisfied(after.state, params):
            return done("fixed", chosen.expected(params))
        return done("fixed", "The calls succeeded; AWS does not show the new state yet (verification will tell).")

    async def _call(self, call: ApiCall) -> None:
        client = await self.aws.client(call.service, call.region)
        await getattr(client, xform_name(call.operation))(**call.arguments)

    # Verify -----------------------------------------------------------------------------------

    async def verify(self, principal: Principal, authorization: str | None, plan_id: str) -> PlanOut:
        """Start verification: the targeted scan is requested and awaited in the background."""
        at = self.now()
        async with db.transaction(self.pool) as conn:
            repo = PlanRepository(conn)
            plan = await self._locked(repo, plan_id)
            if plan["state"] not in ("verifying", "executed", "verified", "verification_failed"):
                raise Conflict(f"Plan {plan_id} is {plan['state']}: verify it after it ran.", code="plan_not_executed")
            if plan["state"] != "verifying":
                execution = await repo.execution(plan_id)
                results = await repo.results(execution["execution_id"]) if execution is not None else []
                if not any(r["outcome"] in (*VERIFIABLE, GONE) for r in results):
                    raise Conflict(
                        f"Plan {plan_id} changed no resource; there is nothing to verify.", code="nothing_to_verify"
                    )
                await repo.set_state(plan_id, "verifying", at, verification_scan_id=None, verification=None)
        self._spawn(plan_id, principal, authorization)
        return await self.get(plan_id)

    def _spawn(self, plan_id: str, principal: Principal, authorization: str | None) -> None:
        if any(t.get_name() == f"verify:{plan_id}" for t in self._tasks):
            return
        task = asyncio.create_task(
            self._await_verification(plan_id, principal, authorization), name=f"verify:{plan_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self) -> None:
        """At start-up: go on waiting for verifications a stopped instance left open."""
        if not self.settings.internal_secret:
            return
        async with db.transaction(self.pool) as conn:
            repo = PlanRepository(conn)
            rows = await repo.verifying()
            for row in rows:
                if row["verification_scan_id"] is None:
                    # The scan was never requested: the plan goes back to executed, to be verified again.
                    await repo.set_state(row["plan_id"], "executed", self.now())
        for row in rows:
            if row["verification_scan_id"] is not None:
                self._spawn(row["plan_id"], SYSTEM_READER, None)

    async def stop(self) -> None:
        await asyncio.gather(*(stop_task(task) for task in list(self._tasks)), return_exceptions=True)

    async def _await_verification(self, plan_id: str, principal: Principal, authorization: str | None) -> None:
        try:
            await self._verification(plan_id, principal, authorization)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("verification_failed", plan_id=plan_id)
            try:
                plan = await self.get(plan_id)
                await self._conclude(plan, plan.verification_scan_id or "", set(), {}, f"{type(exc).__name__}: {exc}")
            except Exception:
                log.exception("verification_not_recorded", plan_id=plan_id)

    async def _verification(self, plan_id: str, principal: Principal, authorization: str | None) -> None:
        plan = await self.get(plan_id)
        if plan.execution is None:
            return
        chosen = self.action(plan.action_id)
        # Resources found gone at execution are re-collected too: the re-collection confirms they are gone.
        targets = {r.resource_arn for r in plan.execution.results if r.outcome in (*VERIFIABLE, GONE)}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.verify_timeout_seconds
        scan_id = plan.verification_scan_id
        if scan_id is None:
            scan_id = await self._start_scan(principal, authorization, sorted(targets), chosen)
            async with db.transaction(self.pool) as conn:
                repo = PlanRepository(conn)
                current = await self._locked(repo, plan_id)
                if current["state"] != "verifying":
                    return
                await repo.set_state(plan_id, "verifying", self.now(), verification_scan_id=scan_id)
        reader = SYSTEM_READER if self.settings.internal_secret else principal
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        gone: set[str] = set()
        problem: str | None = None
        while True:
            scan = await self.upstream.scan(reader, authorization, scan_id)
            if scan.get("state") in ("failed", "abandoned"):
                problem = f"The verification scan {scan_id} {scan['state']}: {scan.get('error') or 'no reason given'}"
                break
            if scan.get("state") == "completed":
                # Read before the findings: once compliance has finalised the scan completely, every verdict
                # it will ever give for this scan is in the findings read next.
                complete = await self._evaluated_completely(reader, authorization, scan_id)
                # A verdict counts when it comes from this scan, or from any observation made after this
                # scan started (another scan of the same resource may have landed last): both saw the
                # resource after the change.
                since = datetime.fromisoformat(str(scan["started_at"]))
                found = await self.upstream.findings(
                    reader, authorization, list(chosen.checks), resource_type=chosen.resource_type
                )
                seen = {
                    (f["resource_arn"], f["check_id"]): f
                    for f in found
                    if f["resource_arn"] in targets
                    and (f.get("last_scan_id") == scan_id or datetime.fromisoformat(str(f["observed_at"])) >= since)
                }
                unseen = {arn for arn in targets if (arn, plan.check_id) not in seen}
                if not unseen:
                    break
                if complete and all([await self._gone(chosen, plan, arn) for arn in sorted(unseen)]):
                    # The re-collection was complete and did not return these resources, and AWS says they do
                    # not exist: they were deleted. (Without both, verification waits, then says what is missing.)
                    gone = unseen
                    break
            if loop.time() >= deadline:
                missing = sorted(arn for arn in targets if (arn, plan.check_id) not in seen)
                problem = f"No verdict from scan {scan_id} before the deadline for: {', '.join(missing)}"
                break
            await asyncio.sleep(self.settings.verify_poll_seconds)
        await self._conclude(plan, scan_id, targets, seen, problem, gone)

    async def _gone(self, chosen: Action, plan: PlanOut, arn: str) -> bool:
        """True when AWS answers that the resource no longer exists (read with the action's own read)."""
        item = next((i for i in plan.items if i.resource_arn == arn), None)
        if item is None:
            return False
        target = Target(
            arn=item.resource_arn,
            name=item.resource_name,
            resource_type=item.resource_type,
            account_id=item.account_id,
            region=item.region,
        )
        try:
            await chosen.read(self.aws, target)
        except Exception as exc:
            return resource_gone(exc)
        return False

    async def _evaluated_completely(self, reader: Principal, authorization: str | None, scan_id: str) -> bool:
        """True when compliance finalised the scan with every unit collected and every snapshot evaluated."""
        try:
            evaluation = await self.upstream.evaluation(reader, authorization, scan_id)
        except GuardianError as exc:
            if exc.status == 404:
                return False  # compliance has not heard of the scan yet
            raise
        return evaluation.get("state") == "final" and evaluation.get("partial") is False

    async def _start_scan(
        self, principal: Principal, authorization: str | None, targets: list[str], chosen: Action
    ) -> str:
        """Ask the collector for a targeted scan; wait while an identical one is still running."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SCAN_BUSY_SECONDS
        while True:
            try:
                scan = await self.upstream.start_scan(principal, authorization, targets, list(chosen.verify_services))
                return str(scan["scan_id"])
            except GuardianError as exc:
                if exc.code != "scan_already_running" or loop.time() >= give_up:
                    raise
            await asyncio.sleep(self.settings.verify_poll_seconds)

    async def _conclude(
        self,
        plan: PlanOut,
        scan_id: str,
        targets: set[str],
        seen: dict[tuple[str, str], dict[str, Any]],
        problem: str | None,
        gone: set[str] | None = None,
    ) -> None:
        at = self.now()
        gone = gone or set()
        rows = [
            {
                "resource_arn": arn,
                "check_id": check,
                "status": f["evaluated_status"],
                "reason": str(f.get("reason", "")),
                "scan_id": scan_id,
                "at": at,
            }
            for (arn, check), f in sorted(seen.items())
        ]
        rows += [
            {
                "resource_arn": arn,
                "check_id": plan.check_id,
                "status": "GONE",
                "reason": GONE_REASON,
                "scan_id": scan_id,
                "at": at,
            }
            for arn in sorted(gone)
        ]
        passed = sorted({r["resource_arn"] for r in rows if r["check_id"] == plan.check_id and r["status"] == "PASS"})
        # A deleted resource neither passes nor fails the plan: the others decide.
        verified = (
            problem is None and set(passed) == targets - gone and all(r["status"] in ("PASS", "GONE") for r in rows)
        )
        summary = {
            "scan_id": scan_id,
            "verified": verified,
            "passed": len(passed),
            "gone": len(gone),
            "resources": len(targets),
            "problem": problem,
        }
        state = "verified" if verified else "verification_failed"
        async with db.transaction(self.pool) as conn:
            repo = PlanRepository(conn)
            current = await self._locked(repo, plan.plan_id)
            if current["state"] != "verifying" or (current["verification_scan_id"] or "") != scan_id:
                return
            await repo.record_verifications(plan.plan_id, rows)
            await repo.set_state(plan.plan_id, state, at, verification=summary)
            await audit.record(
                conn,
                OUTBOX,
                actor=None,
                action="remediation_plan.verified",
                target_type="remediation_plan",
                target_id=plan.plan_id,
                before={"state": "verifying"},
                after={"state": state, **summary},
                at=at,
            )
            await OUTBOX.emit(
                conn,
                "remediation.verified",
                f"remediation.verified:{plan.plan_id}:{scan_id}",
                {
                    "plan_id": plan.plan_id,
                    **summary,
                    "results": [{k: r[k] for k in ("resource_arn", "check_id", "status")} for r in rows],
                },
                at,
            )
        log.info("plan_verified", plan_id=plan.plan_id, state=state, passed=len(passed), resources=len(targets))

    # Read -------------------------------------------------------------------------------------

    async def _locked(self, repo: PlanRepository, plan_id: str) -> asyncpg.Record:
        plan = await repo.plan(plan_id, lock=True)
        if plan is None:
            raise NotFound(f"No plan has the id {plan_id!r}.", code="plan_not_found")
        return plan

    async def get(self, plan_id: str) -> PlanOut:
        async with self.pool.acquire() as conn:
            repo = PlanRepository(conn)
            plan = await repo.plan(plan_id)
            if plan is None:
                raise NotFound(f"No plan has the id {plan_id!r}.", code="plan_not_found")
            items = await repo.items(plan_id)
            approval = await repo.approval(plan_id)
            execution = await repo.execution(plan_id)
            results = await repo.results(execution["execution_id"]) if execution is not None else []
            verifications = await repo.verifications(plan_id)
        known = catalogue().get(plan["action_id"])
        return PlanOut(
            plan_id=plan["plan_id"],
            action_id=plan["action_id"],
            action_version=plan["action_version"],
            action_title=known.title if known is not None else plan["action_id"],
            check_id=plan["check_id"],
            parameters=plan["parameters"],
            selection=plan["selection"],
            state=plan["state"],
            content_hash=plan["content_hash"],
            requested_by=plan["requested_by"],
            created_at=plan["created_at"],
            updated_at=plan["updated_at"],
            items=[ItemOut.model_validate(dict(i)) for i in items],
            approval=ApprovalOut.model_validate(dict(approval)) if approval is not None else None,
            execution=(
                ExecutionOut(
                    execution_id=execution["execution_id"],
                    executed_by=execution["executed_by"],
                    started_at=execution["started_at"],
                    finished_at=execution["finished_at"],
                    summary=execution["summary"],
                    results=[ResultOut.model_validate(dict(r)) for r in results],
                )
                if execution is not None
                else None
            ),
            verification_scan_id=plan["verification_scan_id"],
            verification_summary=plan["verification"],
            verifications=[VerificationOut.model_validate(dict(v)) for v in verifications],
        )

    async def recent(self, limit: int, state: str | None) -> list[PlanSummary]:
        async with self.pool.acquire() as conn:
            rows = await PlanRepository(conn).recent(limit, state)
        return [
            PlanSummary(
                plan_id=r["plan_id"],
                action_id=r["action_id"],
                check_id=r["check_id"],
                state=r["state"],
                resources=r["resources"],
                requested_by=r["requested_by"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]
