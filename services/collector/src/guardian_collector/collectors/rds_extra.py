"""RDS beyond single instances: clusters, manual snapshots and the parameter groups that decide TLS.

A separate collector (service ``rdsextra``) from the instance collector, on the same ``rds`` client,
one unit per region. It emits:

- ``AWS::RDS::DBCluster``: Aurora and Multi-AZ DB clusters (Neptune and DocumentDB clusters, which
  the RDS API also lists, belong to their own services and are skipped). The zones of the member
  instances come from DescribeDBInstances, read here too.
- ``AWS::RDS::DBSnapshot`` and ``AWS::RDS::DBClusterSnapshot``: the account's own manual snapshots,
  each with the accounts its ``restore`` attribute shares it with (``all`` means public).
- ``AWS::RDS::DBParameterGroup``: every DB parameter group attached to a stand-alone instance, and
  ``AWS::RDS::DBClusterParameterGroup``: every cluster parameter group attached to a cluster, each
  with the TLS-related parameters read from DescribeDBParameters / DescribeDBClusterParameters.
  Members of a cluster take their TLS setting from the cluster parameter group, so their instance
  parameter groups are not read.

The cluster, instance and snapshot listings are primary: if one fails the unit is FAILED, although
what the other listings returned is still emitted. If only the instance listing fails, clusters are
emitted with ``member_availability_zones`` unreadable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from datetime import datetime
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

SERVICE = "rdsextra"
CLIENT = "rds"
DB_CLUSTER = "AWS::RDS::DBCluster"
DB_SNAPSHOT = "AWS::RDS::DBSnapshot"
DB_CLUSTER_SNAPSHOT = "AWS::RDS::DBClusterSnapshot"
DB_PARAMETER_GROUP = "AWS::RDS::DBParameterGroup"
DB_CLUSTER_PARAMETER_GROUP = "AWS::RDS::DBClusterParameterGroup"

# Engines the RDS API also lists that are other services' resources.
FOREIGN_ENGINES = ("neptune", "docdb")
# The parameters that decide whether a database accepts unencrypted connections.
TLS_PARAMETERS = ("rds.force_ssl", "require_secure_transport", "ssl", "ssl_min_protocol_version", "tls_version")
PUBLIC = "all"


def own_engine(engine: Any) -> bool:
    return not str(engine or "").startswith(FOREIGN_ENGINES)


def iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)


def cluster_configuration(
    cluster: Mapping[str, Any], zones_by_instance: Mapping[str, str | None] | None
) -> ConfigBuilder:
    members = [
        {
            "instance": str(m.get("DBInstanceIdentifier")),
            "writer": bool(m.get("IsClusterWriter", False)),
            "availability_zone": (zones_by_instance or {}).get(str(m.get("DBInstanceIdentifier"))),
        }
        for m in cluster.get("DBClusterMembers") or []
    ]
    cfg = ConfigBuilder(
        identifier=cluster["DBClusterIdentifier"],
        engine=cluster.get("Engine"),
        engine_version=cluster.get("EngineVersion"),
        engine_mode=cluster.get("EngineMode"),
        status=cluster.get("Status"),
        storage_encrypted=cluster.get("StorageEncrypted"),
        kms_key_id=cluster.get("KmsKeyId"),
        deletion_protection=cluster.get("DeletionProtection"),
        backup_retention_period=cluster.get("BackupRetentionPeriod"),
        multi_az=cluster.get("MultiAZ"),
        availability_zones=sorted(cluster.get("AvailabilityZones") or []),
        members=sorted(members, key=lambda m: m["instance"]),
        enabled_cloudwatch_logs_exports=sorted(cluster.get("EnabledCloudwatchLogsExports") or []),
        iam_database_authentication=cluster.get("IAMDatabaseAuthenticationEnabled"),
        publicly_accessible=cluster.get("PubliclyAccessible"),
        parameter_group=cluster.get("DBClusterParameterGroup"),
    )
    if zones_by_instance is not None:
        cfg.put(
            "member_availability_zones", sorted({m["availability_zone"] for m in members if m["availability_zone"]})
        )
    return cfg


def shared_with(answer: Mapping[str, Any], result_key: str, attributes_key: str) -> list[str]:
    """The accounts (or ``all``) a snapshot's ``restore`` attribute shares it with."""
    attributes = (answer.get(result_key) or {}).get(attributes_key) or []
    values: set[str] = set()
    for attribute in attributes:
        if attribute.get("AttributeName") == "restore":
            values.update(str(v) for v in attribute.get("AttributeValues") or [])
    return sorted(values)


def tls_parameters(parameters: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The TLS-related parameters a group lists: value (``None`` when unset) and source."""
    found: dict[str, dict[str, Any]] = {}
    for parameter in parameters:
        name = parameter.get("ParameterName")
        if name in TLS_PARAMETERS:
            found[str(name)] = {"value": parameter.get("ParameterValue"), "source": parameter.get("Source")}
    return dict(sorted(found.items()))


@register
class RdsExtraCollector(Collector):
    service: ClassVar[str] = SERVICE
    client_name: ClassVar[str | None] = CLIENT
    permissions: ClassVar[tuple[str, ...]] = (
        "rds:DescribeDBClusters",
        "rds:DescribeDBInstances",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBSnapshotAttributes",
        "rds:DescribeDBClusterSnapshots",
        "rds:DescribeDBClusterSnapshotAttributes",
        "rds:DescribeDBParameterGroups",
        "rds:DescribeDBParameters",
        "rds:DescribeDBClusterParameterGroups",
        "rds:DescribeDBClusterParameters",
    )
    resource_types: ClassVar[tuple[str, ...]] = (
        DB_CLUSTER,
        DB_SNAPSHOT,
        DB_CLUSTER_SNAPSHOT,
        DB_PARAMETER_GROUP,
        DB_CLUSTER_PARAMETER_GROUP,
    )

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(CLIENT)
        parts: list[Awaitable[None]] = [
            self._clusters_and_parameter_groups(ctx, client),
            self._snapshots(ctx, client),
            self._cluster_snapshots(ctx, client),
        ]
        # Every part runs to its end even when another's listing fails; then the first failure wins.
        for result in await asyncio.gather(*parts, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    # -- clusters and parameter groups ----------------------------------------------------------

    async def _clusters_and_parameter_groups(self, ctx: UnitContext, client: Any) -> None:
        results: tuple[list[Any] | BaseException, list[Any] | BaseException] = await asyncio.gather(
            ctx.list_all(client, "describe_db_clusters", "DBClusters"),
            ctx.list_all(client, "describe_db_instances", "DBInstances"),
            return_exceptions=True,
        )
        clusters, instances = results
        for outcome in (clusters, instances):
            if isinstance(outcome, BaseException) and not isinstance(outcome, UnitFailed):
                raise outcome
        instance_list = instances if isinstance(instances, list) else None
        if isinstance(clusters, list):
            own = [c for c in clusters if own_engine(c.get("Engine"))]
            zones = (
                {str(i["DBInstanceIdentifier"]): i.get("AvailabilityZone") for i in instance_list}
                if instance_list is not None
                else None
            )
            await asyncio.gather(*(self._emit_cluster(ctx, c, zones, instances) for c in own))
            await self._cluster_parameter_groups(ctx, client, own)
        if instance_list is not None:
            standalone = [i for i in instance_list if own_engine(i.get("Engine")) and not i.get("DBClusterIdentifier")]
            await self._instance_parameter_groups(ctx, client, standalone)
        for outcome in (clusters, instances):
            if isinstance(outcome, UnitFailed):
                raise outcome

    async def _emit_cluster(
        self,
        ctx: UnitContext,
        cluster: Mapping[str, Any],
        zones: Mapping[str, str | None] | None,
        instances: Any,
    ) -> None:
        identifier = cluster["DBClusterIdentifier"]
        cfg = cluster_configuration(cluster, zones)
        if zones is None and isinstance(instances, UnitFailed):
            cfg.fail("member_availability_zones", instances.error)
        await ctx.emit(
            Resource(
                resource_type=DB_CLUSTER,
                arn=str(cluster.get("DBClusterArn") or ctx.arn("rds", f"cluster:{identifier}")),
                name=identifier,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of(cluster.get("TagList")),
            )
        )

    async def _instance_parameter_groups(
        self, ctx: UnitContext, client: Any, instances: list[Mapping[str, Any]]
    ) -> None:
        attached: dict[str, list[Mapping[str, Any]]] = {}
        for instance in instances:
            for group in instance.get("DBParameterGroups") or []:
                if group.get("DBParameterGroupName"):
                    attached.setdefault(str(group["DBParameterGroupName"]), []).append(instance)
        await asyncio.gather(
            *(
                self._parameter_group(
                    ctx,
                    client,
                    name,
                    users,
                    resource_type=DB_PARAMETER_GROUP,
                    describe=("describe_db_parameter_groups", "DBParameterGroupName", "DBParameterGroups"),
                    parameters="describe_db_parameters",
                    arn_field="DBParameterGroupArn",
                    arn_prefix="pg",
                    user_id="DBInstanceIdentifier",
                    users_field="attached_instances",
                )
                for name, users in sorted(attached.items())
            )
        )

    async def _cluster_parameter_groups(self, ctx: UnitContext, client: Any, clusters: list[Mapping[str, Any]]) -> None:
        attached: dict[str, list[Mapping[str, Any]]] = {}
        for cluster in clusters:
            if cluster.get("DBClusterParameterGroup"):
                attached.setdefault(str(cluster["DBClusterParameterGroup"]), []).append(cluster)
        await asyncio.gather(
            *(
                self._parameter_group(
                    ctx,
                    client,
                    name,
                    users,
                    resource_type=DB_CLUSTER_PARAMETER_GROUP,
                    describe=(
                        "describe_db_cluster_parameter_groups",
                        "DBClusterParameterGroupName",
                        "DBClusterParameterGroups",
                    ),
                    parameters="describe_db_cluster_parameters",
                    arn_field="DBClusterParameterGroupArn",
                    arn_prefix="cluster-pg",
                    user_id="DBClusterIdentifier",
                    users_field="attached_clusters",
                )
                for name, users in sorted(attached.items())
            )
        )

    async def _parameter_group(
        self,
        ctx: UnitContext,
        client: Any,
        name: str,
        users: list[Mapping[str, Any]],
        *,
        resource_type: str,
        describe: tuple[str, str, str],
        parameters: str,
        arn_field: str,
        arn_prefix: str,
        user_id: str,
        users_field: str,
    ) -> None:
        operation, name_param, key = describe
        engines = sorted({str(u.get("Engine")) for u in users if u.get("Engine")})
        cfg = ConfigBuilder(
            name=name,
            engine=engines[0] if engines else None,
            **{users_field: sorted(str(u[user_id]) for u in users)},
        )
        # The family and ARN are descriptive (the engine, from the users, decides the rule).
        which: dict[str, Any] = {name_param: name}
        group, values = await asyncio.gather(
            ctx.read(client, operation, supplementary=True, **which),
            self._parameter_values(ctx, client, parameters, name_param, name),
        )
        details: Mapping[str, Any] = {}
        if group.error is not None:
            cfg.fail("family", group.error)
        else:
            details = next(iter((group.value or {}).get(key) or []), {})
            cfg.put("family", details.get("DBParameterGroupFamily"))
        if isinstance(values, CallError):
            cfg.fail("tls_parameters", values)
        else:
            cfg.put("tls_parameters", values)
        await ctx.emit(
            Resource(
                resource_type=resource_type,
                arn=str(details.get(arn_field) or ctx.arn("rds", f"{arn_prefix}:{name}")),
                name=name,
                region=ctx.region,
                configuration=cfg.build(),
            )
        )

    async def _parameter_values(
        self, ctx: UnitContext, client: Any, operation: str, name_param: str, name: str
    ) -> dict[str, dict[str, Any]] | CallError:
        found: list[Mapping[str, Any]] = []
        try:
            async for page in ctx.pages(client, operation, **{name_param: name}):
                found.extend(page.get("Parameters") or [])
        except UnitFailed as exc:
            # A detail of one group, not a listing: the group is still emitted, its TLS setting unreadable.
            return exc.error
        return tls_parameters(found)

    # -- snapshots --------------------------------------------------------------------------------

    async def _snapshots(self, ctx: UnitContext, client: Any) -> None:
        snapshots = await ctx.list_all(client, "describe_db_snapshots", "DBSnapshots", SnapshotType="manual")
        await asyncio.gather(*(self._snapshot(ctx, client, s) for s in snapshots if own_engine(s.get("Engine"))))

    async def _snapshot(self, ctx: UnitContext, client: Any, snapshot: Mapping[str, Any]) -> None:
        identifier = str(snapshot["DBSnapshotIdentifier"])
        arn = str(snapshot.get("DBSnapshotArn") or ctx.arn("rds", f"snapshot:{identifier}"))
        cfg = ConfigBuilder(
            identifier=identifier,
            instance_identifier=snapshot.get("DBInstanceIdentifier"),
            engine=snapshot.get("Engine"),
            snapshot_type=snapshot.get("SnapshotType"),
            status=snapshot.get("Status"),
            created=iso(snapshot.get("SnapshotCreateTime")),
            encrypted=snapshot.get("Encrypted"),
            kms_key_id=snapshot.get("KmsKeyId"),
        )
        attributes = await ctx.read(
            client, "describe_db_snapshot_attributes", resource_arn=arn, DBSnapshotIdentifier=identifier
        )
        cfg.from_read(
            "shared_with",
            attributes,
            lambda a: shared_with(a, "DBSnapshotAttributesResult", "DBSnapshotAttributes"),
        )
        await ctx.emit(
            Resource(
                resource_type=DB_SNAPSHOT,
                arn=arn,
                name=identifier,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of(snapshot.get("TagList")),
            )
        )

    async def _cluster_snapshots(self, ctx: UnitContext, client: Any) -> None:
        snapshots = await ctx.list_all(
            client, "describe_db_cluster_snapshots", "DBClusterSnapshots", SnapshotType="manual"
        )
        await asyncio.gather(
            *(self._cluster_snapshot(ctx, client, s) for s in snapshots if own_engine(s.get("Engine")))
        )

    async def _cluster_snapshot(self, ctx: UnitContext, client: Any, snapshot: Mapping[str, Any]) -> None:
        identifier = str(snapshot["DBClusterSnapshotIdentifier"])
        arn = str(snapshot.get("DBClusterSnapshotArn") or ctx.arn("rds", f"cluster-snapshot:{identifier}"))
        cfg = ConfigBuilder(
            identifier=identifier,
            cluster_identifier=snapshot.get("DBClusterIdentifier"),
            engine=snapshot.get("Engine"),
            snapshot_type=snapshot.get("SnapshotType"),
            status=snapshot.get("Status"),
            created=iso(snapshot.get("SnapshotCreateTime")),
            storage_encrypted=snapshot.get("StorageEncrypted"),
            kms_key_id=snapshot.get("KmsKeyId"),
        )
        attributes = await ctx.read(
            client,
            "describe_db_cluster_snapshot_attributes",
            resource_arn=arn,
            DBClusterSnapshotIdentifier=identifier,
        )
        cfg.from_read(
            "shared_with",
            attributes,
            lambda a: shared_with(a, "DBClusterSnapshotAttributesResult", "DBClusterSnapshotAttributes"),
        )
        await ctx.emit(
            Resource(
                resource_type=DB_CLUSTER_SNAPSHOT,
                arn=arn,
                name=identifier,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of(snapshot.get("TagList")),
            )
        )
