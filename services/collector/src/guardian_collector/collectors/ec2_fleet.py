"""EC2 fleet: instances, the account's own EBS snapshots and AMIs, subnets and network ACLs.

A collector of its own (service ``ec2fleet``, boto3 client ``ec2``) beside the ``ec2`` collector,
which covers volumes, security groups and VPCs. One unit per region; the five listings are
primary: if one fails the unit is FAILED, although what the other listings returned is still
emitted.

Joined reads, each of which turns only its own field unreadable when it fails:

- Auto Scaling membership of instances: DescribeAutoScalingInstances, read once per region and
  only when some instance lacks the ``aws:autoscaling:groupName`` tag (the tag alone proves
  membership, its absence does not prove the opposite).
- Who may create volumes from each snapshot: DescribeSnapshotAttribute ``createVolumePermission``
  per snapshot (the group ``all`` means public).

AMIs carry their ``Public`` flag in DescribeImages itself, so no further read is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

from guardian_collector.collectors._compute_network import iso, read_all, sorted_strings
from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "ec2fleet"
CLIENT = "ec2"
INSTANCE = "AWS::EC2::Instance"
SNAPSHOT = "AWS::EC2::Snapshot"
IMAGE = "AWS::EC2::Image"
SUBNET = "AWS::EC2::Subnet"
NETWORK_ACL = "AWS::EC2::NetworkAcl"

ASG_TAG = "aws:autoscaling:groupName"
GONE_STATES = frozenset({"terminated"})

# IANA protocol numbers network ACL entries use, as the names security group rules use.
PROTOCOL_NAMES = {"-1": "-1", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def metadata_options(instance: Mapping[str, Any]) -> dict[str, Any] | None:
    options = instance.get("MetadataOptions")
    if not isinstance(options, Mapping):
        return None
    return {
        "http_tokens": options.get("HttpTokens"),
        "http_endpoint": options.get("HttpEndpoint"),
        "hop_limit": options.get("HttpPutResponseHopLimit"),
        "state": options.get("State"),
    }


def public_ips(instance: Mapping[str, Any]) -> list[str]:
    """Every public IPv4 address of the instance: its primary one and those of its interfaces."""
    found = [instance.get("PublicIpAddress")]
    for interface in instance.get("NetworkInterfaces") or []:
        found.append((interface.get("Association") or {}).get("PublicIp"))
        for private in interface.get("PrivateIpAddresses") or []:
            found.append((private.get("Association") or {}).get("PublicIp"))
    return sorted_strings(found)


def instance_configuration(instance: Mapping[str, Any]) -> dict[str, Any]:
    tags = tags_of(instance.get("Tags"))
    return {
        "instance_id": instance["InstanceId"],
        "state": (instance.get("State") or {}).get("Name"),
        "instance_type": instance.get("InstanceType"),
        "image_id": instance.get("ImageId"),
        "vpc_id": instance.get("VpcId"),
        "subnet_id": instance.get("SubnetId"),
        "launch_time": iso(instance.get("LaunchTime")),
        "metadata_options": metadata_options(instance),
        "public_ips": public_ips(instance),
        "monitoring": (instance.get("Monitoring") or {}).get("State"),
        "auto_scaling_group_tag": tags.get(ASG_TAG),
        # The instance profile (its ARN) through which the instance gets role credentials, or None.
        "iam_instance_profile": (instance.get("IamInstanceProfile") or {}).get("Arn"),
    }


def snapshot_configuration(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "snapshot_id": snapshot["SnapshotId"],
        "volume_id": snapshot.get("VolumeId"),
        "state": snapshot.get("State"),
        "encrypted": snapshot.get("Encrypted"),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "volume_size": snapshot.get("VolumeSize"),
        "start_time": iso(snapshot.get("StartTime")),
        "description": snapshot.get("Description"),
    }


def volume_permissions(answer: Mapping[str, Any]) -> dict[str, Any]:
    """DescribeSnapshotAttribute(createVolumePermission) as ``{public, shared_with}``."""
    grants = answer.get("CreateVolumePermissions") or []
    return {
        "public": any(str(g.get("Group", "")).lower() == "all" for g in grants),
        "shared_with": sorted_strings(g.get("UserId") for g in grants),
    }


def image_configuration(image: Mapping[str, Any]) -> dict[str, Any]:
    public = image.get("Public")
    return {
        "image_id": image["ImageId"],
        "name": image.get("Name"),
        "state": image.get("State"),
        "public": public if isinstance(public, bool) else None,
        "creation_date": iso(image.get("CreationDate")),
        "snapshot_ids": sorted_strings(
            (m.get("Ebs") or {}).get("SnapshotId") for m in image.get("BlockDeviceMappings") or []
        ),
    }


def subnet_configuration(subnet: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "subnet_id": subnet["SubnetId"],
        "vpc_id": subnet.get("VpcId"),
        "cidr": subnet.get("CidrBlock"),
        "availability_zone": subnet.get("AvailabilityZone"),
        "default_for_az": bool(subnet.get("DefaultForAz", False)),
        "map_public_ip_on_launch": subnet.get("MapPublicIpOnLaunch"),
        "assign_ipv6_address_on_creation": subnet.get("AssignIpv6AddressOnCreation"),
    }


def acl_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    protocol = str(entry.get("Protocol", "-1")).strip().lower()
    ports = entry.get("PortRange") or {}
    return {
        "rule_number": int(entry.get("RuleNumber", 0)),
        "egress": bool(entry.get("Egress", False)),
        "action": str(entry.get("RuleAction", "")).lower(),
        "protocol": PROTOCOL_NAMES.get(protocol, protocol),
        "cidr": entry.get("CidrBlock") or entry.get("Ipv6CidrBlock"),
        "from_port": ports.get("From"),
        "to_port": ports.get("To"),
    }


def network_acl_configuration(acl: Mapping[str, Any]) -> dict[str, Any]:
    entries = sorted((acl_entry(e) for e in acl.get("Entries") or []), key=lambda e: (e["egress"], e["rule_number"]))
    return {
        "network_acl_id": acl["NetworkAclId"],
        "vpc_id": acl.get("VpcId"),
        "is_default": bool(acl.get("IsDefault", False)),
        "subnets": sorted_strings(a.get("SubnetId") for a in acl.get("Associations") or []),
        "entries": entries,
    }


@register
class Ec2FleetCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "ec2:DescribeInstances",
        "ec2:DescribeSnapshots",
        "ec2:DescribeSnapshotAttribute",
        "ec2:DescribeImages",
        "ec2:DescribeSubnets",
        "ec2:DescribeNetworkAcls",
        "autoscaling:DescribeAutoScalingInstances",
    )
    resource_types: ClassVar[tuple[str, ...]] = (INSTANCE, SNAPSHOT, IMAGE, SUBNET, NETWORK_ACL)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(CLIENT)
        parts: list[Awaitable[None]] = [
            self._instances(ctx, client),
            self._snapshots(ctx, client),
            self._images(ctx, client),
            self._subnets(ctx, client),
            self._network_acls(ctx, client),
        ]
        results = await asyncio.gather(*parts, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _instances(self, ctx: UnitContext, client: Any) -> None:
        reservations = await ctx.list_all(client, "describe_instances", "Reservations")
        instances = [
            i
            for r in reservations
            for i in r.get("Instances") or []
            if (i.get("State") or {}).get("Name") not in GONE_STATES
        ]
        membership: dict[str, str] | CallError = {}
        if any(ASG_TAG not in tags_of(i.get("Tags")) for i in instances):
            autoscaling = await ctx.client("autoscaling")
            answer = await read_all(ctx, autoscaling, "describe_auto_scaling_instances", "AutoScalingInstances")
            membership = (
                answer
                if isinstance(answer, CallError)
                else {str(a["InstanceId"]): str(a.get("AutoScalingGroupName")) for a in answer if a.get("InstanceId")}
            )
        for instance in instances:
            instance_id = instance["InstanceId"]
            cfg = ConfigBuilder(**instance_configuration(instance))
            if isinstance(membership, CallError):
                cfg.fail("auto_scaling_group", membership)
            else:
                cfg.put("auto_scaling_group", membership.get(instance_id))
            await ctx.emit(
                Resource(
                    resource_type=INSTANCE,
                    arn=ctx.arn("ec2", f"instance/{instance_id}"),
                    name=instance_id,
                    region=ctx.region,
                    configuration=cfg.build(),
                    tags=tags_of(instance.get("Tags")),
                )
            )

    async def _snapshot(self, ctx: UnitContext, client: Any, snapshot: Mapping[str, Any]) -> None:
        snapshot_id = snapshot["SnapshotId"]
        arn = f"arn:{ctx.partition}:ec2:{ctx.region}::snapshot/{snapshot_id}"
        permissions = await ctx.read(
            client,
            "describe_snapshot_attribute",
            resource_arn=arn,
            Attribute="createVolumePermission",
            SnapshotId=snapshot_id,
        )
        cfg = ConfigBuilder(**snapshot_configuration(snapshot))
        cfg.from_read("create_volume_permission", permissions, volume_permissions)
        await ctx.emit(
            Resource(
                resource_type=SNAPSHOT,
                arn=arn,
                name=snapshot_id,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of(snapshot.get("Tags")),
            )
        )

    async def _snapshots(self, ctx: UnitContext, client: Any) -> None:
        snapshots = await ctx.list_all(client, "describe_snapshots", "Snapshots", OwnerIds=["self"])
        await asyncio.gather(*(self._snapshot(ctx, client, s) for s in snapshots))

    async def _images(self, ctx: UnitContext, client: Any) -> None:
        for image in await ctx.list_all(client, "describe_images", "Images", Owners=["self"]):
            image_id = image["ImageId"]
            await ctx.emit(
                Resource(
                    resource_type=IMAGE,
                    arn=f"arn:{ctx.partition}:ec2:{ctx.region}::image/{image_id}",
                    name=image_id,
                    region=ctx.region,
                    configuration=ConfigBuilder(**image_configuration(image)).build(),
                    tags=tags_of(image.get("Tags")),
                )
            )

    async def _subnets(self, ctx: UnitContext, client: Any) -> None:
        for subnet in await ctx.list_all(client, "describe_subnets", "Subnets"):
            subnet_id = subnet["SubnetId"]
            await ctx.emit(
                Resource(
                    resource_type=SUBNET,
                    arn=str(subnet.get("SubnetArn") or ctx.arn("ec2", f"subnet/{subnet_id}")),
                    name=subnet_id,
                    region=ctx.region,
                    configuration=ConfigBuilder(**subnet_configuration(subnet)).build(),
                    tags=tags_of(subnet.get("Tags")),
                )
            )

    async def _network_acls(self, ctx: UnitContext, client: Any) -> None:
        for acl in await ctx.list_all(client, "describe_network_acls", "NetworkAcls"):
            acl_id = acl["NetworkAclId"]
            await ctx.emit(
                Resource(
                    resource_type=NETWORK_ACL,
                    arn=ctx.arn("ec2", f"network-acl/{acl_id}"),
                    name=acl_id,
                    region=ctx.region,
                    configuration=ConfigBuilder(**network_acl_configuration(acl)).build(),
                    tags=tags_of(acl.get("Tags")),
                )
            )
