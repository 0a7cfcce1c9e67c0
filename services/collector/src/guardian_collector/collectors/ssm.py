"""AWS Systems Manager: whether each region's running EC2 instances are managed and patched.

No resource is emitted. Each region's ``AWS::::Account`` snapshot gets ``ssm_instances``:

* ``running``: the running EC2 instances (DescribeInstances, state ``running``), ``{"id", "name"}``;
* ``managed``: the EC2 instances known to Systems Manager (DescribeInstanceInformation), with the
  agent's ping status;
* ``patch``: each managed instance's patch compliance (ListResourceComplianceSummaries for the
  ``Patch`` compliance type): status and counts of non-compliant patches.

A listing that fails leaves the whole field unreadable: a partial list of instances could hide an
unmanaged or unpatched one.
"""

from __future__ import annotations

from typing import Any

from guardian_collector.collectors._gd_shared import read_pages
from guardian_collector.collectors.base import Collector, Facts, UnitContext, register, tags_of
from guardian_collector.collectors.guardduty import regional_fields

SERVICE = "ssm"
FACT = "instances"


@register
class SsmCollector(Collector):
    service = SERVICE
    permissions = (
        "ec2:DescribeInstances",
        "ssm:DescribeInstanceInformation",
        "ssm:ListResourceComplianceSummaries",
    )
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        ec2 = await ctx.client("ec2")
        ssm = await ctx.client("ssm")
        reservations = await read_pages(
            ctx,
            ec2,
            "describe_instances",
            "Reservations",
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}],
        )
        if reservations.error is not None:
            ctx.facts.put_error(SERVICE, FACT, f"instances: {reservations.error.describe()}", region=region)
            return
        running = [
            {"id": str(i.get("InstanceId")), "name": tags_of(i.get("Tags")).get("Name")}
            for r in reservations.value or []
            for i in r.get("Instances") or []
        ]
        if not running:
            ctx.facts.put(SERVICE, FACT, {"running": [], "managed": {}, "patch": {}}, region=region)
            return
        # Every managed node is listed; on-premises ones (mi-...) simply match no EC2 instance.
        information = await read_pages(ctx, ssm, "describe_instance_information", "InstanceInformationList")
        if information.error is not None:
            ctx.facts.put_error(SERVICE, FACT, f"managed instances: {information.error.describe()}", region=region)
            return
        summaries = await read_pages(
            ctx,
            ssm,
            "list_resource_compliance_summaries",
            "ResourceComplianceSummaryItems",
            Filters=[{"Key": "ComplianceType", "Values": ["Patch"], "Type": "EQUAL"}],
        )
        if summaries.error is not None:
            ctx.facts.put_error(SERVICE, FACT, f"patch compliance: {summaries.error.describe()}", region=region)
            return
        managed = {str(i.get("InstanceId")): i.get("PingStatus") for i in information.value or []}
        patch: dict[str, Any] = {}
        for item in summaries.value or []:
            if item.get("ResourceType") not in (None, "ManagedInstance"):
                continue
            non_compliant = item.get("NonCompliantSummary") or {}
            patch[str(item.get("ResourceId"))] = {
                "status": item.get("Status"),
                "non_compliant": non_compliant.get("NonCompliantCount", 0),
                "severity": item.get("OverallSeverity"),
            }
        ctx.facts.put(SERVICE, FACT, {"running": running, "managed": managed, "patch": patch}, region=region)

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        return regional_fields(facts, SERVICE, region, ((FACT, "ssm_instances"),))
