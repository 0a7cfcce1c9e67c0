"""Amazon Data Lifecycle Manager: lifecycle policies per region, and whether the region has EBS
volumes for them to protect.

One unit per region. GetLifecyclePolicies is the primary listing: each policy is emitted as a
resource, and the list goes to the facts for the region's ``AWS::::Account`` context snapshot
(``dlm_lifecycle_policies``). Whether the region holds any EBS volume (``dlm_region_has_volumes``)
is read here with a one-page DescribeVolumes rather than taken from the ``ec2`` collector's facts,
because that collector may not be part of the scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    Collector,
    ConfigBuilder,
    Facts,
    Resource,
    UnitContext,
    UnitFailed,
    register,
    tags_of,
)

SERVICE = "dlm"
POLICY = "AWS::DLM::LifecyclePolicy"
POLICIES_FACT = "policies"
VOLUMES_FACT = "has_volumes"
POLICIES_FIELD = "dlm_lifecycle_policies"
VOLUMES_FIELD = "dlm_region_has_volumes"
NOT_COLLECTED = "NotCollected on {operation}: the DLM collection of this region did not finish"
MAX_VOLUME_PAGES = 50


def policy_summary(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "policy_id": policy["PolicyId"],
        "description": policy.get("Description"),
        "state": policy.get("State"),
        "policy_type": policy.get("PolicyType"),
        "default_policy": bool(policy.get("DefaultPolicy", False)),
    }


@register
class DlmCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = ("dlm:GetLifecyclePolicies", "ec2:DescribeVolumes")
    resource_types: ClassVar[tuple[str, ...]] = (POLICY,)

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        await self._volumes(ctx)
        client = await ctx.client(SERVICE)
        try:
            policies = await ctx.list_all(client, "get_lifecycle_policies", "Policies")
        except UnitFailed as exc:
            ctx.facts.put_error(SERVICE, POLICIES_FACT, exc.error.describe(), region=region)
            raise
        summaries = []
        for policy in policies:
            summary = policy_summary(policy)
            summaries.append(summary)
            policy_id = summary["policy_id"]
            await ctx.emit(
                Resource(
                    resource_type=POLICY,
                    arn=ctx.arn(SERVICE, f"policy/{policy_id}"),
                    name=policy_id,
                    region=ctx.region,
                    configuration=ConfigBuilder(**summary).build(),
                    tags=tags_of(policy.get("Tags")),
                )
            )
        ctx.facts.put(SERVICE, POLICIES_FACT, sorted(summaries, key=lambda s: str(s["policy_id"])), region=region)

    async def _volumes(self, ctx: UnitContext) -> None:
        """Whether at least one EBS volume exists: pages are read only until one is seen."""
        region = ctx.unit_region
        ec2 = await ctx.client("ec2")
        token: str | None = None
        for _ in range(MAX_VOLUME_PAGES):
            kwargs: dict[str, Any] = {"MaxResults": 5}
            if token:
                kwargs["NextToken"] = token
            page = await ctx.read(ec2, "describe_volumes", **kwargs)
            if page.error is not None:
                ctx.facts.put_error(SERVICE, VOLUMES_FACT, page.error.describe(), region=region)
                return
            if page.value.get("Volumes"):
                ctx.facts.put(SERVICE, VOLUMES_FACT, True, region=region)
                return
            token = page.value.get("NextToken")
            if not token:
                ctx.facts.put(SERVICE, VOLUMES_FACT, False, region=region)
                return
        ctx.facts.put_error(
            SERVICE,
            VOLUMES_FACT,
            f"PaginationLimit on describe_volumes: no answer within {MAX_VOLUME_PAGES} pages",
            region=region,
        )

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        fields: dict[str, Any] = {}
        unreadable: dict[str, str] = {}
        for fact, field, operation in (
            (POLICIES_FACT, POLICIES_FIELD, "GetLifecyclePolicies"),
            (VOLUMES_FACT, VOLUMES_FIELD, "DescribeVolumes"),
        ):
            error = facts.error(SERVICE, fact, region=region)
            value = facts.get(SERVICE, fact, region=region)
            if error is not None or value is None:
                fields[field] = None
                unreadable[field] = error or NOT_COLLECTED.format(operation=operation)
            else:
                fields[field] = value
        return fields, unreadable
