"""RDS: backup retention and deletion protection of instances; unencrypted instances (steps only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import Action, ApiCall, Aws, Param, Reading, Target, action, tag_dict

READ_PERMISSIONS = ("rds:DescribeDBInstances", "rds:ListTagsForResource")


def instance_id(target: Target) -> str:
    return target.resource.split(":", 1)[-1]


async def describe(aws: Aws, target: Target) -> tuple[dict[str, Any], dict[str, str]]:
    rds = await aws.client("rds", target.call_region(aws.home_region))
    answer = await rds.describe_db_instances(DBInstanceIdentifier=instance_id(target))
    instance: dict[str, Any] = (answer.get("DBInstances") or [{}])[0]
    return instance, tag_dict(instance.get("TagList"))


@action
class RdsBackupRetention(Action):
    id = "rds_instance_backup_retention"
    title = "Keep automated backups of an RDS instance long enough"
    description = (
        "Sets the automated backup retention period, applied immediately. Turning backups on from 0 can"
        " cause a brief outage on some engines."
    )
    resource_type = "AWS::RDS::DBInstance"
    checks = ("rds_instance_backups_enabled", "data_critical_rds_instance_backups")
    permissions = (*READ_PERMISSIONS, "rds:ModifyDBInstance")
    parameters = (Param("retention_days", "integer", "Days of automated backups", default=7, minimum=1, maximum=35),)
    verify_services = ("rds",)
    reads = ("rds:DescribeDBInstances",)

    async def read(self, aws: Aws, target: Target) -> Reading:
        instance, tags = await describe(aws, target)
        return Reading(state={"backup_retention_period": instance.get("BackupRetentionPeriod")}, tags=tags)

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return int(state.get("backup_retention_period") or 0) >= int(params["retention_days"])

    def expected(self, params: Mapping[str, Any]) -> str:
        return f"Automated backups are kept for {params['retention_days']} days."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "rds",
                "ModifyDBInstance",
                target.call_region(aws.home_region),
                {
                    "DBInstanceIdentifier": instance_id(target),
                    "BackupRetentionPeriod": params["retention_days"],
                    "ApplyImmediately": True,
                },
                "rds:ModifyDBInstance",
            )
        ]


@action
class RdsDeletionProtection(Action):
    id = "rds_instance_deletion_protection"
    title = "Protect an RDS instance from deletion"
    description = "Turns on deletion protection: the instance cannot be deleted until it is turned off again."
    resource_type = "AWS::RDS::DBInstance"
    checks = ("rds_instance_deletion_protection", "data_critical_rds_instance_deletion_protection")
    permissions = (*READ_PERMISSIONS, "rds:ModifyDBInstance")
    verify_services = ("rds",)
    reads = ("rds:DescribeDBInstances",)

    async def read(self, aws: Aws, target: Target) -> Reading:
        instance, tags = await describe(aws, target)
        return Reading(state={"deletion_protection": bool(instance.get("DeletionProtection"))}, tags=tags)

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return state.get("deletion_protection") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        return "Deletion protection is on."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "rds",
                "ModifyDBInstance",
                target.call_region(aws.home_region),
                {"DBInstanceIdentifier": instance_id(target), "DeletionProtection": True, "ApplyImmediately": True},
                "rds:ModifyDBInstance",
            )
        ]


@action
class RdsStorageEncryption(Action):
    id = "rds_instance_storage_encryption"
    title = "Move an unencrypted RDS instance to encrypted storage (steps only)"
    description = (
        "AWS cannot encrypt an existing instance in place. The plan lists the steps (snapshot, encrypted"
        " copy, restore, cut-over); Guardian does not act on it."
    )
    resource_type = "AWS::RDS::DBInstance"
    checks = ("rds_instance_storage_encrypted", "data_restricted_rds_instance_encrypted")
    permissions = READ_PERMISSIONS
    parameters = (Param("kms_key_id", "string", "The KMS key for the encrypted copy", default="alias/aws/rds"),)
    in_place = False
    verify_services = ("rds",)
    reads = ("rds:DescribeDBInstances",)

    async def read(self, aws: Aws, target: Target) -> Reading:
        instance, tags = await describe(aws, target)
        return Reading(state={"storage_encrypted": bool(instance.get("StorageEncrypted"))}, tags=tags)

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return state.get("storage_encrypted") is True

    def expected(self, params: Mapping[str, Any]) -> str:
        return "After the steps, the database runs on storage encrypted with the chosen key."

    def steps(self, target: Target, params: Mapping[str, Any]) -> list[str]:
        db = instance_id(target)
        region = target.region
        return [
            f"aws rds create-db-snapshot --region {region} --db-instance-identifier {db}"
            f" --db-snapshot-identifier {db}-pre-encryption",
            f"aws rds copy-db-snapshot --region {region} --source-db-snapshot-identifier {db}-pre-encryption"
            f" --target-db-snapshot-identifier {db}-encrypted --kms-key-id {params['kms_key_id']}",
            f"aws rds restore-db-instance-from-db-snapshot --region {region} --db-instance-identifier {db}-enc"
            f" --db-snapshot-identifier {db}-encrypted (same class, subnet group, parameter and option groups)",
            "In a maintenance window: stop writes, take a final snapshot or replicate the delta, point the"
            " application at the new endpoint (or rename the instances), and check it.",
            f"When satisfied, delete {db} (keeping a final snapshot as your policy requires).",
        ]
