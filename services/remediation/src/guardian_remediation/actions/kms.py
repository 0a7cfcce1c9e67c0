"""KMS: automatic rotation of customer managed keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import Action, ApiCall, Aws, Reading, Target, action, tag_dict


def key_id(target: Target) -> str:
    return target.resource.split("/", 1)[-1]


@action
class KmsKeyRotation(Action):
    id = "kms_key_rotation"
    title = "Rotate a customer managed KMS key automatically"
    description = "Turns on yearly automatic rotation of the key material; data encrypted before stays readable."
    resource_type = "AWS::KMS::Key"
    checks = ("kms_key_rotation_enabled",)
    permissions = ("kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:EnableKeyRotation")
    verify_services = ("kms",)
    reads = ("kms:GetKeyRotationStatus", "kms:ListResourceTags")

    async def read(self, aws: Aws, target: Target) -> Reading:
        kms = await aws.client("kms", target.call_region(aws.home_region))
        status = await kms.get_key_rotation_status(KeyId=key_id(target))
        tags = await kms.list_resource_tags(KeyId=key_id(target))
        return Reading(
            state={"rotation_enabled": bool(status.get("KeyRotationEnabled"))},
            tags=tag_dict(tags.get("Tags"), "TagKey", "TagValue"),
        )

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return state.get("rotation_enabled") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        return "Automatic key rotation is enabled."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "kms",
                "EnableKeyRotation",
                target.call_region(aws.home_region),
                {"KeyId": key_id(target)},
                "kms:EnableKeyRotation",
            )
        ]
