"""EC2 checks on hand-built configurations shaped exactly as the EC2 collector emits them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
DENIED = "UnauthorizedOperation on describe_flow_logs: You are not authorized to perform this operation."


def snap(resource_type: str, configuration: dict[str, Any], *, name: str = "r1", region: str = "us-east-1") -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:ec2:{region}:{ACCOUNT}:{name}",
        name=name,
        account_id=ACCOUNT,
        region=region,
        tags={},
        configuration=configuration,
    )


def run(check_id: str, snapshot: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snapshot: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snapshot, **params)
    return None if result is None else result[0]


# --- builders (the collector's shapes) -----------------------------------------------------


def volume(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "volume_id": "vol-0abc",
        "encrypted": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1111",
        "size": 8,
        "state": "in-use",
        "volume_type": "gp3",
        "availability_zone": "us-east-1a",
        "attachments": ["i-0123"],
    }
    config.update(overrides)
    return snap("AWS::EC2::Volume", config, name="vol-0abc")


def rule(
    protocol: str = "tcp",
    from_port: int | None = 443,
    to_port: int | None = 443,
    *,
    ipv4: tuple[str, ...] = (),
    ipv6: tuple[str, ...] = (),
    prefix_lists: tuple[str, ...] = (),
    source_groups: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "from_port": from_port,
        "to_port": to_port,
        "ipv4_ranges": list(ipv4),
        "ipv6_ranges": list(ipv6),
        "prefix_lists": list(prefix_lists),
        "source_groups": list(source_groups),
    }


ALL_OUT = rule("-1", None, None, ipv4=("0.0.0.0/0",))


def group(*ingress: dict[str, Any], egress: list[dict[str, Any]] | None = None, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "group_id": "sg-0web",
        "group_name": "web",
        "description": "web servers",
        "vpc_id": "vpc-0main",
        "is_default": False,
        "ingress": list(ingress),
        "egress": [ALL_OUT] if egress is None else egress,
    }
    config.update(overrides)
    return snap("AWS::EC2::SecurityGroup", config, name=str(config["group_id"]))


def vpc(*flow_logs: dict[str, Any], **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "vpc_id": "vpc-0main",
        "cidr": "10.0.0.0/16",
        "is_default": False,
        "state": "available",
        "flow_logs": list(flow_logs),
    }
    config.update(overrides)
    return snap("AWS::EC2::VPC", config, name="vpc-0main")


def flow_log(flow_id: str = "fl-1", status: str = "ACTIVE", traffic: str = "ALL", dest: str = "s3") -> dict[str, Any]:
    return {"id": flow_id, "status": status, "traffic_type": traffic, "destination_type": dest}


def account(scope: str = "region", **fields: Any) -> Snapshot:
    config: dict[str, Any] = {"scope": scope, **fields}
    return snap("AWS::::Account", config, name=f"{ACCOUNT} (eu-west-1)", region="eu-west-1")


# --- registration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_id", "resource_type", "service", "severity"),
    [
        ("ec2_ebs_volume_encrypted", "AWS::EC2::Volume", "ec2", Severity.HIGH),
        ("ec2_sg_no_open_admin_ports", "AWS::EC2::SecurityGroup", "ec2", Severity.HIGH),
        ("ec2_sg_no_open_database_ports", "AWS::EC2::SecurityGroup", "ec2", Severity.HIGH),
        ("ec2_sg_no_open_all_traffic", "AWS::EC2::SecurityGroup", "ec2", Severity.CRITICAL),
        ("ec2_default_sg_restricts_all", "AWS::EC2::SecurityGroup", "ec2", Severity.MEDIUM),
        ("ec2_vpc_flow_logs_enabled", "AWS::EC2::VPC", "ec2", Severity.MEDIUM),
        ("ec2_ebs_default_encryption", "AWS::::Account", "account", Severity.HIGH),
    ],
)
def test_registered(check_id: str, resource_type: str, service: str, severity: Severity) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.resource_type, chk.service, chk.severity) == (resource_type, service, severity)
    assert chk.permissions
    assert all(p.startswith("ec2:") for p in chk.permissions)
    assert "aws ec2 " in chk.remediation


# --- ec2_ebs_volume_encrypted --------------------------------------------------------------


def test_volume_encrypted_passes_and_names_the_key() -> None:
    result = run("ec2_ebs_volume_encrypted", volume())
    assert result is not None
    assert result[0] == Status.PASS
    assert "key/1111" in result[1]


def test_volume_unencrypted_fails_and_names_the_instance() -> None:
    result = run("ec2_ebs_volume_encrypted", volume(encrypted=False, kms_key_id=None))
    assert result == (Status.FAIL, "EBS volume vol-0abc (attached to i-0123) is not encrypted")


def test_volume_encryption_unreadable_is_error() -> None:
    snapshot = volume(encrypted=None, _errors={"encrypted": "AccessDenied on describe_volumes: no"})
    result = run("ec2_ebs_volume_encrypted", snapshot)
    assert result is not None
    assert result[0] == Status.ERROR
    assert "encrypted" in result[1]


def test_volume_encryption_key_missing_is_error() -> None:
    config = dict(volume().configuration)
    del config["encrypted"]
    assert status("ec2_ebs_volume_encrypted", snap("AWS::EC2::Volume", config)) == Status.ERROR


def test_volume_encryption_not_a_boolean_is_error() -> None:
    assert status("ec2_ebs_volume_encrypted", volume(encrypted=None)) == Status.ERROR


# --- ec2_sg_no_open_admin_ports ------------------------------------------------------------


def test_admin_ports_pass_when_only_private_sources_reach_ssh() -> None:
    tight = group(
        rule("tcp", 443, 443, ipv4=("0.0.0.0/0",)),
        rule("tcp", 22, 22, ipv4=("10.0.0.0/8",), source_groups=("sg-0bastion",)),
        rule("tcp", 3389, 3389, prefix_lists=("pl-0corp",)),
    )
    assert status("ec2_sg_no_open_admin_ports", tight) == Status.PASS


def test_admin_ports_fail_on_ssh_from_anywhere() -> None:
    result = run("ec2_sg_no_open_admin_ports", group(rule("tcp", 22, 22, ipv4=("0.0.0.0/0",))))
    assert result is not None
    assert result[0] == Status.FAIL
    assert "port 22 (SSH) is open to 0.0.0.0/0" in result[1]
    assert "sg-0web (web)" in result[1]


def test_admin_ports_fail_on_ipv6_anywhere() -> None:
    result = run("ec2_sg_no_open_admin_ports", group(rule("tcp", 3389, 3389, ipv6=("::/0",))))
    assert result is not None
    assert result[0] == Status.FAIL
    assert "port 3389 (RDP) is open to ::/0" in result[1]


def test_admin_ports_fail_on_a_range_spanning_22() -> None:
    result = run("ec2_sg_no_open_admin_ports", group(rule("tcp", 20, 25, ipv4=("0.0.0.0/0",))))
    assert result is not None
    assert result[0] == Status.FAIL
    assert "port 22 (SSH)" in result[1]
    assert "tcp ports 20-25" in result[1]
    assert "3389" not in result[1]


def test_admin_ports_fail_on_all_protocols_and_list_each_port_and_cidr() -> None:
    result = run("ec2_sg_no_open_admin_ports", group(rule("-1", None, None, ipv4=("0.0.0.0/0",), ipv6=("::/0",))))
    assert result is not None
    assert result[0] == Status.FAIL
    for fragment in (
        "port 22 (SSH) is open to 0.0.0.0/0",
        "port 22 (SSH) is open to ::/0",
        "port 3389 (RDP) is open to 0.0.0.0/0",
        "port 3389 (RDP) is open to ::/0",
    ):
        assert fragment in result[1]


def test_admin_ports_range_next_to_22_passes() -> None:
    assert status("ec2_sg_no_open_admin_ports", group(rule("tcp", 23, 3388, ipv4=("0.0.0.0/0",)))) == (Status.PASS)


def test_admin_ports_udp_only_where_udp_matters() -> None:
    # RDP also speaks UDP; SSH does not.
    assert status("ec2_sg_no_open_admin_ports", group(rule("udp", 3389, 3389, ipv4=("0.0.0.0/0",)))) == (Status.FAIL)
    assert status("ec2_sg_no_open_admin_ports", group(rule("udp", 22, 22, ipv4=("0.0.0.0/0",)))) == (Status.PASS)


def test_admin_ports_ignore_icmp_and_egress() -> None:
    snapshot = group(
        rule("icmp", -1, -1, ipv4=("0.0.0.0/0",)),
        egress=[rule("tcp", 22, 22, ipv4=("0.0.0.0/0",))],
    )
    assert status("ec2_sg_no_open_admin_ports", snapshot) == Status.PASS


def test_admin_ports_parameters_choose_the_ports() -> None:
    snapshot = group(rule("tcp", 2222, 2222, ipv4=("0.0.0.0/0",)))
    assert status("ec2_sg_no_open_admin_ports", snapshot) == Status.PASS
    assert status("ec2_sg_no_open_admin_ports", snapshot, tcp_ports=[2222], udp_ports=[]) == Status.FAIL


def test_admin_ports_unreadable_is_error() -> None:
    snapshot = group(ingress=None, _errors={"ingress": "AccessDenied on describe_security_groups: no"})
    result = run("ec2_sg_no_open_admin_ports", snapshot)
    assert result is not None
    assert result[0] == Status.ERROR
    assert "ingress" in result[1]


def test_admin_ports_missing_key_is_error() -> None:
    config = dict(group().configuration)
    del config["ingress"]
    assert status("ec2_sg_no_open_admin_ports", snap("AWS::EC2::SecurityGroup", config)) == Status.ERROR


def test_admin_ports_malformed_rules_are_error() -> None:
    assert status("ec2_sg_no_open_admin_ports", group(ingress="tcp/22")) == Status.ERROR


# --- ec2_sg_no_open_database_ports ---------------------------------------------------------


def test_database_ports_pass_when_reached_from_the_app_group_only() -> None:
    snapshot = group(
        rule("tcp", 5432, 5432, source_groups=("sg-0app",)),
        rule("tcp", 3306, 3306, ipv4=("10.0.0.0/16",)),
        rule("tcp", 22, 22, ipv4=("0.0.0.0/0",)),
    )
    assert status("ec2_sg_no_open_database_ports", snapshot) == Status.PASS


def test_database_ports_fail_and_list_each_port_and_cidr() -> None:
    snapshot = group(
        rule("tcp", 5432, 5432, ipv4=("0.0.0.0/0",)),
        rule("tcp", 3300, 3310, ipv6=("::/0",)),
    )
    result = run("ec2_sg_no_open_database_ports", snapshot)
    assert result is not None
    assert result[0] == Status.FAIL
    assert "port 5432 (PostgreSQL) is open to 0.0.0.0/0" in result[1]
    assert "port 3306 (MySQL) is open to ::/0 by rule tcp ports 3300-3310" in result[1]
    assert "27017" not in result[1]


def test_database_ports_memcached_over_udp_fails() -> None:
    snapshot = group(rule("udp", 11211, 11211, ipv4=("0.0.0.0/0",)))
    assert status("ec2_sg_no_open_database_ports", snapshot) == Status.FAIL


def test_database_ports_all_traffic_fails() -> None:
    snapshot = group(rule("-1", None, None, ipv4=("0.0.0.0/0",)))
    result = run("ec2_sg_no_open_database_ports", snapshot)
    assert result is not None
    assert result[0] == Status.FAIL
    assert "27017 (MongoDB)" in result[1]


def test_database_ports_unreadable_and_missing_are_error() -> None:
    unreadable = group(ingress=None, _errors={"ingress": "Throttling on describe_security_groups: slow"})
    assert status("ec2_sg_no_open_database_ports", unreadable) == Status.ERROR
    config = dict(group().configuration)
    del config["ingress"]
    assert status("ec2_sg_no_open_database_ports", snap("AWS::EC2::SecurityGroup", config)) == Status.ERROR


# --- ec2_sg_no_open_all_traffic ------------------------------------------------------------


def test_all_traffic_from_anywhere_fails() -> None:
    snapshot = group(rule("-1", None, None, ipv4=("0.0.0.0/0", "10.0.0.0/8"), ipv6=("::/0",)))
    assert run("ec2_sg_no_open_all_traffic", snapshot) == (
        Status.FAIL,
        "Security group sg-0web (web) allows all traffic from the internet: inbound rule all traffic "
        "from 0.0.0.0/0, 10.0.0.0/8, ::/0 is open to 0.0.0.0/0 and ::/0",
    )


def test_full_tcp_range_from_ipv6_anywhere_fails() -> None:
    result = run("ec2_sg_no_open_all_traffic", group(rule("tcp", 0, 65535, ipv6=("::/0",))))
    assert result is not None
    assert result[0] == Status.FAIL
    assert "tcp ports 0-65535" in result[1]
    assert "::/0" in result[1]


def test_all_traffic_from_private_sources_passes() -> None:
    snapshot = group(
        rule("-1", None, None, source_groups=("sg-0web",)),
        rule("tcp", 0, 65535, ipv4=("10.0.0.0/8",)),
        rule("tcp", 443, 443, ipv4=("0.0.0.0/0",)),
        rule("tcp", 1024, 65535, ipv4=("0.0.0.0/0",)),
    )
    assert status("ec2_sg_no_open_all_traffic", snapshot) == Status.PASS


def test_all_traffic_ignores_egress() -> None:
    assert status("ec2_sg_no_open_all_traffic", group(egress=[ALL_OUT])) == Status.PASS


def test_all_traffic_unreadable_and_missing_are_error() -> None:
    unreadable = group(ingress=None, _errors={"ingress": "AccessDenied on describe_security_groups: no"})
    assert status("ec2_sg_no_open_all_traffic", unreadable) == Status.ERROR
    config = dict(group().configuration)
    del config["ingress"]
    assert status("ec2_sg_no_open_all_traffic", snap("AWS::EC2::SecurityGroup", config)) == Status.ERROR


# --- ec2_default_sg_restricts_all ----------------------------------------------------------


def default_group(ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> Snapshot:
    return group(
        *ingress,
        egress=egress,
        group_id="sg-0default",
        group_name="default",
        description="default VPC security group",
        is_default=True,
    )


def test_default_group_without_rules_passes() -> None:
    result = run("ec2_default_sg_restricts_all", default_group([], []))
    assert result == (
        Status.PASS,
        "The default security group sg-0default of vpc-0main has no inbound and no outbound rules",
    )


def test_default_group_with_aws_default_rules_fails() -> None:
    snapshot = default_group([rule("-1", None, None, source_groups=("sg-0default",))], [ALL_OUT])
    result = run("ec2_default_sg_restricts_all", snapshot)
    assert result is not None
    assert result[0] == Status.FAIL
    assert "1 inbound rule(s): all traffic from sg-0default" in result[1]
    assert "1 outbound rule(s): all traffic to 0.0.0.0/0" in result[1]


def test_default_group_with_only_egress_fails() -> None:
    result = run("ec2_default_sg_restricts_all", default_group([], [ALL_OUT]))
    assert result is not None
    assert result[0] == Status.FAIL
    assert "inbound" not in result[1]


def test_non_default_group_is_not_applicable() -> None:
    assert run("ec2_default_sg_restricts_all", group(rule("-1", None, None, ipv4=("0.0.0.0/0",)))) is None


def test_default_group_unreadable_is_error() -> None:
    snapshot = default_group([], [])
    config = {**snapshot.configuration, "egress": None, "_errors": {"egress": "AccessDenied on x: no"}}
    result = run("ec2_default_sg_restricts_all", snap("AWS::EC2::SecurityGroup", config))
    assert result is not None
    assert result[0] == Status.ERROR
    assert "egress" in result[1]


@pytest.mark.parametrize("field", ["is_default", "ingress", "egress"])
def test_default_group_missing_key_is_error(field: str) -> None:
    config = dict(default_group([], []).configuration)
    del config[field]
    assert status("ec2_default_sg_restricts_all", snap("AWS::EC2::SecurityGroup", config)) == Status.ERROR


# --- ec2_vpc_flow_logs_enabled -------------------------------------------------------------


@pytest.mark.parametrize("traffic", ["ALL", "REJECT"])
def test_flow_logs_pass_when_active_and_capturing_rejects(traffic: str) -> None:
    result = run("ec2_vpc_flow_logs_enabled", vpc(flow_log(traffic=traffic)))
    assert result is not None
    assert result[0] == Status.PASS
    assert traffic in result[1]


def test_flow_logs_pass_when_one_of_several_qualifies() -> None:
    snapshot = vpc(flow_log("fl-a", traffic="ACCEPT"), flow_log("fl-b", traffic="REJECT", dest="cloud-watch-logs"))
    result = run("ec2_vpc_flow_logs_enabled", snapshot)
    assert result is not None
    assert result[0] == Status.PASS
    assert "fl-b" in result[1]


def test_no_flow_logs_fails() -> None:
    assert run("ec2_vpc_flow_logs_enabled", vpc()) == (Status.FAIL, "VPC vpc-0main has no flow logs")


def test_accept_only_flow_log_fails_and_says_why() -> None:
    result = run("ec2_vpc_flow_logs_enabled", vpc(flow_log("fl-a", traffic="ACCEPT")))
    assert result is not None
    assert result[0] == Status.FAIL
    assert "fl-a: it captures ACCEPT traffic, not ALL or REJECT" in result[1]


def test_inactive_flow_log_fails_and_says_why() -> None:
    result = run("ec2_vpc_flow_logs_enabled", vpc(flow_log("fl-a", status="INACTIVE")))
    assert result is not None
    assert result[0] == Status.FAIL
    assert "fl-a: its status is INACTIVE, not ACTIVE" in result[1]


def test_flow_logs_unreadable_is_error() -> None:
    result = run("ec2_vpc_flow_logs_enabled", vpc(flow_logs=None, _errors={"flow_logs": DENIED}))
    assert result is not None
    assert result[0] == Status.ERROR
    assert "UnauthorizedOperation" in result[1]


def test_flow_logs_missing_key_is_error() -> None:
    config = dict(vpc().configuration)
    del config["flow_logs"]
    assert status("ec2_vpc_flow_logs_enabled", snap("AWS::EC2::VPC", config)) == Status.ERROR


# --- ec2_ebs_default_encryption ------------------------------------------------------------


def test_ebs_default_encryption_enabled_passes() -> None:
    snapshot = account(ebs_default_encryption={"enabled": True, "kms_key_id": "alias/aws/ebs"})
    result = run("ec2_ebs_default_encryption", snapshot)
    assert result == (
        Status.PASS,
        "EBS encryption by default is enabled in eu-west-1 with KMS key alias/aws/ebs",
    )


def test_ebs_default_encryption_disabled_fails() -> None:
    snapshot = account(ebs_default_encryption={"enabled": False, "kms_key_id": None})
    assert run("ec2_ebs_default_encryption", snapshot) == (
        Status.FAIL,
        "EBS encryption by default is disabled in eu-west-1",
    )


def test_ebs_default_encryption_key_unreadable_still_passes_on_the_setting() -> None:
    snapshot = account(
        ebs_default_encryption={"enabled": True, "kms_key_id": None},
        _errors={"ebs_default_kms_key_id": "AccessDenied on get_ebs_default_kms_key_id: no"},
    )
    assert status("ec2_ebs_default_encryption", snapshot) == Status.PASS


def test_ebs_default_encryption_unreadable_is_error() -> None:
    snapshot = account(
        ebs_default_encryption=None,
        _errors={"ebs_default_encryption": "UnauthorizedOperation on get_ebs_encryption_by_default: no"},
    )
    result = run("ec2_ebs_default_encryption", snapshot)
    assert result is not None
    assert result[0] == Status.ERROR
    assert "ebs_default_encryption" in result[1]


def test_ebs_default_encryption_missing_key_is_error() -> None:
    assert status("ec2_ebs_default_encryption", account()) == Status.ERROR


def test_ebs_default_encryption_malformed_is_error() -> None:
    assert status("ec2_ebs_default_encryption", account(ebs_default_encryption={"kms_key_id": None})) == (Status.ERROR)


def test_ebs_default_encryption_not_applicable_to_the_global_snapshot() -> None:
    assert run("ec2_ebs_default_encryption", account(scope="account")) is None
    assert run("ec2_ebs_default_encryption", snap("AWS::::Account", {}, name=ACCOUNT)) is None
