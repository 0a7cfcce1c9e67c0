"""EC2 checks: EBS volumes, security groups, VPC flow logs and EBS encryption by default.

Security group rules arrive normalised by the collector, one per IpPermission::

    {"protocol": "-1" | "tcp" | "udp" | "icmp" | ..., "from_port": int | None, "to_port": int | None,
     "ipv4_ranges": [...], "ipv6_ranges": [...], "prefix_lists": [...], "source_groups": [...]}

A rule covers port ``p`` when its protocol is ``-1`` (everything) or the port's protocol with
``from_port <= p <= to_port``; it is open to anywhere when one of its ranges is ``0.0.0.0/0`` or
``::/0``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable

VOLUME = "AWS::EC2::Volume"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
VPC = "AWS::EC2::VPC"
ACCOUNT = "AWS::::Account"

ALL_PROTOCOLS = "-1"
MAX_PORT = 65535

PORT_NAMES = {
    22: "SSH",
    3389: "RDP",
    1433: "SQL Server",
    1521: "Oracle",
    3306: "MySQL",
    5432: "PostgreSQL",
    5439: "Redshift",
    6379: "Redis",
    9042: "Cassandra",
    9200: "Elasticsearch",
    11211: "Memcached",
    27017: "MongoDB",
}

CAPTURING_TRAFFIC_TYPES = ("ALL", "REJECT")


# --- helpers -------------------------------------------------------------------------------


def missing(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR when a field the check reads is not in the configuration at all."""
    absent = [f for f in fields if f not in snap.configuration]
    if not absent:
        return None
    return errored(
        f"The collected configuration of {snap.name} has no {', '.join(absent)}; it cannot be evaluated",
        missing=absent,
    )


def is_anywhere(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return cidr in ("0.0.0.0/0", "::/0")


def open_sources(rule: Mapping[str, Any]) -> list[str]:
    ranges = [*(rule.get("ipv4_ranges") or []), *(rule.get("ipv6_ranges") or [])]
    return [str(c) for c in ranges if is_anywhere(str(c))]


def port_range(rule: Mapping[str, Any]) -> tuple[int, int]:
    """The rule's port range; missing bounds are read as the widest possible."""
    low = rule.get("from_port")
    high = rule.get("to_port")
    return (-1 if low is None else int(low), MAX_PORT if high is None else int(high))


def covers(rule: Mapping[str, Any], port: int, protocols: Iterable[str]) -> bool:
    protocol = str(rule.get("protocol"))
    if protocol == ALL_PROTOCOLS:
        return True
    if protocol not in protocols:
        return False
    low, high = port_range(rule)
    return low <= port <= high


def describe_rule(rule: Mapping[str, Any], direction: str = "inbound") -> str:
    protocol = str(rule.get("protocol"))
    if protocol == ALL_PROTOCOLS:
        what = "all traffic"
    elif protocol in ("tcp", "udp"):
        low, high = port_range(rule)
        what = f"{protocol} port {low}" if low == high else f"{protocol} ports {max(low, 0)}-{high}"
    else:
        what = f"protocol {protocol}"
    peers = [
        *(rule.get("ipv4_ranges") or []),
        *(rule.get("ipv6_ranges") or []),
        *(rule.get("prefix_lists") or []),
        *(rule.get("source_groups") or []),
    ]
    preposition = "from" if direction == "inbound" else "to"
    return f"{what} {preposition} {', '.join(str(p) for p in peers) or 'nowhere'}"


def port_label(port: int) -> str:
    name = PORT_NAMES.get(port)
    return f"{port} ({name})" if name else str(port)


def rules_of(snap: Snapshot, field: str) -> list[Mapping[str, Any]] | Verdict:
    rules = snap.configuration[field]
    if not isinstance(rules, list) or not all(isinstance(r, Mapping) for r in rules):
        return errored(f"The {field} rules of {snap.name} are not a list of rules: {rules!r}")
    return rules


def group_label(snap: Snapshot) -> str:
    name = snap.configuration.get("group_name")
    group_id = snap.configuration.get("group_id") or snap.name
    return f"Security group {group_id}" + (f" ({name})" if name and name != group_id else "")


def open_ports_verdict(snap: Snapshot, params: Mapping[str, Any], kind: str) -> Verdict:
    """Shared body of the admin and database port checks."""
    rules = rules_of(snap, "ingress")
    if isinstance(rules, Verdict):
        return rules
    tcp_ports = {int(p) for p in params.get("tcp_ports", [])}
    udp_ports = {int(p) for p in params.get("udp_ports", [])}
    offences: list[dict[str, Any]] = []
    for rule in rules:
        for cidr in open_sources(rule):
            for port in sorted(tcp_ports | udp_ports):
                protocols = [p for p, ports in (("tcp", tcp_ports), ("udp", udp_ports)) if port in ports]
                if covers(rule, port, protocols):
                    offences.append({"port": port, "cidr": cidr, "rule": describe_rule(rule)})
    checked = ", ".join(port_label(p) for p in sorted(tcp_ports | udp_ports))
    if not offences:
        return passed(
            f"{group_label(snap)} allows no inbound traffic from 0.0.0.0/0 or ::/0 to {kind} ports {checked}",
            ports=sorted(tcp_ports | udp_ports),
        )
    details = "; ".join(f"port {port_label(o['port'])} is open to {o['cidr']} by rule {o['rule']}" for o in offences)
    return failed(f"{group_label(snap)} exposes {kind} ports to the internet: {details}", open=offences)


# --- volumes -------------------------------------------------------------------------------


@check(
    id="ec2_ebs_volume_encrypted",
    title="EBS volumes are encrypted",
    description="Every EBS volume is encrypted at rest with a KMS key.",
    severity=Severity.HIGH,
    resource_type=VOLUME,
    service="ec2",
    remediation=(
        "An existing volume cannot be encrypted in place: snapshot it, copy the snapshot with encryption, "
        "create a volume from the copy and swap it in. "
        "aws ec2 copy-snapshot --source-region REGION --source-snapshot-id SNAPSHOT_ID --encrypted"
    ),
    permissions=("ec2:DescribeVolumes",),
)
def ebs_volume_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "encrypted")) is not None:
        return err
    if (err := missing(snap, "encrypted")) is not None:
        return err
    encrypted = snap.configuration["encrypted"]
    if encrypted is True:
        key = snap.configuration.get("kms_key_id")
        return passed(f"EBS volume {snap.name} is encrypted" + (f" with KMS key {key}" if key else ""), kms_key_id=key)
    if encrypted is False:
        attached = snap.configuration.get("attachments") or []
        where = f" (attached to {', '.join(str(a) for a in attached)})" if attached else ""
        return failed(f"EBS volume {snap.name}{where} is not encrypted", encrypted=False)
    return errored(f"EBS volume {snap.name} reports no usable encryption setting ({encrypted!r})")


# --- security groups -----------------------------------------------------------------------


@check(
    id="ec2_sg_no_open_admin_ports",
    title="Security groups do not expose administration ports to the internet",
    description="No inbound rule allows SSH (22) or RDP (3389) from 0.0.0.0/0 or ::/0.",
    severity=Severity.HIGH,
    resource_type=SECURITY_GROUP,
    service="ec2",
    remediation=(
        "Remove the rule and reach instances through SSM Session Manager, a bastion or a VPN range. "
        "aws ec2 revoke-security-group-ingress --group-id GROUP_ID --protocol tcp --port 22 --cidr 0.0.0.0/0"
    ),
    permissions=("ec2:DescribeSecurityGroups",),
    parameters={"tcp_ports": [22, 3389], "udp_ports": [3389]},
)
def sg_no_open_admin_ports(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "ingress")) is not None:
        return err
    if (err := missing(snap, "ingress")) is not None:
        return err
    return open_ports_verdict(snap, params, "administration")


@check(
    id="ec2_sg_no_open_database_ports",
    title="Security groups do not expose database ports to the internet",
    description=(
        "No inbound rule allows a database or cache port (SQL Server, Oracle, MySQL, PostgreSQL, Redshift, "
        "Redis, Cassandra, Elasticsearch, Memcached, MongoDB) from 0.0.0.0/0 or ::/0."
    ),
    severity=Severity.HIGH,
    resource_type=SECURITY_GROUP,
    service="ec2",
    remediation=(
        "Restrict the rule to the application's security group or private ranges. "
        "aws ec2 revoke-security-group-ingress --group-id GROUP_ID --protocol tcp --port 5432 "
        "--cidr 0.0.0.0/0"
    ),
    permissions=("ec2:DescribeSecurityGroups",),
    parameters={
        "tcp_ports": [1433, 1521, 3306, 5432, 5439, 6379, 9042, 9200, 11211, 27017],
        "udp_ports": [11211],
    },
)
def sg_no_open_database_ports(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "ingress")) is not None:
        return err
    if (err := missing(snap, "ingress")) is not None:
        return err
    return open_ports_verdict(snap, params, "database")


@check(
    id="ec2_sg_no_open_all_traffic",
    title="Security groups do not allow all traffic from the internet",
    description="No inbound rule allows every protocol, or every TCP or UDP port, from 0.0.0.0/0 or ::/0.",
    severity=Severity.CRITICAL,
    resource_type=SECURITY_GROUP,
    service="ec2",
    remediation=(
        "Replace the rule with rules for the ports the workload serves. "
        "aws ec2 revoke-security-group-ingress --group-id GROUP_ID --ip-permissions "
        "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]"
    ),
    permissions=("ec2:DescribeSecurityGroups",),
)
def sg_no_open_all_traffic(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "ingress")) is not None:
        return err
    if (err := missing(snap, "ingress")) is not None:
        return err
    rules = rules_of(snap, "ingress")
    if isinstance(rules, Verdict):
        return rules
    offences: list[dict[str, Any]] = []
    for rule in rules:
        protocol = str(rule.get("protocol"))
        low, high = port_range(rule)
        whole = protocol == ALL_PROTOCOLS or (protocol in ("tcp", "udp") and low <= 1 and high >= MAX_PORT)
        if not whole:
            continue
        sources = open_sources(rule)
        if sources:
            offences.append({"rule": describe_rule(rule), "open_to": sources})
    if not offences:
        return passed(f"{group_label(snap)} has no inbound rule allowing all traffic from 0.0.0.0/0 or ::/0")
    details = "; ".join(f"inbound rule {o['rule']} is open to {' and '.join(o['open_to'])}" for o in offences)
    return failed(f"{group_label(snap)} allows all traffic from the internet: {details}", open=offences)


@check(
    id="ec2_default_sg_restricts_all",
    title="Default security groups restrict all traffic",
    description="The default security group of every VPC has no inbound and no outbound rules.",
    severity=Severity.MEDIUM,
    resource_type=SECURITY_GROUP,
    service="ec2",
    remediation=(
        "Remove every rule from the default group and give workloads their own groups. "
        "aws ec2 revoke-security-group-egress --group-id GROUP_ID --ip-permissions "
        "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]"
    ),
    permissions=("ec2:DescribeSecurityGroups",),
)
def default_sg_restricts_all(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "is_default", "ingress", "egress")) is not None:
        return err
    if (err := missing(snap, "is_default", "ingress", "egress")) is not None:
        return err
    is_default = snap.configuration["is_default"]
    if is_default is False:
        return None
    if is_default is not True:
        return errored(f"{group_label(snap)} does not say whether it is a default group ({is_default!r})")
    ingress = rules_of(snap, "ingress")
    if isinstance(ingress, Verdict):
        return ingress
    egress = rules_of(snap, "egress")
    if isinstance(egress, Verdict):
        return egress
    vpc = snap.configuration.get("vpc_id")
    label = f"The default security group {snap.configuration.get('group_id') or snap.name}" + (
        f" of {vpc}" if vpc else ""
    )
    if not ingress and not egress:
        return passed(f"{label} has no inbound and no outbound rules")
    problems = []
    if ingress:
        problems.append(f"{len(ingress)} inbound rule(s): " + "; ".join(describe_rule(r, "inbound") for r in ingress))
    if egress:
        problems.append(f"{len(egress)} outbound rule(s): " + "; ".join(describe_rule(r, "outbound") for r in egress))
    return failed(
        f"{label} still has {' and '.join(problems)}",
        inbound_rules=len(ingress),
        outbound_rules=len(egress),
    )


# --- VPCs ----------------------------------------------------------------------------------


@check(
    id="ec2_vpc_flow_logs_enabled",
    title="VPC flow logs are enabled",
    description="Every VPC has an active flow log that captures ALL or at least REJECT traffic.",
    severity=Severity.MEDIUM,
    resource_type=VPC,
    service="ec2",
    remediation=(
        "Create a flow log for the VPC delivering to CloudWatch Logs or S3. "
        "aws ec2 create-flow-logs --resource-type VPC --resource-ids VPC_ID --traffic-type ALL "
        "--log-destination-type s3 --log-destination arn:aws:s3:::BUCKET"
    ),
    permissions=("ec2:DescribeVpcs", "ec2:DescribeFlowLogs"),
)
def vpc_flow_logs_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "flow_logs")) is not None:
        return err
    if (err := missing(snap, "flow_logs")) is not None:
        return err
    flow_logs = snap.configuration["flow_logs"]
    if not isinstance(flow_logs, list) or not all(isinstance(f, Mapping) for f in flow_logs):
        return errored(f"The flow logs of VPC {snap.name} are not a list of flow logs: {flow_logs!r}")
    if not flow_logs:
        return failed(f"VPC {snap.name} has no flow logs", flow_logs=[])
    good = [f for f in flow_logs if f.get("status") == "ACTIVE" and f.get("traffic_type") in CAPTURING_TRAFFIC_TYPES]
    if good:
        first = good[0]
        return passed(
            f"VPC {snap.name} has an active flow log capturing {first.get('traffic_type')} traffic "
            f"({first.get('id')}, delivered to {first.get('destination_type')})",
            flow_logs=[f.get("id") for f in good],
        )
    shortfalls = []
    for f in flow_logs:
        wrong = []
        if f.get("status") != "ACTIVE":
            wrong.append(f"its status is {f.get('status')}, not ACTIVE")
        if f.get("traffic_type") not in CAPTURING_TRAFFIC_TYPES:
            wrong.append(f"it captures {f.get('traffic_type')} traffic, not ALL or REJECT")
        shortfalls.append(f"{f.get('id')}: {' and '.join(wrong)}")
    return failed(
        f"VPC {snap.name} has no active flow log capturing ALL or REJECT traffic ({'; '.join(shortfalls)})",
        flow_logs=[f.get("id") for f in flow_logs],
    )


# --- account (per region) ------------------------------------------------------------------


@check(
    id="ec2_ebs_default_encryption",
    title="EBS encryption by default is enabled",
    description="In every scanned region, new EBS volumes and snapshot copies are encrypted by default.",
    severity=Severity.HIGH,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Turn on EBS encryption by default in each region you use. "
        "aws ec2 enable-ebs-encryption-by-default --region REGION"
    ),
    permissions=("ec2:GetEbsEncryptionByDefault", "ec2:GetEbsDefaultKmsKeyId"),
)
def ebs_default_encryption(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if snap.configuration.get("scope") != "region":
        return None
    if (err := unreadable(snap, "ebs_default_encryption")) is not None:
        return err
    if (err := missing(snap, "ebs_default_encryption")) is not None:
        return err
    setting = snap.configuration["ebs_default_encryption"]
    enabled = setting.get("enabled") if isinstance(setting, Mapping) else None
    if enabled is True:
        key = setting.get("kms_key_id")
        return passed(
            f"EBS encryption by default is enabled in {snap.region}" + (f" with KMS key {key}" if key else ""),
            kms_key_id=key,
        )
    if enabled is False:
        return failed(f"EBS encryption by default is disabled in {snap.region}", enabled=False)
    return errored(f"The EBS default encryption setting of {snap.region} is not usable ({setting!r})")
