"""Amazon ECS: services (with their scaling) and task definitions of each region.

ListClusters is the primary listing. For each cluster, ListServices and DescribeServices (ten at a
time) give each service's desired count and scheduling strategy; the region's ECS scalable targets
(Application Auto Scaling DescribeScalableTargets, namespace ``ecs``, read once) are joined to the
services they scale.

Task definitions: the latest ACTIVE revision of every family (ListTaskDefinitions, newest first)
plus every revision a service runs, each read with DescribeTaskDefinition. Older ACTIVE revisions
nobody runs are not emitted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import read_pages
from guardian_collector.collectors.base import (
    Collector,
    ConfigBuilder,
    Read,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE_TYPE = "AWS::ECS::Service"
TASK_DEFINITION_TYPE = "AWS::ECS::TaskDefinition"
DESCRIBE_BATCH = 10


def family_of(arn: str) -> tuple[str, int]:
    """(family, revision) of a task definition ARN (``...:task-definition/FAMILY:REVISION``)."""
    tail = arn.rsplit("/", 1)[-1]
    family, _, revision = tail.rpartition(":")
    return family, int(revision) if revision.isdigit() else 0


def scaling_resource_id(cluster_arn: str, service_name: str) -> str:
    return f"service/{cluster_arn.rsplit('/', 1)[-1]}/{service_name}"


@register
class EcsCollector(Collector):
    service = "ecs"
    permissions = (
        "ecs:ListClusters",
        "ecs:ListServices",
        "ecs:DescribeServices",
        "ecs:ListTaskDefinitions",
        "ecs:DescribeTaskDefinition",
        "application-autoscaling:DescribeScalableTargets",
    )
    resource_types = (SERVICE_TYPE, TASK_DEFINITION_TYPE)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("ecs")
        clusters = await ctx.list_all(client, "list_clusters", "clusterArns")
        scaling: Read | None = None
        used: set[str] = set()
        for cluster in clusters:
            services = await self._services(ctx, client, str(cluster))
            if services and scaling is None:
                autoscaling = await ctx.client("application-autoscaling")
                scaling = await read_pages(
                    ctx, autoscaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="ecs"
                )
            for service in services:
                used.add(str(service.get("taskDefinition")))
                await self._emit_service(ctx, str(cluster), service, scaling or Read(value=[]))

        arns = await ctx.list_all(client, "list_task_definitions", "taskDefinitionArns", status="ACTIVE", sort="DESC")
        latest: dict[str, str] = {}
        for arn in arns:
            family, revision = family_of(str(arn))
            if family not in latest or family_of(latest[family])[1] < revision:
                latest[family] = str(arn)
        wanted = sorted(set(latest.values()) | {u for u in used if u and u != "None"})
        await asyncio.gather(*(self._task_definition(ctx, client, arn) for arn in wanted))

    async def _services(self, ctx: UnitContext, client: Any, cluster: str) -> list[Mapping[str, Any]]:
        listed = await read_pages(
            ctx,
            client,
            "list_services",
            "serviceArns",
            token_in="nextToken",
            token_out="nextToken",
            resource_arn=cluster,
            cluster=cluster,
        )
        if listed.error is not None:
            return []
        arns = [str(a) for a in listed.value or []]
        found: list[Mapping[str, Any]] = []
        for start in range(0, len(arns), DESCRIBE_BATCH):
            batch = arns[start : start + DESCRIBE_BATCH]
            described = await ctx.read(
                client, "describe_services", resource_arn=cluster, cluster=cluster, services=batch, include=["TAGS"]
            )
            if described.error is None:
                found.extend(described.value.get("services") or [])
        return found

    async def _emit_service(self, ctx: UnitContext, cluster: str, service: Mapping[str, Any], scaling: Read) -> None:
        name = str(service.get("serviceName"))
        arn = str(service.get("serviceArn"))
        cfg = ConfigBuilder(
            name=name,
            arn=arn,
            cluster_arn=cluster,
            status=service.get("status"),
            desired_count=service.get("desiredCount"),
            running_count=service.get("runningCount"),
            launch_type=service.get("launchType"),
            scheduling_strategy=service.get("schedulingStrategy") or "REPLICA",
            task_definition=service.get("taskDefinition"),
        )
        resource_id = scaling_resource_id(cluster, name)

        def target(items: Any) -> dict[str, Any] | None:
            for item in items or []:
                if (
                    item.get("ResourceId") == resource_id
                    and item.get("ScalableDimension") == "ecs:service:DesiredCount"
                ):
                    return {"min_capacity": item.get("MinCapacity"), "max_capacity": item.get("MaxCapacity")}
            return None

        cfg.from_read("scalable_target", scaling, target)
        await ctx.emit(
            Resource(
                resource_type=SERVICE_TYPE,
                arn=arn,
                name=name,
                region=ctx.unit_region,
                configuration=cfg.build(),
                tags=tags_of(service.get("tags"), key="key", value="value"),
            )
        )

    async def _task_definition(self, ctx: UnitContext, client: Any, arn: str) -> None:
        family, revision = family_of(arn)
        cfg = ConfigBuilder(family=family, revision=revision, arn=arn)
        read = await ctx.read(
            client, "describe_task_definition", resource_arn=arn, taskDefinition=arn, include=["TAGS"]
        )
        tags: dict[str, str] = {}
        if read.error is not None:
            cfg.fail("containers", read.error)
        else:
            definition = read.value.get("taskDefinition") or {}
            cfg.put("network_mode", definition.get("networkMode"))
            cfg.put("requires_compatibilities", sorted(definition.get("requiresCompatibilities") or []))
            cfg.put(
                "containers",
                [
                    {
                        "name": c.get("name"),
                        "image": c.get("image"),
                        "privileged": bool(c.get("privileged", False)),
                        "user": c.get("user") or None,
                        "readonly_root_filesystem": bool(c.get("readonlyRootFilesystem", False)),
                    }
                    for c in definition.get("containerDefinitions") or []
                ],
            )
            tags = tags_of(read.value.get("tags"), key="key", value="value")
        await ctx.emit(
            Resource(
                resource_type=TASK_DEFINITION_TYPE,
                arn=arn,
                name=f"{family}:{revision}",
                region=ctx.unit_region,
                configuration=cfg.build(),
                tags=tags,
            )
        )
