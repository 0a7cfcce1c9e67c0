"""Who holds the AWS managed AdministratorAccess policy (CIS AWS Foundations 1.16).

Customer-managed policies are read, document and all, by the ``iam`` collector; AWS managed policies
are not (there are over a thousand, the same in every account). The one among them that allows every
action on every resource is AdministratorAccess, so the question CIS 1.16 asks of AWS managed policies
is who it is attached to: ListEntitiesForPolicy, every page.

Global, no resource emitted. The global ``AWS::::Account`` snapshot gets
``iam_admin_policy_attachments``: ``{"policy_arn", "users", "groups", "roles"}`` (sorted names).
"""

from __future__ import annotations

from typing import Any

from guardian_collector.collectors.base import CallError, Collector, Facts, UnitContext, register

SERVICE = "iamadmin"
FACT = "admin_policy_attachments"
FIELD = "iam_admin_policy_attachments"
ADMIN_POLICY = "AdministratorAccess"
MAX_PAGES = 100


@register
class IamAdminCollector(Collector):
    service = SERVICE
    client_name = "iam"
    global_service = True
    permissions = ("iam:ListEntitiesForPolicy",)
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        iam = await ctx.client("iam")
        arn = f"arn:{ctx.partition}:iam::aws:policy/{ADMIN_POLICY}"
        holders: dict[str, set[str]] = {"users": set(), "groups": set(), "roles": set()}
        marker: str | None = None
        for _ in range(MAX_PAGES):
            args: dict[str, Any] = {"PolicyArn": arn}
            if marker:
                args["Marker"] = marker
            page = await ctx.read(iam, "list_entities_for_policy", resource_arn=arn, **args)
            if page.error is not None:
                ctx.facts.put_error(SERVICE, FACT, page.error.describe())
                return
            answer = page.value
            holders["users"].update(str(u.get("UserName")) for u in answer.get("PolicyUsers") or [])
            holders["groups"].update(str(g.get("GroupName")) for g in answer.get("PolicyGroups") or [])
            holders["roles"].update(str(r.get("RoleName")) for r in answer.get("PolicyRoles") or [])
            marker = answer.get("Marker") if answer.get("IsTruncated") else None
            if not marker:
                ctx.facts.put(SERVICE, FACT, {"policy_arn": arn, **{k: sorted(v) for k, v in holders.items()}})
                return
        error = CallError("list_entities_for_policy", "TooManyPages", f"more than {MAX_PAGES} pages", arn)
        ctx.record(error)
        ctx.facts.put_error(SERVICE, FACT, error.describe())

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != "global":
            return {}, {}
        missing = object()
        value = facts.get(SERVICE, FACT, missing)
        error = facts.error(SERVICE, FACT)
        if error is not None or value is missing:
            return {FIELD: None}, {FIELD: error or "the IAM collection did not finish"}
        return {FIELD: value}, {}
