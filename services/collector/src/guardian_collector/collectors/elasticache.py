"""Amazon ElastiCache: Redis OSS and Valkey replication groups, one unit per region.

DescribeReplicationGroups is the primary listing and carries every setting the checks read
(encryption at rest and in transit, automatic failover, Multi-AZ, snapshot retention, AUTH token and
RBAC user groups). Tags are read per group (supplementary: no check needs them).
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

SERVICE = "elasticache"
REPLICATION_GROUP = "AWS::ElastiCache::ReplicationGroup"


def replication_group_configuration(group: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "replication_group_id": group["ReplicationGroupId"],
        "engine": group.get("Engine"),
        "status": group.get("Status"),
        "cache_node_type": group.get("CacheNodeType"),
        "cluster_enabled": group.get("ClusterEnabled"),
        "member_clusters": sorted(group.get("MemberClusters") or []),
        "at_rest_encryption": group.get("AtRestEncryptionEnabled"),
        "kms_key_id": group.get("KmsKeyId"),
        "transit_encryption": group.get("TransitEncryptionEnabled"),
        "transit_encryption_mode": group.get("TransitEncryptionMode"),
        "automatic_failover": group.get("AutomaticFailover"),
        "multi_az": group.get("MultiAZ"),
        "snapshot_retention_limit": group.get("SnapshotRetentionLimit"),
        "auth_token_enabled": group.get("AuthTokenEnabled"),
        "user_group_ids": sorted(group.get("UserGroupIds") or []),
    }


@register
class ElastiCacheCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "elasticache:DescribeReplicationGroups",
        "elasticache:ListTagsForResource",
    )
    resource_types: ClassVar[tuple[str, ...]] = (REPLICATION_GROUP,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        groups = await ctx.list_all(client, "describe_replication_groups", "ReplicationGroups")
        await asyncio.gather(*(self._group(ctx, client, group) for group in groups))

    async def _group(self, ctx: UnitContext, client: Any, group: Mapping[str, Any]) -> None:
        group_id = str(group["ReplicationGroupId"])
        arn = str(group.get("ARN") or ctx.arn(SERVICE, f"replicationgroup:{group_id}"))
        cfg = ConfigBuilder(**replication_group_configuration(group))
        tags = await ctx.read(client, "list_tags_for_resource", resource_arn=arn, supplementary=True, ResourceName=arn)
        if tags.error is not None:
            cfg.fail("tags", tags.error)
        await ctx.emit(
            Resource(
                resource_type=REPLICATION_GROUP,
                arn=arn,
                name=group_id,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of((tags.value or {}).get("TagList")),
            )
        )
