"""EC2 fleet checks: instances (IMDSv2, public addresses, Auto Scaling, detailed monitoring), the
account's own snapshots and AMIs (public, encrypted), subnets (public addresses on launch) and
network ACLs (administration ports open to the internet).

Data comes from the ``ec2fleet`` collector. Network ACL entries arrive normalised::

    {"rule_number": 100, "egress": False, "action": "allow" | "deny",
     "protocol": "-1" | "tcp" | "udp" | "icmp" | <number>, "cidr": "0.0.0.0/0" | "::/0" | ...,
     "from_port": int | None, "to_port": int | None}
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import (
    BadValue,
    flag,
    guarded,
    is_anywhere,
    mapping,
    mappings,
    needs,
    strings,
    tagged_true,
)
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

SERVICE = "ec2fleet"
INSTANCE = "AWS::EC2::Instance"
SNAPSHOT = "AWS::EC2::Snapshot"
IMAGE = "AWS::EC2::Image"
SUBNET = "AWS::EC2::Subnet"
NETWORK_ACL = "AWS::EC2::NetworkAcl"

PORT_NAMES = {22: "SSH", 3389: "RDP"}


# --- instances -----------------------------------------------------------------------------


@check(
    id="ec2_instance_imdsv2_required",
    title="EC2 instances require IMDSv2",
    description=(
        "Every instance requires session tokens for the instance metadata service (IMDSv2) or has the "
        "service turned off. IMDSv1 answers plain GET requests, so a server-side request forgery flaw in "
        "any application on the host can read the instance role's temporary credentials."
    ),
    severity=Severity.HIGH,
    resource_type=INSTANCE,
    service=SERVICE,
    remediation=(
        "Require tokens on the instance (check first that its software uses an AWS SDK recent enough for "
        "IMDSv2), and set it in launch templates so new instances start that way.\n"
        "CLI: aws ec2 modify-instance-metadata-options --instance-id INSTANCE_ID --http-tokens required "
        "--http-endpoint enabled\n"
        'Terraform: metadata_options { http_tokens = "required" } in the aws_instance or '
        "aws_launch_template resource"
    ),
    permissions=("ec2:DescribeInstances",),
)
@guarded
def instance_imdsv2_required(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "metadata_options")) is not None:
        return err
    options = mapping(snap, "metadata_options")
    tokens, endpoint = options.get("http_tokens"), options.get("http_endpoint")
    if endpoint == "disabled":
        return passed(f"Instance {snap.name} has the instance metadata service turned off", http_endpoint=endpoint)
    if tokens == "required":
        return passed(f"Instance {snap.name} requires IMDSv2 session tokens", http_tokens=tokens)
    if tokens == "optional":
        return failed(
            f"Instance {snap.name} still accepts IMDSv1: its metadata options have HttpTokens=optional",
            http_tokens=tokens,
        )
    return errored(f"Instance {snap.name} reports no usable IMDS token setting ({tokens!r})")


@check(
    id="ec2_instance_no_public_ip",
    title="EC2 instances have no public IP address",
    description=(
        "Instances have no public IPv4 address, so they can only be reached through load balancers, "
        "bastions or private networks. An instance meant to face the internet can be marked with the tag "
        "named by the public_tag_key parameter set to true."
    ),
    severity=Severity.HIGH,
    resource_type=INSTANCE,
    service=SERVICE,
    remediation=(
        "Put the instance in a private subnet behind a load balancer or NAT gateway and release its public "
        "address (an Elastic IP can be disassociated; an auto-assigned address goes when the instance is "
        "relaunched in a subnet that does not assign one).\n"
        "CLI: aws ec2 disassociate-address --association-id ASSOCIATION_ID\n"
        "Terraform: associate_public_ip_address = false in the aws_instance or in the "
        "network_interfaces block of the aws_launch_template"
    ),
    permissions=("ec2:DescribeInstances",),
    parameters={"public_tag_key": "guardian:public"},
)
@guarded
def instance_no_public_ip(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "public_ips")) is not None:
        return err
    addresses = strings(snap, "public_ips")
    if not addresses:
        return passed(f"Instance {snap.name} has no public IPv4 address", public_ips=[])
    key = params.get("public_tag_key")
    if tagged_true(snap.tags, key):
        return passed(
            f"Instance {snap.name} has public address {', '.join(addresses)} and is tagged {key}=true as "
            "deliberately internet-facing",
            public_ips=addresses,
            exempt_by_tag=key,
        )
    return failed(f"Instance {snap.name} has public IPv4 address {', '.join(addresses)}", public_ips=addresses)


@check(
    id="ec2_instance_in_auto_scaling_group",
    title="EC2 instances are managed by an Auto Scaling group",
    description=(
        "Every instance belongs to an Auto Scaling group, which replaces it when it fails its health check "
        "and adds capacity with demand. A deliberately standalone instance can be marked with the tag named "
        "by the standalone_tag_key parameter set to true."
    ),
    severity=Severity.LOW,
    resource_type=INSTANCE,
    service=SERVICE,
    remediation=(
        "Launch the workload from a launch template through an Auto Scaling group (a group of one still "
        "gives automatic replacement), or attach the running instance to an existing group.\n"
        "CLI: aws autoscaling attach-instances --auto-scaling-group-name GROUP --instance-ids INSTANCE_ID\n"
        "Terraform: resource aws_autoscaling_group with launch_template { id = aws_launch_template.app.id }, "
        "min_size = 1 and vpc_zone_identifier spanning two subnets"
    ),
    permissions=("ec2:DescribeInstances", "autoscaling:DescribeAutoScalingInstances"),
    parameters={"standalone_tag_key": "guardian:standalone"},
)
@guarded
def instance_in_auto_scaling_group(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    tag = snap.configuration.get("auto_scaling_group_tag")
    if tag:
        return passed(f"Instance {snap.name} belongs to Auto Scaling group {tag}", auto_scaling_group=tag)
    group = snap.configuration.get("auto_scaling_group")
    membership_unknown = needs(snap, "auto_scaling_group")
    if membership_unknown is None and group:
        return passed(f"Instance {snap.name} belongs to Auto Scaling group {group}", auto_scaling_group=group)
    key = params.get("standalone_tag_key")
    if tagged_true(snap.tags, key):
        return passed(
            f"Instance {snap.name} is tagged {key}=true as deliberately standalone, outside any Auto Scaling group",
            exempt_by_tag=key,
        )
    if membership_unknown is not None:
        return membership_unknown
    return failed(
        f"Instance {snap.name} is not in any Auto Scaling group: nothing replaces it if it fails",
        auto_scaling_group=None,
    )


@check(
    id="ec2_instance_detailed_monitoring",
    title="EC2 instances have detailed monitoring",
    description=(
        "Detailed monitoring is enabled, so CloudWatch receives the instance's metrics every minute instead "
        "of every five; capacity alarms and scaling react that much sooner."
    ),
    severity=Severity.LOW,
    resource_type=INSTANCE,
    service=SERVICE,
    remediation=(
        "Enable detailed monitoring on the instance and in its launch template.\n"
        "CLI: aws ec2 monitor-instances --instance-ids INSTANCE_ID\n"
        "Terraform: monitoring = true in the aws_instance, or monitoring { enabled = true } in the "
        "aws_launch_template"
    ),
    permissions=("ec2:DescribeInstances",),
)
@guarded
def instance_detailed_monitoring(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "monitoring")) is not None:
        return err
    state = snap.configuration["monitoring"]
    if state == "enabled":
        return passed(f"Instance {snap.name} has detailed (one-minute) monitoring enabled", monitoring=state)
    if state in ("disabled", "disabling", "pending"):
        detail = "is still being enabled (pending)" if state == "pending" else f"is {state}"
        return failed(f"Detailed monitoring of instance {snap.name} {detail}", monitoring=state)
    return errored(f"Instance {snap.name} reports no usable monitoring state ({state!r})")


# --- snapshots and images ------------------------------------------------------------------


@check(
    id="ec2_snapshot_not_public",
    title="EBS snapshots are not public",
    description=(
        "No EBS snapshot the account owns grants createVolumePermission to the group 'all'. A public "
        "snapshot lets any AWS account create a volume from it and read every block of the disk."
    ),
    severity=Severity.CRITICAL,
    resource_type=SNAPSHOT,
    service=SERVICE,
    remediation=(
        "Remove the public permission now, then check whether the data on it must be treated as exposed. "
        "Turn on block public access for snapshots in each region.\n"
        "CLI: aws ec2 modify-snapshot-attribute --snapshot-id SNAPSHOT_ID --attribute createVolumePermission "
        "--operation-type remove --group-names all\n"
        'Terraform: resource aws_ebs_snapshot_block_public_access { state = "block-all-sharing" }'
    ),
    permissions=("ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute"),
)
@guarded
def snapshot_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "create_volume_permission")) is not None:
        return err
    permission = mapping(snap, "create_volume_permission")
    public = permission.get("public")
    shared = [str(a) for a in permission.get("shared_with") or []]
    if public is True:
        return failed(
            f"Snapshot {snap.name} is public: its createVolumePermission grants the group 'all', so any AWS "
            "account can create a volume from it",
            public=True,
        )
    if public is False:
        extra = f" (shared with account {', '.join(shared)})" if shared else ""
        return passed(f"Snapshot {snap.name} is not public{extra}", public=False, shared_with=shared)
    return errored(f"Snapshot {snap.name} reports no usable sharing setting ({public!r})")


@check(
    id="ec2_snapshot_encrypted",
    title="EBS snapshots are encrypted",
    description=(
        "Every EBS snapshot the account owns is encrypted. Snapshots keep a full copy of a disk, often long "
        "after the volume is gone, so they need the same protection at rest."
    ),
    severity=Severity.MEDIUM,
    resource_type=SNAPSHOT,
    service=SERVICE,
    remediation=(
        "Copy the snapshot with encryption on, move anything that uses it to the copy, and delete the "
        "original. Encryption by default makes new snapshots encrypted.\n"
        "CLI: aws ec2 copy-snapshot --source-region REGION --source-snapshot-id SNAPSHOT_ID --encrypted "
        "--kms-key-id KEY_ARN\n"
        "Terraform: resource aws_ebs_snapshot_copy with encrypted = true and kms_key_id set"
    ),
    permissions=("ec2:DescribeSnapshots",),
)
@guarded
def snapshot_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "encrypted")) is not None:
        return err
    volume = snap.configuration.get("volume_id")
    source = f" (of volume {volume})" if volume else ""
    if flag(snap, "encrypted", "The encryption setting"):
        key = snap.configuration.get("kms_key_id")
        return passed(
            f"Snapshot {snap.name}{source} is encrypted" + (f" with KMS key {key}" if key else ""), kms_key_id=key
        )
    return failed(f"Snapshot {snap.name}{source} is not encrypted", encrypted=False)


@check(
    id="ec2_ami_not_public",
    title="AMIs are not public",
    description=(
        "No machine image the account owns is public. A public AMI shares its snapshots, and whatever was "
        "baked into them (keys, configuration, data), with every AWS account."
    ),
    severity=Severity.HIGH,
    resource_type=IMAGE,
    service=SERVICE,
    remediation=(
        "Make the image private and turn on block public access for AMIs in each region.\n"
        "CLI: aws ec2 modify-image-attribute --image-id AMI_ID --launch-permission "
        '"Remove=[{Group=all}]"\n'
        'Terraform: resource aws_ec2_image_block_public_access { state = "block-new-sharing" }, and no '
        'aws_ami_launch_permission with group = "all"'
    ),
    permissions=("ec2:DescribeImages",),
)
@guarded
def ami_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "public")) is not None:
        return err
    label = f"AMI {snap.name}" + (f" ({snap.configuration['name']})" if snap.configuration.get("name") else "")
    if flag(snap, "public", "The public flag"):
        return failed(f"{label} is public: any AWS account can launch it and read its snapshots", public=True)
    return passed(f"{label} is private", public=False)


# --- subnets and network ACLs --------------------------------------------------------------


@check(
    id="ec2_subnet_no_auto_public_ip",
    title="Subnets do not assign public IP addresses on launch",
    description=(
        "Subnets do not give every new instance a public IPv4 address (MapPublicIpOnLaunch off), so an "
        "instance is exposed only when someone decides it should be. A public subnet that must keep the "
        "setting can be marked with the tag named by the public_tag_key parameter set to true."
    ),
    severity=Severity.MEDIUM,
    resource_type=SUBNET,
    service=SERVICE,
    remediation=(
        "Turn the setting off; instances that need an address get an Elastic IP or sit behind a load "
        "balancer.\n"
        "CLI: aws ec2 modify-subnet-attribute --subnet-id SUBNET_ID --no-map-public-ip-on-launch\n"
        "Terraform: map_public_ip_on_launch = false in the aws_subnet (aws_default_subnet for default VPCs)"
    ),
    permissions=("ec2:DescribeSubnets",),
    parameters={"public_tag_key": "guardian:public"},
)
@guarded
def subnet_no_auto_public_ip(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "map_public_ip_on_launch")) is not None:
        return err
    vpc = snap.configuration.get("vpc_id")
    label = f"Subnet {snap.name}" + (f" of {vpc}" if vpc else "")
    if not flag(snap, "map_public_ip_on_launch", "MapPublicIpOnLaunch"):
        return passed(f"{label} does not assign public IPv4 addresses to new instances")
    key = params.get("public_tag_key")
    if tagged_true(snap.tags, key):
        return passed(
            f"{label} assigns public IPv4 addresses on launch and is tagged {key}=true as a deliberate public subnet",
            exempt_by_tag=key,
        )
    default = " (a default subnet)" if snap.configuration.get("default_for_az") is True else ""
    return failed(
        f"{label}{default} gives every instance launched in it a public IPv4 address (MapPublicIpOnLaunch is on)",
        map_public_ip_on_launch=True,
    )


def _family(cidr: Any) -> int | None:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).version
    except ValueError:
        return None


def _covers(entry: Mapping[str, Any], protocol: str, port: int) -> bool:
    entry_protocol = str(entry.get("protocol"))
    if entry_protocol == "-1":
        return True
    if entry_protocol != protocol:
        return False
    low, high = entry.get("from_port"), entry.get("to_port")
    low = 0 if low is None else int(low)
    high = 65535 if high is None else int(high)
    return low <= port <= high


def _describe_entry(entry: Mapping[str, Any]) -> str:
    protocol = str(entry.get("protocol"))
    if protocol == "-1":
        what = "all traffic"
    else:
        low, high = entry.get("from_port"), entry.get("to_port")
        ports = f"port {low}" if low == high else f"ports {low}-{high}"
        what = f"{protocol} {ports}"
    return f"rule {entry.get('rule_number')} ({entry.get('action')} {what} from {entry.get('cidr')})"


def open_admin_ports(entries: list[Mapping[str, Any]], targets: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """The (protocol, port) targets an internet source can reach through these inbound entries.

    Entries are evaluated in rule-number order, as AWS does. For each address family the first
    entry that covers the port and whose range is the whole internet decides: an allow opens it, a
    deny closes it. Narrower ranges are passed over: an allow from them is not 'from anywhere' and
    a deny for them leaves the rest of the internet to later rules.
    """
    inbound = sorted((e for e in entries if e.get("egress") is False), key=lambda e: int(e.get("rule_number", 0)))
    offences: list[dict[str, Any]] = []
    for family in (4, 6):
        for protocol, port in targets:
            for entry in inbound:
                if _family(entry.get("cidr")) != family or not is_anywhere(entry.get("cidr")):
                    continue
                if not _covers(entry, protocol, port):
                    continue
                if entry.get("action") == "allow":
                    offences.append(
                        {
                            "protocol": protocol,
                            "port": port,
                            "cidr": entry.get("cidr"),
                            "rule": _describe_entry(entry),
                        }
                    )
                break
    return offences


@check(
    id="ec2_nacl_no_open_admin_ports",
    title="Network ACLs do not admit administration ports from the internet",
    description=(
        "No network ACL lets SSH (22) or RDP (3389) in from 0.0.0.0/0 or ::/0. Entries are read in "
        "rule-number order as AWS applies them, so an earlier deny for the whole internet closes a port a "
        "later allow would open."
    ),
    severity=Severity.MEDIUM,
    resource_type=NETWORK_ACL,
    service=SERVICE,
    remediation=(
        "Add a deny entry for the port from 0.0.0.0/0 (and ::/0) with a lower rule number than the allow, "
        "or narrow the allow to your administration ranges.\n"
        "CLI: aws ec2 create-network-acl-entry --network-acl-id ACL_ID --ingress --rule-number 50 "
        "--protocol tcp --port-range From=22,To=22 --cidr-block 0.0.0.0/0 --rule-action deny\n"
        'Terraform: resource aws_network_acl_rule { rule_number = 50, egress = false, protocol = "tcp", '
        'rule_action = "deny", cidr_block = "0.0.0.0/0", from_port = 22, to_port = 22 }'
    ),
    permissions=("ec2:DescribeNetworkAcls",),
    parameters={"tcp_ports": [22, 3389], "udp_ports": [3389]},
)
@guarded
def nacl_no_open_admin_ports(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "entries")) is not None:
        return err
    entries = mappings(snap, "entries")
    try:
        targets = [("tcp", int(p)) for p in params.get("tcp_ports", [])] + [
            ("udp", int(p)) for p in params.get("udp_ports", [])
        ]
    except (TypeError, ValueError) as exc:
        raise BadValue(f"The port parameters are not port numbers: {exc}") from exc
    offences = open_admin_ports(entries, targets)
    vpc = snap.configuration.get("vpc_id")
    label = f"Network ACL {snap.name}" + (f" of {vpc}" if vpc else "")
    checked = ", ".join(f"{p}/{proto}" for proto, p in targets)
    if not offences:
        return passed(f"{label} admits none of {checked} from 0.0.0.0/0 or ::/0", checked=[p for _, p in targets])
    details = "; ".join(
        f"{o['protocol']} port {o['port']}"
        + (f" ({PORT_NAMES[o['port']]})" if o["port"] in PORT_NAMES else "")
        + f" is open to {o['cidr']} by {o['rule']}"
        for o in offences
    )
    return failed(f"{label} admits administration traffic from the internet: {details}", open=offences)
