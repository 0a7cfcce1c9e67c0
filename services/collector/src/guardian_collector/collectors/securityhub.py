"""AWS Security Hub: whether each region has the hub on, which standards run, and where findings go.

No resource is emitted. Each region's ``AWS::::Account`` snapshot gets:

* ``securityhub``: ``{"enabled", "hub_arn", "standards": [{"arn", "status"}], "administrator"}``
  from DescribeHub (``InvalidAccessException`` means the account is not subscribed in the region),
  GetEnabledStandards and GetAdministratorAccount;
* ``securityhub_finding_routes``: EventBridge rules of the default bus matching Security Hub
  findings (source ``aws.securityhub``), with their targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import finding_routes, read_pages
from guardian_collector.collectors.base import Collector, Facts, UnitContext, register
from guardian_collector.collectors.guardduty import regional_fields

SERVICE = "securityhub"
HUB_FACT = "hub"
ROUTES_FACT = "routes"
SOURCE = "aws.securityhub"
DETAIL_TYPES = (
    "Security Hub Findings - Imported",
    "Security Hub Findings - Custom Action",
    "Security Hub Insight Results",
)
NOT_SUBSCRIBED = ("InvalidAccessException", "ResourceNotFoundException")


@register
class SecurityHubCollector(Collector):
    service = SERVICE
    permissions = (
        "securityhub:DescribeHub",
        "securityhub:GetEnabledStandards",
        "securityhub:GetAdministratorAccount",
        "events:ListRules",
        "events:ListTargetsByRule",
    )
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        client = await ctx.client("securityhub")
        hub = await ctx.read(client, "describe_hub", absent=NOT_SUBSCRIBED)
        if hub.error is not None:
            ctx.facts.put_error(SERVICE, HUB_FACT, hub.error.describe(), region=region)
        elif hub.absent:
            ctx.facts.put(
                SERVICE,
                HUB_FACT,
                {"enabled": False, "hub_arn": None, "standards": [], "administrator": None},
                region=region,
            )
        else:
            summary: dict[str, Any] = {
                "enabled": True,
                "hub_arn": hub.value.get("HubArn"),
                "subscribed_at": hub.value.get("SubscribedAt"),
                "standards": None,
                "administrator": None,
            }
            standards = await read_pages(ctx, client, "get_enabled_standards", "StandardsSubscriptions")
            admin = await ctx.read(client, "get_administrator_account")
            if standards.error is not None:
                ctx.facts.put_error(SERVICE, HUB_FACT, f"standards: {standards.error.describe()}", region=region)
            elif admin.error is not None:
                ctx.facts.put_error(SERVICE, HUB_FACT, f"administrator: {admin.error.describe()}", region=region)
            else:
                summary["standards"] = [
                    {"arn": s.get("StandardsArn"), "status": s.get("StandardsStatus")} for s in standards.value or []
                ]
                administrator = admin.value.get("Administrator")
                if isinstance(administrator, Mapping) and administrator.get("AccountId"):
                    summary["administrator"] = {
                        "account_id": str(administrator["AccountId"]),
                        "relationship_status": administrator.get("MemberStatus"),
                    }
                ctx.facts.put(SERVICE, HUB_FACT, summary, region=region)
        routes, error = await finding_routes(ctx, SOURCE, DETAIL_TYPES)
        if error is not None:
            ctx.facts.put_error(SERVICE, ROUTES_FACT, error, region=region)
        else:
            ctx.facts.put(SERVICE, ROUTES_FACT, routes, region=region)

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        return regional_fields(
            facts, SERVICE, region, ((HUB_FACT, "securityhub"), (ROUTES_FACT, "securityhub_finding_routes"))
        )
