"""CloudTrail: log file integrity validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import Action, ApiCall, Aws, Reading, Target, action, tag_dict


def trail_region(target: Target, home: str) -> str:
    # A trail is managed in its home region, the region of its ARN.
    parts = target.arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else target.call_region(home)


@action
class CloudTrailLogFileValidation(Action):
    id = "cloudtrail_log_file_validation"
    title = "Turn on log file validation of a CloudTrail trail"
    description = "CloudTrail then writes signed digest files, so tampering with delivered logs can be detected."
    resource_type = "AWS::CloudTrail::Trail"
    checks = ("cloudtrail_log_file_validation",)
    permissions = ("cloudtrail:GetTrail", "cloudtrail:ListTags", "cloudtrail:UpdateTrail")
    verify_services = ("cloudtrail",)
    reads = ("cloudtrail:GetTrail", "cloudtrail:ListTags")

    async def read(self, aws: Aws, target: Target) -> Reading:
        trail = await aws.client("cloudtrail", trail_region(target, aws.home_region))
        answer = await trail.get_trail(Name=target.arn)
        tags = await trail.list_tags(ResourceIdList=[target.arn])
        tag_list = (tags.get("ResourceTagList") or [{}])[0].get("TagsList")
        return Reading(
            state={"log_file_validation": bool(answer.get("Trail", {}).get("LogFileValidationEnabled"))},
            tags=tag_dict(tag_list),
        )

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return state.get("log_file_validation") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        return "The trail writes signed digest files (log file validation enabled)."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "cloudtrail",
                "UpdateTrail",
                trail_region(target, aws.home_region),
                {"Name": target.arn, "EnableLogFileValidation": True},
                "cloudtrail:UpdateTrail",
            )
        ]
