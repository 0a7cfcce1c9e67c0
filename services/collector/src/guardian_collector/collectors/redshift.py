"""Amazon Redshift: provisioned clusters, one unit per region.

DescribeClusters is the primary listing (encryption, public accessibility, snapshot retention, tags).
Per cluster, DescribeLoggingStatus tells whether audit logging is on, and the ``require_ssl``
parameter is read from the cluster's parameter group with DescribeClusterParameters (each group is
read once per unit, however many clusters share it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    UnitFailed,
    register,
    tags_of,
)

SERVICE = "redshift"
CLUSTER = "AWS::Redshift::Cluster"
REQUIRE_SSL = "require_ssl"


def cluster_configuration(cluster: Mapping[str, Any]) -> dict[str, Any]:
    groups = [
        str(g["ParameterGroupName"]) for g in cluster.get("ClusterParameterGroups") or [] if g.get("ParameterGroupName")
    ]
    return {
        "identifier": cluster["ClusterIdentifier"],
        "status": cluster.get("ClusterStatus"),
        "node_type": cluster.get("NodeType"),
        "encrypted": cluster.get("Encrypted"),
        "kms_key_id": cluster.get("KmsKeyId"),
        "publicly_accessible": cluster.get("PubliclyAccessible"),
        "automated_snapshot_retention_period": cluster.get("AutomatedSnapshotRetentionPeriod"),
        "vpc_id": cluster.get("VpcId"),
        "enhanced_vpc_routing": cluster.get("EnhancedVpcRouting"),
        "parameter_group": groups[0] if groups else None,
    }


def audit_logging(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "enabled": bool(answer.get("LoggingEnabled", False)),
        "destination_type": answer.get("LogDestinationType") or None,
        "bucket": answer.get("BucketName") or None,
        "log_exports": sorted(answer.get("LogExports") or []),
    }


@register
class RedshiftCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "redshift:DescribeClusters",
        "redshift:DescribeLoggingStatus",
        "redshift:DescribeClusterParameters",
    )
    resource_types: ClassVar[tuple[str, ...]] = (CLUSTER,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        clusters = await ctx.list_all(client, "describe_clusters", "Clusters")
        names = sorted({c["parameter_group"] for c in map(cluster_configuration, clusters) if c["parameter_group"]})
        settings = dict(
            zip(names, await asyncio.gather(*(self._require_ssl(ctx, client, n) for n in names)), strict=True)
        )
        await asyncio.gather(*(self._cluster(ctx, client, cluster, settings) for cluster in clusters))

    async def _require_ssl(self, ctx: UnitContext, client: Any, group: str) -> str | CallError | None:
        """The group's ``require_ssl`` value (``None`` if it does not list it), or the error."""
        found: str | None = None
        try:
            async for page in ctx.pages(client, "describe_cluster_parameters", ParameterGroupName=group):
                for parameter in page.get("Parameters") or []:
                    if parameter.get("ParameterName") == REQUIRE_SSL and parameter.get("ParameterValue") is not None:
                        found = str(parameter["ParameterValue"])
        except UnitFailed as exc:
            # A detail of the clusters using the group, not the listing: they are still emitted.
            return exc.error
        return found

    async def _cluster(
        self, ctx: UnitContext, client: Any, cluster: Mapping[str, Any], settings: Mapping[str, str | CallError | None]
    ) -> None:
        identifier = str(cluster["ClusterIdentifier"])
        arn = ctx.arn(SERVICE, f"cluster:{identifier}")
        config = cluster_configuration(cluster)
        cfg = ConfigBuilder(**config)
        logging = await ctx.read(client, "describe_logging_status", resource_arn=arn, ClusterIdentifier=identifier)
        cfg.from_read("audit_logging", logging, audit_logging)
        ssl = settings.get(config["parameter_group"]) if config["parameter_group"] else None
        if isinstance(ssl, CallError):
            cfg.fail(REQUIRE_SSL, ssl)
        else:
            cfg.put(REQUIRE_SSL, ssl)
        await ctx.emit(
            Resource(
                resource_type=CLUSTER,
                arn=arn,
                name=identifier,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of(cluster.get("Tags")),
            )
        )
