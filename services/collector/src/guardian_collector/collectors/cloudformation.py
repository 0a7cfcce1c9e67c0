"""AWS CloudFormation: every live stack of each region, with its drift status and termination protection.

DescribeStacks is the primary listing and carries everything: ``DriftInformation`` (the status of
the last drift detection and when it ran), ``EnableTerminationProtection``, tags and the parent
of nested stacks. Real AWS always returns ``DriftInformation``; a stack without it (moto, for one)
has its drift fields marked unreadable rather than guessed.
"""

from __future__ import annotations

from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)
from guardian_collector.collectors.iam import iso

STACK_TYPE = "AWS::CloudFormation::Stack"


@register
class CloudFormationCollector(Collector):
    service = "cloudformation"
    permissions = ("cloudformation:DescribeStacks",)
    resource_types = (STACK_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("cloudformation")
        stacks = await ctx.list_all(client, "describe_stacks", "Stacks")
        for stack in stacks:
            if str(stack.get("StackStatus")) == "DELETE_COMPLETE":
                continue
            arn = str(stack["StackId"])
            name = str(stack["StackName"])
            cfg = ConfigBuilder(
                name=name,
                arn=arn,
                status=stack.get("StackStatus"),
                created=iso(stack.get("CreationTime")),
                last_updated=iso(stack.get("LastUpdatedTime")),
                parent_id=stack.get("ParentId") or None,
                termination_protection=bool(stack.get("EnableTerminationProtection", False)),
            )
            drift = stack.get("DriftInformation")
            if isinstance(drift, dict) and drift.get("StackDriftStatus"):
                cfg.put("drift_status", drift.get("StackDriftStatus"))
                cfg.put("drift_last_checked", iso(drift.get("LastCheckTimestamp")))
            else:
                missing = CallError(
                    "describe_stacks", "MissingDriftInformation", "the answer has no DriftInformation", arn
                )
                ctx.record(missing)
                cfg.fail("drift_status", missing)
                cfg.fail("drift_last_checked", missing)
            tags = tags_of(stack.get("Tags"))
            await ctx.emit(
                Resource(
                    resource_type=STACK_TYPE,
                    arn=arn,
                    name=name,
                    region=ctx.unit_region,
                    configuration=cfg.build(),
                    tags=tags,
                )
            )
