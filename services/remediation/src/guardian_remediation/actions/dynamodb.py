"""DynamoDB: point-in-time recovery and deletion protection of tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import Action, ApiCall, Aws, Reading, Target, action, tag_dict


def table_name(target: Target) -> str:
    return target.resource.split("/", 1)[-1]


async def table_tags(aws: Aws, target: Target) -> dict[str, str]:
    ddb = await aws.client("dynamodb", target.call_region(aws.home_region))
    return tag_dict((await ddb.list_tags_of_resource(ResourceArn=target.arn)).get("Tags"))


@action
class DynamoDbPitr(Action):
    id = "dynamodb_table_pitr"
    title = "Turn on point-in-time recovery of a DynamoDB table"
    description = "Continuous backups let the table be restored to any second of the last 35 days."
    resource_type = "AWS::DynamoDB::Table"
    checks = ("dynamodb_table_pitr_enabled", "data_critical_dynamodb_table_backups")
    permissions = (
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:ListTagsOfResource",
        "dynamodb:UpdateContinuousBackups",
    )
    verify_services = ("dynamodb",)
    reads = ("dynamodb:DescribeContinuousBackups", "dynamodb:ListTagsOfResource")

    async def read(self, aws: Aws, target: Target) -> Reading:
        ddb = await aws.client("dynamodb", target.call_region(aws.home_region))
        answer = await ddb.describe_continuous_backups(TableName=table_name(target))
        pitr = answer.get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
        return Reading(
            state={"pitr": pitr.get("PointInTimeRecoveryStatus") == "ENABLED"}, tags=await table_tags(aws, target)
        )

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return state.get("pitr") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        return "Point-in-time recovery is enabled."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "dynamodb",
                "UpdateContinuousBackups",
                target.call_region(aws.home_region),
                {
                    "TableName": table_name(target),
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                },
                "dynamodb:UpdateContinuousBackups",
            )
        ]


@action
class DynamoDbDeletionProtection(Action):
    id = "dynamodb_table_deletion_protection"
    title = "Protect a DynamoDB table from deletion"
    description = "Turns on deletion protection: the table cannot be deleted until it is turned off again."
    resource_type = "AWS::DynamoDB::Table"
    checks = ("dynamodb_table_deletion_protection", "data_critical_dynamodb_table_deletion_protection")
    permissions = ("dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "dynamodb:UpdateTable")
    verify_services = ("dynamodb",)
    reads = ("dynamodb:DescribeTable", "dynamodb:ListTagsOfResource")

    async def read(self, aws: Aws, target: Target) -> Reading:
        ddb = await aws.client("dynamodb", target.call_region(aws.home_region))
        table = (await ddb.describe_table(TableName=table_name(target))).get("Table", {})
        return Reading(
            state={"deletion_protection": bool(table.get("DeletionProtectionEnabled"))},
            tags=await table_tags(aws, target),
        )

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return state.get("deletion_protection") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        return "Deletion protection is on."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "dynamodb",
                "UpdateTable",
                target.call_region(aws.home_region),
                {"TableName": table_name(target), "DeletionProtectionEnabled": True},
                "dynamodb:UpdateTable",
            )
        ]
