"""Elastic Load Balancing (v2): deletion protection of load balancers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import Action, ApiCall, Aws, Reading, Target, action, tag_dict

ATTRIBUTE = "deletion_protection.enabled"


@action
class ElbDeletionProtection(Action):
    id = "elbv2_deletion_protection"
    title = "Protect a load balancer from deletion"
    description = "Turns on the load balancer's deletion protection attribute."
    resource_type = "AWS::ElasticLoadBalancingV2::LoadBalancer"
    checks = ("elbv2_deletion_protection",)
    permissions = (
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:ModifyLoadBalancerAttributes",
    )
    verify_services = ("elbv2",)
    reads = ("elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:DescribeTags")

    async def read(self, aws: Aws, target: Target) -> Reading:
        elb = await aws.client("elbv2", target.call_region(aws.home_region))
        answer = await elb.describe_load_balancer_attributes(LoadBalancerArn=target.arn)
        values = {a.get("Key"): a.get("Value") for a in answer.get("Attributes", [])}
        described = await elb.describe_tags(ResourceArns=[target.arn])
        tags = (described.get("TagDescriptions") or [{}])[0].get("Tags")
        return Reading(
            state={"deletion_protection": str(values.get(ATTRIBUTE, "false")).lower() == "true"},
            tags=tag_dict(tags),
        )

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return state.get("deletion_protection") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        return "Deletion protection is on."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "elbv2",
                "ModifyLoadBalancerAttributes",
                target.call_region(aws.home_region),
                {"LoadBalancerArn": target.arn, "Attributes": [{"Key": ATTRIBUTE, "Value": "true"}]},
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
            )
        ]
