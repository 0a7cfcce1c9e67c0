"""CloudWatch Logs: retention of log groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import Action, ApiCall, Aws, Param, Reading, Target, action

# The values CloudWatch Logs accepts for a retention period, in days.
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def group_name(target: Target) -> str:
    resource = target.resource
    if resource.startswith("log-group:"):
        resource = resource[len("log-group:") :]
    return resource[:-2] if resource.endswith(":*") else resource


def group_arn(target: Target) -> str:
    return target.arn[:-2] if target.arn.endswith(":*") else target.arn


@action
class LogGroupRetention(Action):
    id = "logs_log_group_retention"
    title = "Keep a CloudWatch Logs group's events long enough"
    description = "Sets the log group's retention period; events older than it are deleted by CloudWatch Logs."
    resource_type = "AWS::Logs::LogGroup"
    checks = ("logs_log_group_retention",)
    permissions = ("logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:PutRetentionPolicy")
    parameters = (Param("retention_days", "integer", "Days to keep events", default=365, choices=RETENTION_DAYS),)
    verify_services = ("logs",)
    reads = ("logs:DescribeLogGroups", "logs:ListTagsForResource")

    async def read(self, aws: Aws, target: Target) -> Reading:
        logs = await aws.client("logs", target.call_region(aws.home_region))
        name = group_name(target)
        answer = await logs.describe_log_groups(logGroupNamePrefix=name)
        group = next((g for g in answer.get("logGroups", []) if g.get("logGroupName") == name), None)
        if group is None:
            raise LookupError(f"log group {name} does not exist")
        tags = (await logs.list_tags_for_resource(resourceArn=group_arn(target))).get("tags", {})
        return Reading(state={"retention_in_days": group.get("retentionInDays")}, tags=dict(tags))

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        days = state.get("retention_in_days")
        return days is not None and int(days) >= params["retention_days"]

    def expected(self, params: Mapping[str, Any]) -> str:
        return f"Events are kept for {params['retention_days']} days."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "logs",
                "PutRetentionPolicy",
                target.call_region(aws.home_region),
                {"logGroupName": group_name(target), "retentionInDays": params["retention_days"]},
                "logs:PutRetentionPolicy",
            )
        ]
