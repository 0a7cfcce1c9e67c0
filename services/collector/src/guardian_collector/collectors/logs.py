"""CloudWatch Logs: every log group of each region, with its retention and its KMS key.

DescribeLogGroups is the primary listing and already carries both settings (``retentionInDays``
is absent when events never expire, ``kmsKeyId`` when the group uses the service's own keys), so
each group costs no further call.
"""

from __future__ import annotations

from typing import Any

from guardian_collector.collectors.base import Collector, ConfigBuilder, Resource, UnitContext, register

LOG_GROUP_TYPE = "AWS::Logs::LogGroup"


def group_arn(group: dict[str, Any]) -> str:
    """The log group's ARN without the ``:*`` suffix DescribeLogGroups' ``arn`` carries."""
    arn = str(group.get("logGroupArn") or group.get("arn") or "")
    return arn[:-2] if arn.endswith(":*") else arn


@register
class LogsCollector(Collector):
    service = "logs"
    permissions = ("logs:DescribeLogGroups",)
    resource_types = (LOG_GROUP_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("logs")
        groups = await ctx.list_all(client, "describe_log_groups", "logGroups")
        for group in groups:
            name = str(group["logGroupName"])
            arn = group_arn(group) or ctx.arn("logs", f"log-group:{name}")
            retention = group.get("retentionInDays")
            cfg = ConfigBuilder(
                name=name,
                arn=arn,
                retention_in_days=int(retention) if retention is not None else None,
                kms_key_id=group.get("kmsKeyId") or None,
                stored_bytes=group.get("storedBytes"),
                log_group_class=group.get("logGroupClass"),
                metric_filter_count=group.get("metricFilterCount"),
            )
            await ctx.emit(
                Resource(
                    resource_type=LOG_GROUP_TYPE,
                    arn=arn,
                    name=name,
                    region=ctx.unit_region,
                    configuration=cfg.build(),
                )
            )
