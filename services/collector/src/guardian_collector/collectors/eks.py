"""Amazon EKS: every cluster of each region, with its API endpoint exposure, logging and encryption.

ListClusters is the primary listing; DescribeCluster gives ``resourcesVpcConfig`` (public and
private endpoint access, the CIDRs allowed to reach the public endpoint), ``logging`` (which
control-plane log types go to CloudWatch Logs) and ``encryptionConfig`` (envelope encryption of
Kubernetes secrets with a KMS key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors.base import Collector, ConfigBuilder, Resource, UnitContext, register

CLUSTER_TYPE = "AWS::EKS::Cluster"
DETAIL_FIELDS = (
    "version",
    "endpoint_public_access",
    "endpoint_private_access",
    "public_access_cidrs",
    "enabled_log_types",
    "secrets_encryption_key",
)


def enabled_log_types(logging: Mapping[str, Any]) -> list[str]:
    kinds: set[str] = set()
    for entry in logging.get("clusterLogging") or []:
        if entry.get("enabled"):
            kinds.update(str(t) for t in entry.get("types") or [])
    return sorted(kinds)


def secrets_key(configs: list[Mapping[str, Any]]) -> str | None:
    for config in configs:
        if "secrets" in (config.get("resources") or []):
            key = (config.get("provider") or {}).get("keyArn")
            if key:
                return str(key)
    return None


@register
class EksCollector(Collector):
    service = "eks"
    permissions = ("eks:ListClusters", "eks:DescribeCluster")
    resource_types = (CLUSTER_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("eks")
        names = await ctx.list_all(client, "list_clusters", "clusters")
        await asyncio.gather(*(self._cluster(ctx, client, str(n)) for n in names))

    async def _cluster(self, ctx: UnitContext, client: Any, name: str) -> None:
        arn = ctx.arn("eks", f"cluster/{name}")
        cfg = ConfigBuilder(name=name)
        read = await ctx.read(client, "describe_cluster", resource_arn=arn, name=name)
        tags: dict[str, str] = {}
        if read.error is not None:
            for field in DETAIL_FIELDS:
                cfg.fail(field, read.error)
        else:
            cluster = read.value.get("cluster") or {}
            arn = str(cluster.get("arn") or arn)
            vpc = cluster.get("resourcesVpcConfig") or {}
            cfg.put("version", cluster.get("version"))
            cfg.put("status", cluster.get("status"))
            cfg.put("endpoint_public_access", bool(vpc.get("endpointPublicAccess", True)))
            cfg.put("endpoint_private_access", bool(vpc.get("endpointPrivateAccess", False)))
            cfg.put("public_access_cidrs", sorted(str(c) for c in vpc.get("publicAccessCidrs") or []))
            cfg.put("enabled_log_types", enabled_log_types(cluster.get("logging") or {}))
            cfg.put("secrets_encryption_key", secrets_key(cluster.get("encryptionConfig") or []))
            tags = {str(k): str(v) for k, v in (cluster.get("tags") or {}).items()}
        cfg.put("arn", arn)
        await ctx.emit(
            Resource(
                resource_type=CLUSTER_TYPE,
                arn=arn,
                name=name,
                region=ctx.unit_region,
                configuration=cfg.build(),
                tags=tags,
            )
        )
