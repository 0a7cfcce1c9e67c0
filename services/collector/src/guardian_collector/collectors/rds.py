"""RDS: database instances, one unit per region.

DescribeDBInstances returns everything the checks need (encryption, exposure, Multi-AZ, backups,
deletion protection, minor version upgrades) and the tags, so one paginated listing is the whole
collection: if it fails the unit is FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "rds"
DB_INSTANCE = "AWS::RDS::DBInstance"


def instance_configuration(instance: Mapping[str, Any]) -> dict[str, Any]:
    subnet_group = instance.get("DBSubnetGroup") or {}
    return {
        "identifier": instance["DBInstanceIdentifier"],
        "engine": instance.get("Engine"),
        "engine_version": instance.get("EngineVersion"),
        "instance_class": instance.get("DBInstanceClass"),
        "status": instance.get("DBInstanceStatus"),
        "db_cluster_identifier": instance.get("DBClusterIdentifier"),
        "storage_encrypted": instance.get("StorageEncrypted"),
        "kms_key_id": instance.get("KmsKeyId"),
        "publicly_accessible": instance.get("PubliclyAccessible"),
        "multi_az": instance.get("MultiAZ"),
        "backup_retention_period": instance.get("BackupRetentionPeriod"),
        "deletion_protection": instance.get("DeletionProtection"),
        "auto_minor_version_upgrade": instance.get("AutoMinorVersionUpgrade"),
        "enabled_cloudwatch_logs_exports": sorted(instance.get("EnabledCloudwatchLogsExports") or []),
        "vpc_id": subnet_group.get("VpcId"),
        "iam_database_authentication": instance.get("IAMDatabaseAuthenticationEnabled"),
        "ca_certificate_identifier": instance.get("CACertificateIdentifier"),
    }


@register
class RdsCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = ("rds:DescribeDBInstances",)
    resource_types: ClassVar[tuple[str, ...]] = (DB_INSTANCE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        for instance in await ctx.list_all(client, "describe_db_instances", "DBInstances"):
            identifier = instance["DBInstanceIdentifier"]
            arn = instance.get("DBInstanceArn") or ctx.arn(SERVICE, f"db:{identifier}")
            await ctx.emit(
                Resource(
                    resource_type=DB_INSTANCE,
                    arn=str(arn),
                    name=identifier,
                    region=ctx.region,
                    configuration=ConfigBuilder(**instance_configuration(instance)).build(),
                    tags=tags_of(instance.get("TagList")),
                )
            )
