"""EC2 Auto Scaling: groups, one unit per region.

DescribeAutoScalingGroups returns everything the checks need (zones, attached load balancers and
traffic sources, health check type, launch template or configuration) and the tags, so the one
paginated listing is the whole collection: if it fails the unit is FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors._compute_network import sorted_strings
from guardian_collector.collectors.base import (
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "autoscaling"
GROUP = "AWS::AutoScaling::AutoScalingGroup"


def launch_template(spec: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not spec:
        return None
    return {
        "id": spec.get("LaunchTemplateId"),
        "name": spec.get("LaunchTemplateName"),
        "version": spec.get("Version"),
    }


def group_configuration(group: Mapping[str, Any]) -> dict[str, Any]:
    mixed = (group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}
    subnets = str(group.get("VPCZoneIdentifier") or "")
    return {
        "name": group["AutoScalingGroupName"],
        "availability_zones": sorted_strings(group.get("AvailabilityZones")),
        "subnets": sorted_strings(s.strip() for s in subnets.split(",")),
        "min_size": group.get("MinSize"),
        "max_size": group.get("MaxSize"),
        "desired_capacity": group.get("DesiredCapacity"),
        "load_balancer_names": sorted_strings(group.get("LoadBalancerNames")),
        "target_group_arns": sorted_strings(group.get("TargetGroupARNs")),
        "traffic_sources": sorted(
            (
                {"identifier": str(t.get("Identifier")), "type": t.get("Type")}
                for t in group.get("TrafficSources") or []
                if t.get("Identifier")
            ),
            key=lambda t: t["identifier"],
        ),
        "health_check_type": group.get("HealthCheckType"),
        "health_check_grace_period": group.get("HealthCheckGracePeriod"),
        "launch_template": launch_template(group.get("LaunchTemplate")),
        "mixed_instances_launch_template": launch_template(mixed.get("LaunchTemplateSpecification")),
        "launch_configuration_name": group.get("LaunchConfigurationName"),
        "instances": len(group.get("Instances") or []),
    }


@register
class AutoScalingCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = ("autoscaling:DescribeAutoScalingGroups",)
    resource_types: ClassVar[tuple[str, ...]] = (GROUP,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        for group in await ctx.list_all(client, "describe_auto_scaling_groups", "AutoScalingGroups"):
            name = group["AutoScalingGroupName"]
            arn = group.get("AutoScalingGroupARN") or ctx.arn(
                SERVICE, f"autoScalingGroup:*:autoScalingGroupName/{name}"
            )
            await ctx.emit(
                Resource(
                    resource_type=GROUP,
                    arn=str(arn),
                    name=name,
                    region=ctx.region,
                    configuration=ConfigBuilder(**group_configuration(group)).build(),
                    tags=tags_of(group.get("Tags")),
                )
            )
