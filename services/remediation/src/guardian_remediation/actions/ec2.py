"""EC2: EBS encryption by default per region, VPC flow logs, and unencrypted volumes (steps only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import (
    Action,
    ApiCall,
    Aws,
    Param,
    ParameterError,
    Reading,
    RolePass,
    Target,
    action,
    error_code,
    tag_dict,
)

# The name prefix of the roles the write role may pass to VPC Flow Logs (see policy.py to change it).
FLOW_LOGS_ROLE_PREFIX = "guardian-flow-logs-"
FLOW_LOGS_SERVICE = "vpc-flow-logs.amazonaws.com"


def resource_id(target: Target) -> str:
    return target.resource.rsplit("/", 1)[-1]


@action
class EbsDefaultEncryption(Action):
    id = "ec2_ebs_default_encryption"
    title = "Encrypt new EBS volumes by default in a region"
    description = (
        "Turns on EBS encryption by default for the region, optionally with a chosen KMS key. Existing"
        " volumes are not changed; every volume created afterwards is encrypted."
    )
    resource_type = "AWS::::Account"
    checks = ("ec2_ebs_default_encryption",)
    permissions = (
        "ec2:GetEbsEncryptionByDefault",
        "ec2:GetEbsDefaultKmsKeyId",
        "ec2:EnableEbsEncryptionByDefault",
        "ec2:ModifyEbsDefaultKmsKeyId",
    )
    parameters = (Param("kms_key_id", "string", "The KMS key for new volumes; none keeps the current default key"),)
    verify_services = ("ec2",)
    reads = ("ec2:GetEbsEncryptionByDefault", "ec2:GetEbsDefaultKmsKeyId")

    async def read(self, aws: Aws, target: Target) -> Reading:
        ec2 = await aws.client("ec2", target.call_region(aws.home_region))
        enabled = await ec2.get_ebs_encryption_by_default()
        state: dict[str, Any] = {"enabled": bool(enabled.get("EbsEncryptionByDefault")), "kms_key_id": None}
        try:
            state["kms_key_id"] = (await ec2.get_ebs_default_kms_key_id()).get("KmsKeyId")
        except Exception as exc:
            # The default key matters only when a key is asked for; then it is set whatever it was.
            state["kms_key_id_unreadable"] = error_code(exc)
        return Reading(state=state)

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        key_ok = not params["kms_key_id"] or state.get("kms_key_id") == params["kms_key_id"]
        return state.get("enabled") is True and key_ok

    def expected(self, params: Mapping[str, Any]) -> str:
        key = f" with key {params['kms_key_id']}" if params.get("kms_key_id") else ""
        return f"EBS encryption by default is on in the region{key}."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        region = target.call_region(aws.home_region)
        calls = []
        if params["kms_key_id"] and state.get("kms_key_id") != params["kms_key_id"]:
            calls.append(
                ApiCall(
                    "ec2",
                    "ModifyEbsDefaultKmsKeyId",
                    region,
                    {"KmsKeyId": params["kms_key_id"]},
                    "ec2:ModifyEbsDefaultKmsKeyId",
                )
            )
        if state.get("enabled") is not True:
            calls.append(ApiCall("ec2", "EnableEbsEncryptionByDefault", region, {}, "ec2:EnableEbsEncryptionByDefault"))
        return calls


@action
class VpcFlowLogs(Action):
    id = "ec2_vpc_flow_logs"
    title = "Create a flow log for a VPC"
    description = (
        "Creates a flow log capturing ALL traffic of the VPC, delivered to an S3 bucket (destination: the"
        " bucket's ARN) or to a CloudWatch Logs group (destination: the group name, with the delivery role)."
    )
    resource_type = "AWS::EC2::VPC"
    checks = ("ec2_vpc_flow_logs_enabled",)
    permissions = (
        "ec2:DescribeFlowLogs",
        "ec2:DescribeVpcs",
        "ec2:CreateFlowLogs",
        "ec2:CreateTags",
        "logs:CreateLogDelivery",
        "iam:PassRole",
    )
    passes_roles = (
        RolePass(
            FLOW_LOGS_SERVICE,
            FLOW_LOGS_ROLE_PREFIX,
            "The delivery role of a flow log to CloudWatch Logs (deliver_logs_role_arn)",
        ),
    )
    parameters = (
        Param("destination_type", "string", "s3 or cloud-watch-logs", default="s3", choices=("s3", "cloud-watch-logs")),
        Param("destination", "string", "The bucket ARN (s3) or the log group name (cloud-watch-logs)"),
        Param(
            "deliver_logs_role_arn",
            "string",
            "The role that delivers to CloudWatch Logs (cloud-watch-logs only); the write policy lets Guardian"
            f" pass only roles named {FLOW_LOGS_ROLE_PREFIX}* by default",
        ),
        Param("traffic_type", "string", "Which traffic to capture", default="ALL", choices=("ALL", "REJECT")),
    )
    verify_services = ("ec2",)
    reads = ("ec2:DescribeFlowLogs", "ec2:DescribeVpcs")

    def validate(self, params: Mapping[str, Any]) -> None:
        if not params["destination"]:
            raise ParameterError("destination is required: a bucket ARN (s3) or a log group name")
        if params["destination_type"] == "s3" and not str(params["destination"]).startswith("arn:"):
            raise ParameterError("an s3 destination is the bucket's ARN (arn:aws:s3:::BUCKET)")
        if params["destination_type"] == "cloud-watch-logs" and not params["deliver_logs_role_arn"]:
            raise ParameterError("a cloud-watch-logs destination needs deliver_logs_role_arn")
        role = params["deliver_logs_role_arn"]
        if role and (not str(role).startswith("arn:") or ":role/" not in str(role)):
            raise ParameterError("deliver_logs_role_arn is an IAM role's ARN (arn:aws:iam::ACCOUNT:role/NAME)")

    async def read(self, aws: Aws, target: Target) -> Reading:
        ec2 = await aws.client("ec2", target.call_region(aws.home_region))
        vpc = resource_id(target)
        vpcs = await ec2.describe_vpcs(VpcIds=[vpc])
        tags = tag_dict((vpcs.get("Vpcs") or [{}])[0].get("Tags"))
        answer = await ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])
        logs = sorted(
            (
                {"id": f.get("FlowLogId"), "status": f.get("FlowLogStatus"), "traffic_type": f.get("TrafficType")}
                for f in answer.get("FlowLogs", [])
            ),
            key=lambda f: str(f["id"]),
        )
        return Reading(state={"flow_logs": logs}, tags=tags)

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return any(
            f.get("status") == "ACTIVE" and f.get("traffic_type") in ("ALL", "REJECT")
            for f in state.get("flow_logs", [])
        )

    def expected(self, params: Mapping[str, Any]) -> str:
        traffic, destination = params["traffic_type"], params["destination_type"]
        return f"The VPC has an active flow log capturing {traffic} traffic to {destination}."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        arguments: dict[str, Any] = {
            "ResourceIds": [resource_id(target)],
            "ResourceType": "VPC",
            "TrafficType": params["traffic_type"],
            "LogDestinationType": params["destination_type"],
        }
        if params["destination_type"] == "s3":
            arguments["LogDestination"] = params["destination"]
        else:
            arguments["LogGroupName"] = params["destination"]
            arguments["DeliverLogsPermissionArn"] = params["deliver_logs_role_arn"]
        return [ApiCall("ec2", "CreateFlowLogs", target.call_region(aws.home_region), arguments, "ec2:CreateFlowLogs")]


@action
class EbsVolumeEncryption(Action):
    id = "ec2_ebs_volume_encryption"
    title = "Replace an unencrypted EBS volume with an encrypted copy (steps only)"
    description = (
        "AWS cannot encrypt an existing volume in place. The plan lists the steps: snapshot, encrypted copy,"
        " new volume, swap during a maintenance window. Guardian does not act on it."
    )
    resource_type = "AWS::EC2::Volume"
    checks = ("ec2_ebs_volume_encrypted", "data_restricted_ebs_volume_encrypted")
    permissions = ("ec2:DescribeVolumes",)
    parameters = (Param("kms_key_id", "string", "The KMS key for the encrypted copy", default="alias/aws/ebs"),)
    in_place = False
    verify_services = ("ec2",)
    reads = ("ec2:DescribeVolumes",)

    async def read(self, aws: Aws, target: Target) -> Reading:
        ec2 = await aws.client("ec2", target.call_region(aws.home_region))
        answer = await ec2.describe_volumes(VolumeIds=[resource_id(target)])
        volume = (answer.get("Volumes") or [{}])[0]
        attachments = sorted(str(a.get("InstanceId")) for a in volume.get("Attachments", []))
        return Reading(
            state={"encrypted": bool(volume.get("Encrypted")), "attached_to": attachments},
            tags=tag_dict(volume.get("Tags")),
        )

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return state.get("encrypted") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        return "After the steps, the data lives on a volume encrypted with the chosen key; the old one is deleted."

    def steps(self, target: Target, params: Mapping[str, Any]) -> list[str]:
        volume = resource_id(target)
        region = target.region
        key = params["kms_key_id"]
        return [
            f"aws ec2 create-snapshot --region {region} --volume-id {volume} --description 'before encryption'",
            f"aws ec2 copy-snapshot --region {region} --source-region {region} --source-snapshot-id SNAPSHOT_ID"
            f" --encrypted --kms-key-id {key}",
            f"aws ec2 create-volume --region {region} --snapshot-id ENCRYPTED_SNAPSHOT_ID"
            " --availability-zone SAME_AZ --volume-type SAME_TYPE",
            "In a maintenance window: stop the instance, detach the old volume, attach the new one at the same"
            " device name, start the instance and check the application.",
            f"When satisfied, delete {volume} and the unencrypted snapshot.",
        ]
