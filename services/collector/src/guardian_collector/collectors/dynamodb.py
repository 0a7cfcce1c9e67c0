"""Amazon DynamoDB: tables, one unit per region.

ListTables is the primary listing. Each table is described (encryption, deletion protection), its
continuous backups read (point-in-time recovery) and its tags listed. A table encrypted with a KMS
key also carries who manages that key (AWS or the customer), read with KMS DescribeKey; a table
without ``SSEDescription`` uses the AWS owned key, which needs no read.
"""

from __future__ import annotations

import asyncio
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
from guardian_collector.collectors.kms import key_manager, region_of_arn

SERVICE = "dynamodb"
TABLE = "AWS::DynamoDB::Table"
KMS_ACTIVE = ("ENABLED", "UPDATING", "ENABLING")
TABLE_FIELDS = ("status", "deletion_protection", "encryption", "billing_mode")


def encryption(table: Mapping[str, Any]) -> dict[str, Any]:
    """Which key protects the table: the AWS owned key (no SSEDescription) or a KMS key."""
    sse = table.get("SSEDescription") or {}
    uses_kms = sse.get("SSEType") == "KMS" and sse.get("Status") in KMS_ACTIVE
    return {
        "key_type": "KMS" if uses_kms else "AWS_OWNED",
        "status": sse.get("Status"),
        "kms_key_arn": sse.get("KMSMasterKeyArn") if uses_kms else None,
    }


def point_in_time_recovery(answer: Mapping[str, Any]) -> dict[str, Any]:
    description = (answer.get("ContinuousBackupsDescription") or {}).get("PointInTimeRecoveryDescription") or {}
    return {
        "status": description.get("PointInTimeRecoveryStatus"),
        "recovery_period_days": description.get("RecoveryPeriodInDays"),
    }


@register
class DynamoDbCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "dynamodb:ListTables",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:ListTagsOfResource",
        "kms:DescribeKey",
    )
    resource_types: ClassVar[tuple[str, ...]] = (TABLE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        names = await ctx.list_all(client, "list_tables", "TableNames")
        await asyncio.gather(*(self._table(ctx, client, str(name)) for name in names))

    async def _table(self, ctx: UnitContext, client: Any, name: str) -> None:
        arn = ctx.arn(SERVICE, f"table/{name}")
        described, backups, tags = await asyncio.gather(
            ctx.read(client, "describe_table", resource_arn=arn, TableName=name),
            ctx.read(client, "describe_continuous_backups", resource_arn=arn, TableName=name),
            ctx.read(client, "list_tags_of_resource", resource_arn=arn, ResourceArn=arn),
        )
        cfg = ConfigBuilder(table_name=name)
        if described.error is not None:
            for field in TABLE_FIELDS:
                cfg.fail(field, described.error)
        else:
            table = (described.value or {}).get("Table") or {}
            arn = str(table.get("TableArn") or arn)
            cfg.put("status", table.get("TableStatus"))
            cfg.put("billing_mode", (table.get("BillingModeSummary") or {}).get("BillingMode"))
            cfg.put("deletion_protection", table.get("DeletionProtectionEnabled"))
            sse = encryption(table)
            if sse["kms_key_arn"]:
                manager = await key_manager(ctx, sse["kms_key_arn"], region_of_arn(sse["kms_key_arn"]))
                if manager.error is not None:
                    cfg.fail("encryption_key_manager", manager.error)
                sse["key_manager"] = manager.value
            else:
                sse["key_manager"] = "AWS" if sse["key_type"] == "AWS_OWNED" else None
            cfg.put("encryption", sse)
        cfg.from_read("point_in_time_recovery", backups, point_in_time_recovery)
        if tags.error is not None:
            cfg.fail("tags", tags.error)
        await ctx.emit(
            Resource(
                resource_type=TABLE,
                arn=arn,
                name=name,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of((tags.value or {}).get("Tags")),
            )
        )
