"""SQS and SNS: encryption at rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import Action, ApiCall, Aws, Param, Reading, Target, action, tag_dict


def queue_url(target: Target, home: str) -> tuple[str, str]:
    """(region, the queue's name); its URL is looked up at read time."""
    return target.call_region(home), target.resource


@action
class SqsEncryption(Action):
    id = "sqs_queue_encryption"
    title = "Encrypt an SQS queue at rest"
    description = "Turns on SSE-SQS (SQS-managed keys) or SSE-KMS with a chosen key for new messages."
    resource_type = "AWS::SQS::Queue"
    checks = ("sqs_queue_encrypted",)
    permissions = ("sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ListQueueTags", "sqs:SetQueueAttributes")
    parameters = (Param("kms_key_id", "string", "A KMS key for SSE-KMS; none uses SQS-managed keys (SSE-SQS)"),)
    verify_services = ("sqs",)
    reads = ("sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ListQueueTags")

    async def _url(self, aws: Aws, target: Target) -> str:
        region, name = queue_url(target, aws.home_region)
        sqs = await aws.client("sqs", region)
        answer = await sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=target.account_id)
        return str(answer["QueueUrl"])

    async def read(self, aws: Aws, target: Target) -> Reading:
        sqs = await aws.client("sqs", target.call_region(aws.home_region))
        url = await self._url(aws, target)
        attributes = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])).get("Attributes", {})
        tags = (await sqs.list_queue_tags(QueueUrl=url)).get("Tags", {})
        state = {
            "kms_master_key_id": attributes.get("KmsMasterKeyId"),
            "sqs_managed_sse": str(attributes.get("SqsManagedSseEnabled", "false")).lower() == "true",
            "queue_url": url,
        }
        return Reading(state=state, tags=tag_dict(tags))

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        if params["kms_key_id"]:
            return bool(state.get("kms_master_key_id") == params["kms_key_id"])
        return bool(state.get("kms_master_key_id")) or state.get("sqs_managed_sse") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        if params.get("kms_key_id"):
            return f"The queue encrypts messages at rest with KMS key {params['kms_key_id']}."
        return "The queue encrypts messages at rest with SQS-managed keys (SSE-SQS)."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        attributes = (
            {"KmsMasterKeyId": params["kms_key_id"]} if params["kms_key_id"] else {"SqsManagedSseEnabled": "true"}
        )
        return [
            ApiCall(
                "sqs",
                "SetQueueAttributes",
                target.call_region(aws.home_region),
                {"QueueUrl": str(state["queue_url"]), "Attributes": attributes},
                "sqs:SetQueueAttributes",
            )
        ]


@action
class SnsEncryption(Action):
    id = "sns_topic_encryption"
    title = "Encrypt an SNS topic at rest"
    description = "Sets the topic's KMS key (the AWS managed alias/aws/sns unless another is chosen)."
    resource_type = "AWS::SNS::Topic"
    checks = ("sns_topic_encrypted_kms",)
    permissions = ("sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:SetTopicAttributes")
    parameters = (Param("kms_key_id", "string", "The KMS key (ARN, id or alias)", default="alias/aws/sns"),)
    verify_services = ("sns",)
    reads = ("sns:GetTopicAttributes", "sns:ListTagsForResource")

    async def read(self, aws: Aws, target: Target) -> Reading:
        sns = await aws.client("sns", target.call_region(aws.home_region))
        attributes = (await sns.get_topic_attributes(TopicArn=target.arn)).get("Attributes", {})
        tags = (await sns.list_tags_for_resource(ResourceArn=target.arn)).get("Tags", [])
        return Reading(state={"kms_master_key_id": attributes.get("KmsMasterKeyId") or None}, tags=tag_dict(tags))

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return bool(state.get("kms_master_key_id") == params["kms_key_id"])

    def expected(self, params: Mapping[str, Any]) -> str:
        return f"The topic encrypts messages at rest with KMS key {params['kms_key_id']}."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "sns",
                "SetTopicAttributes",
                target.call_region(aws.home_region),
                {"TopicArn": target.arn, "AttributeName": "KmsMasterKeyId", "AttributeValue": params["kms_key_id"]},
                "sns:SetTopicAttributes",
            )
        ]
