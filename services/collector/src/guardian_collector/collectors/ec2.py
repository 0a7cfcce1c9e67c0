"""EC2: EBS volumes, security groups, VPCs (with their flow logs) and EBS default encryption.

One unit per region. The three listings (volumes, security groups, VPCs) are primary: if one
fails the unit is FAILED, although what the other listings returned is still emitted. Flow logs
are read with a single DescribeFlowLogs for the whole region and grouped by VPC; if that call
fails, every VPC of the region carries ``flow_logs`` in ``_errors``.

EBS encryption by default is a regional account setting, not a resource: it goes to the facts and
from there into the region's ``AWS::::Account`` context snapshot as ``ebs_default_encryption``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Facts,
    Resource,
    UnitContext,
    UnitFailed,
    register,
    tags_of,
)

SERVICE = "ec2"
VOLUME = "AWS::EC2::Volume"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
VPC = "AWS::EC2::VPC"

EBS_DEFAULT_ENCRYPTION = "ebs_default_encryption"
EBS_DEFAULT_KMS_KEY = "ebs_default_kms_key_id"
NOT_COLLECTED = "NotCollected on GetEbsEncryptionByDefault: the EC2 collection of this region did not finish"

# IANA protocol numbers AWS may report instead of names.
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def normalise_protocol(value: Any) -> str:
    text = str(value if value is not None else "-1").strip().lower()
    return PROTOCOL_NAMES.get(text, text)


def normalise_rule(permission: Mapping[str, Any]) -> dict[str, Any]:
    """One IpPermission as the shape the checks read."""
    protocol = normalise_protocol(permission.get("IpProtocol"))
    from_port = permission.get("FromPort")
    to_port = permission.get("ToPort")
    if protocol == "-1":
        # Every protocol and port: AWS reports no ports (or -1) for such rules.
        from_port = to_port = None
    return {
        "protocol": protocol,
        "from_port": int(from_port) if from_port is not None else None,
        "to_port": int(to_port) if to_port is not None else None,
        "ipv4_ranges": sorted(r["CidrIp"] for r in permission.get("IpRanges") or [] if r.get("CidrIp")),
        "ipv6_ranges": sorted(r["CidrIpv6"] for r in permission.get("Ipv6Ranges") or [] if r.get("CidrIpv6")),
        "prefix_lists": sorted(
            p["PrefixListId"] for p in permission.get("PrefixListIds") or [] if p.get("PrefixListId")
        ),
        "source_groups": sorted(
            str(g.get("GroupId") or g.get("GroupName"))
            for g in permission.get("UserIdGroupPairs") or []
            if g.get("GroupId") or g.get("GroupName")
        ),
    }


def volume_configuration(volume: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "volume_id": volume["VolumeId"],
        "encrypted": bool(volume.get("Encrypted", False)),
        "kms_key_id": volume.get("KmsKeyId"),
        "size": volume.get("Size"),
        "state": volume.get("State"),
        "volume_type": volume.get("VolumeType"),
        "availability_zone": volume.get("AvailabilityZone"),
        "attachments": sorted(a["InstanceId"] for a in volume.get("Attachments") or [] if a.get("InstanceId")),
    }


def security_group_configuration(group: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "group_id": group["GroupId"],
        "group_name": group.get("GroupName"),
        "description": group.get("Description"),
        "vpc_id": group.get("VpcId"),
        "is_default": group.get("GroupName") == "default",
        "ingress": [normalise_rule(p) for p in group.get("IpPermissions") or []],
        "egress": [normalise_rule(p) for p in group.get("IpPermissionsEgress") or []],
    }


def flow_log_summary(flow_log: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": flow_log.get("FlowLogId"),
        "status": flow_log.get("FlowLogStatus"),
        "traffic_type": flow_log.get("TrafficType"),
        "destination_type": flow_log.get("LogDestinationType"),
    }


@register
class Ec2Collector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "ec2:DescribeVolumes",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
        "ec2:DescribeFlowLogs",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:GetEbsDefaultKmsKeyId",
    )
    resource_types: ClassVar[tuple[str, ...]] = (VOLUME, SECURITY_GROUP, VPC)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        parts: list[Awaitable[None]] = [
            self._ebs_default_encryption(ctx, client),
            self._volumes(ctx, client),
            self._security_groups(ctx, client),
            self._vpcs(ctx, client),
        ]
        # Each part runs to its end even when another's listing fails, so what could be read is
        # still emitted; the first failure then fails the unit.
        results = await asyncio.gather(*parts, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _volumes(self, ctx: UnitContext, client: Any) -> None:
        for volume in await ctx.list_all(client, "describe_volumes", "Volumes"):
            volume_id = volume["VolumeId"]
            await ctx.emit(
                Resource(
                    resource_type=VOLUME,
                    arn=ctx.arn(SERVICE, f"volume/{volume_id}"),
                    name=volume_id,
                    region=ctx.region,
                    configuration=ConfigBuilder(**volume_configuration(volume)).build(),
                    tags=tags_of(volume.get("Tags")),
                )
            )

    async def _security_groups(self, ctx: UnitContext, client: Any) -> None:
        for group in await ctx.list_all(client, "describe_security_groups", "SecurityGroups"):
            group_id = group["GroupId"]
            await ctx.emit(
                Resource(
                    resource_type=SECURITY_GROUP,
                    arn=ctx.arn(SERVICE, f"security-group/{group_id}"),
                    name=group_id,
                    region=ctx.region,
                    configuration=ConfigBuilder(**security_group_configuration(group)).build(),
                    tags=tags_of(group.get("Tags")),
                )
            )

    async def _flow_logs(self, ctx: UnitContext, client: Any) -> dict[str, list[dict[str, Any]]] | CallError:
        """Every flow log of the region, by the id of the resource it watches; the error if unreadable."""
        by_resource: dict[str, list[dict[str, Any]]] = {}
        try:
            async for page in ctx.pages(client, "describe_flow_logs"):
                for flow_log in page.get("FlowLogs", []) or []:
                    if flow_log.get("ResourceId"):
                        by_resource.setdefault(flow_log["ResourceId"], []).append(flow_log_summary(flow_log))
        except UnitFailed as exc:
            # Not a primary listing: the VPCs are still emitted, with their flow logs unreadable.
            return exc.error
        return by_resource

    async def _vpcs(self, ctx: UnitContext, client: Any) -> None:
        vpcs, flow_logs = await asyncio.gather(
            ctx.list_all(client, "describe_vpcs", "Vpcs"), self._flow_logs(ctx, client)
        )
        for vpc in vpcs:
            vpc_id = vpc["VpcId"]
            cfg = ConfigBuilder(
                vpc_id=vpc_id,
                cidr=vpc.get("CidrBlock"),
                is_default=bool(vpc.get("IsDefault", False)),
                state=vpc.get("State"),
            )
            if isinstance(flow_logs, CallError):
                cfg.fail("flow_logs", flow_logs)
            else:
                cfg.put("flow_logs", sorted(flow_logs.get(vpc_id, []), key=lambda f: str(f["id"])))
            await ctx.emit(
                Resource(
                    resource_type=VPC,
                    arn=ctx.arn(SERVICE, f"vpc/{vpc_id}"),
                    name=vpc_id,
                    region=ctx.region,
                    configuration=cfg.build(),
                    tags=tags_of(vpc.get("Tags")),
                )
            )

    async def _ebs_default_encryption(self, ctx: UnitContext, client: Any) -> None:
        region = ctx.unit_region
        enabled = await ctx.read(client, "get_ebs_encryption_by_default")
        if enabled.error is not None:
            ctx.facts.put_error(SERVICE, EBS_DEFAULT_ENCRYPTION, enabled.error.describe(), region=region)
            return
        is_enabled = bool((enabled.value or {}).get("EbsEncryptionByDefault", False))
        kms_key_id: str | None = None
        if is_enabled:
            # The key only matters when encryption by default is on.
            key = await ctx.read(client, "get_ebs_default_kms_key_id", supplementary=True)
            if key.error is not None:
                ctx.facts.put_error(SERVICE, EBS_DEFAULT_KMS_KEY, key.error.describe(), region=region)
            else:
                kms_key_id = (key.value or {}).get("KmsKeyId")
        ctx.facts.put(SERVICE, EBS_DEFAULT_ENCRYPTION, {"enabled": is_enabled, "kms_key_id": kms_key_id}, region=region)

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        fields: dict[str, Any] = {}
        unreadable: dict[str, str] = {}
        error = facts.error(SERVICE, EBS_DEFAULT_ENCRYPTION, region=region)
        value = facts.get(SERVICE, EBS_DEFAULT_ENCRYPTION, region=region)
        if error is not None:
            fields[EBS_DEFAULT_ENCRYPTION] = None
            unreadable[EBS_DEFAULT_ENCRYPTION] = error
        elif value is None:
            fields[EBS_DEFAULT_ENCRYPTION] = None
            unreadable[EBS_DEFAULT_ENCRYPTION] = NOT_COLLECTED
        else:
            fields[EBS_DEFAULT_ENCRYPTION] = dict(value)
        key_error = facts.error(SERVICE, EBS_DEFAULT_KMS_KEY, region=region)
        if key_error is not None:
            unreadable[EBS_DEFAULT_KMS_KEY] = key_error
        return fields, unreadable
