"""AWS Lambda: every function of each region, with its resource policy and failure handling.

ListFunctions is the primary listing (runtime, package type, dead-letter target). Per function:
GetPolicy (``ResourceNotFoundException``: no resource policy) and GetFunctionEventInvokeConfig of
the unqualified function (``ResourceNotFoundException``: no asynchronous invocation settings), for
the on-failure destination of asynchronous invocations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import put_policy
from guardian_collector.collectors.base import Collector, ConfigBuilder, Resource, UnitContext, register

FUNCTION_TYPE = "AWS::Lambda::Function"
NOT_FOUND = ("ResourceNotFoundException",)


@register
class LambdaCollector(Collector):
    service = "lambda"
    permissions = ("lambda:ListFunctions", "lambda:GetPolicy", "lambda:GetFunctionEventInvokeConfig")
    resource_types = (FUNCTION_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("lambda")
        functions = await ctx.list_all(client, "list_functions", "Functions")
        await asyncio.gather(*(self._function(ctx, client, f) for f in functions))

    async def _function(self, ctx: UnitContext, client: Any, function: Mapping[str, Any]) -> None:
        name = str(function["FunctionName"])
        arn = str(function["FunctionArn"])
        cfg = ConfigBuilder(
            name=name,
            arn=arn,
            runtime=function.get("Runtime") or None,
            package_type=function.get("PackageType") or "Zip",
            dead_letter_target_arn=(function.get("DeadLetterConfig") or {}).get("TargetArn") or None,
            vpc_id=(function.get("VpcConfig") or {}).get("VpcId") or None,
        )
        policy, invoke = await asyncio.gather(
            ctx.read(client, "get_policy", absent=NOT_FOUND, resource_arn=arn, FunctionName=name),
            ctx.read(client, "get_function_event_invoke_config", absent=NOT_FOUND, resource_arn=arn, FunctionName=name),
        )
        put_policy(ctx, cfg, "policy", policy, arn, "get_policy")
        cfg.from_read(
            "on_failure_destination",
            invoke,
            lambda v: ((v.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination") or None,
            when_absent=None,
        )
        await ctx.emit(
            Resource(resource_type=FUNCTION_TYPE, arn=arn, name=name, region=ctx.unit_region, configuration=cfg.build())
        )
