"""Amazon API Gateway (REST APIs): stages, one unit per region.

GetRestApis is the primary listing; GetStages per API lists its stages with their logging, cache
and web ACL settings. If GetStages fails for an API its stages cannot be emitted: the error is
recorded and the unit turns PARTIAL, so the stages already known keep their last state (marked
stale) instead of being closed.

Execution logs reach CloudWatch only if the region's API Gateway account settings name a
CloudWatch Logs role: GetAccount is read once per region and joined into every stage as
``account_cloudwatch_role_arn``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors._compute_network import sorted_strings
from guardian_collector.collectors.base import (
    Collector,
    ConfigBuilder,
    Read,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "apigateway"
STAGE = "AWS::ApiGateway::Stage"


def method_settings(settings: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per-method settings by ``resource/method`` key (``*/*`` is the stage-wide default)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in (settings or {}).items():
        out[str(key)] = {
            "logging_level": value.get("loggingLevel"),
            "data_trace_enabled": value.get("dataTraceEnabled"),
            "metrics_enabled": value.get("metricsEnabled"),
            "caching_enabled": value.get("cachingEnabled"),
            "cache_data_encrypted": value.get("cacheDataEncrypted"),
        }
    return dict(sorted(out.items()))


def stage_configuration(api: Mapping[str, Any], stage: Mapping[str, Any]) -> dict[str, Any]:
    access = stage.get("accessLogSettings") or {}
    return {
        "rest_api_id": api.get("id"),
        "rest_api_name": api.get("name"),
        "endpoint_types": sorted_strings((api.get("endpointConfiguration") or {}).get("types")),
        "stage_name": stage.get("stageName"),
        "deployment_id": stage.get("deploymentId"),
        "access_log_destination": access.get("destinationArn") or None,
        "method_settings": method_settings(stage.get("methodSettings")),
        "cache_cluster_enabled": bool(stage.get("cacheClusterEnabled", False)),
        "cache_cluster_status": stage.get("cacheClusterStatus"),
        "web_acl_arn": stage.get("webAclArn") or None,
        "tracing_enabled": bool(stage.get("tracingEnabled", False)),
        "client_certificate_id": stage.get("clientCertificateId") or None,
    }


@register
class ApiGatewayCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = ("apigateway:GET",)
    resource_types: ClassVar[tuple[str, ...]] = (STAGE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        apis = await ctx.list_all(client, "get_rest_apis", "items")
        if not apis:
            return
        account = await ctx.read(client, "get_account")
        await asyncio.gather(*(self._api(ctx, client, api, account) for api in apis))

    async def _api(self, ctx: UnitContext, client: Any, api: Mapping[str, Any], account: Read) -> None:
        api_id = str(api["id"])
        api_arn = f"arn:{ctx.partition}:apigateway:{ctx.region}::/restapis/{api_id}"
        stages = await ctx.read(client, "get_stages", resource_arn=api_arn, restApiId=api_id)
        if stages.error is not None:
            return
        for stage in stages.value.get("item") or []:
            name = str(stage.get("stageName"))
            cfg = ConfigBuilder(**stage_configuration(api, stage))
            cfg.from_read("account_cloudwatch_role_arn", account, lambda v: v.get("cloudwatchRoleArn") or None)
            await ctx.emit(
                Resource(
                    resource_type=STAGE,
                    arn=f"{api_arn}/stages/{name}",
                    name=f"{api_id}/{name}",
                    region=ctx.region,
                    configuration=cfg.build(),
                    tags=tags_of(stage.get("tags")),
                )
            )
