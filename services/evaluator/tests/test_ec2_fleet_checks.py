"""EC2 fleet checks (instances, snapshots, AMIs, subnets, network ACLs) on configurations shaped as the
``ec2fleet`` collector emits them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.checks.ec2_fleet import open_admin_ports
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
DENIED = "UnauthorizedOperation on describe_snapshot_attribute: You are not authorized to perform this operation."


def snap(
    resource_type: str, configuration: dict[str, Any], *, name: str = "r1", tags: dict[str, str] | None = None
) -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:ec2:us-east-1:{ACCOUNT}:{name}",
        name=name,
        account_id=ACCOUNT,
        region="us-east-1",
        tags=tags or {},
        configuration=configuration,
    )


def run(check_id: str, snapshot: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snapshot: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snapshot, **params)
    return None if result is None else result[0]


def instance(tags: dict[str, str] | None = None, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "instance_id": "i-0abc",
        "state": "running",
        "instance_type": "t3.micro",
        "image_id": "ami-1",
        "vpc_id": "vpc-1",
        "subnet_id": "subnet-1",
        "launch_time": "2024-05-01T00:00:00+00:00",
        "metadata_options": {"http_tokens": "required", "http_endpoint": "enabled", "hop_limit": 1, "state": "applied"},
        "public_ips": [],
        "monitoring": "enabled",
        "auto_scaling_group_tag": None,
        "auto_scaling_group": "web",
    }
    config.update(overrides)
    return snap("AWS::EC2::Instance", config, name="i-0abc", tags=tags)


def snapshot(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "snapshot_id": "snap-1",
        "volume_id": "vol-1",
        "state": "completed",
        "encrypted": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1",
        "volume_size": 8,
        "start_time": "2024-05-01T00:00:00+00:00",
        "description": None,
        "create_volume_permission": {"public": False, "shared_with": []},
    }
    config.update(overrides)
    return snap("AWS::EC2::Snapshot", config, name="snap-1")


def image(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {"image_id": "ami-1", "name": "golden", "state": "available", "public": False}
    config.update(overrides)
    return snap("AWS::EC2::Image", config, name="ami-1")


def subnet(tags: dict[str, str] | None = None, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "subnet_id": "subnet-1",
        "vpc_id": "vpc-1",
        "cidr": "10.0.1.0/24",
        "availability_zone": "us-east-1a",
        "default_for_az": False,
        "map_public_ip_on_launch": False,
        "assign_ipv6_address_on_creation": False,
    }
    config.update(overrides)
    return snap("AWS::EC2::Subnet", config, name="subnet-1", tags=tags)


def entry(
    number: int,
    action: str = "allow",
    protocol: str = "tcp",
    cidr: str = "0.0.0.0/0",
    ports: tuple[int, int] | None = (22, 22),
    egress: bool = False,
) -> dict[str, Any]:
    return {
        "rule_number": number,
        "egress": egress,
        "action": action,
        "protocol": protocol,
        "cidr": cidr,
        "from_port": None if ports is None else ports[0],
        "to_port": None if ports is None else ports[1],
    }


def acl(*entries: dict[str, Any]) -> Snapshot:
    config = {
        "network_acl_id": "acl-1",
        "vpc_id": "vpc-1",
        "is_default": False,
        "subnets": [],
        "entries": list(entries),
    }
    return snap("AWS::EC2::NetworkAcl", config, name="acl-1")


# --- instances -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"http_tokens": "required", "http_endpoint": "enabled"}, PASS),
        ({"http_tokens": "optional", "http_endpoint": "disabled"}, PASS),
        ({"http_tokens": "optional", "http_endpoint": "enabled"}, FAIL),
        ({"http_tokens": None, "http_endpoint": "enabled"}, ERROR),
    ],
)
def test_imdsv2(options: dict[str, Any], expected: Status) -> None:
    assert status("ec2_instance_imdsv2_required", instance(metadata_options=options)) == expected


def test_imdsv2_reason_and_errors() -> None:
    result = run("ec2_instance_imdsv2_required", instance(metadata_options={"http_tokens": "optional"}))
    assert result == (FAIL, "Instance i-0abc still accepts IMDSv1: its metadata options have HttpTokens=optional")
    assert status("ec2_instance_imdsv2_required", instance(metadata_options=None)) == ERROR
    config = dict(instance().configuration)
    del config["metadata_options"]
    assert status("ec2_instance_imdsv2_required", snap("AWS::EC2::Instance", config)) == ERROR


def test_public_ip() -> None:
    assert status("ec2_instance_no_public_ip", instance()) == PASS
    exposed = instance(public_ips=["54.1.2.3"])
    assert run("ec2_instance_no_public_ip", exposed) == (FAIL, "Instance i-0abc has public IPv4 address 54.1.2.3")
    tagged = instance(tags={"guardian:public": "true"}, public_ips=["54.1.2.3"])
    result = run("ec2_instance_no_public_ip", tagged)
    assert result is not None
    assert result[0] == PASS
    assert "tagged guardian:public=true" in result[1]
    assert status("ec2_instance_no_public_ip", tagged, public_tag_key="") == FAIL
    assert status("ec2_instance_no_public_ip", instance(tags={"guardian:public": "no"}, public_ips=["1.2.3.4"])) == FAIL
    assert status("ec2_instance_no_public_ip", instance(public_ips="54.1.2.3")) == ERROR
    errors = instance(public_ips=None, _errors={"public_ips": "boom"})
    assert status("ec2_instance_no_public_ip", errors) == ERROR


def test_auto_scaling_membership() -> None:
    assert status("ec2_instance_in_auto_scaling_group", instance()) == PASS
    by_tag = instance(auto_scaling_group_tag="web", auto_scaling_group=None, _errors={"auto_scaling_group": "denied"})
    # The tag alone proves membership, even when the Auto Scaling read failed.
    assert run("ec2_instance_in_auto_scaling_group", by_tag) == (
        PASS,
        "Instance i-0abc belongs to Auto Scaling group web",
    )
    lone = instance(auto_scaling_group=None)
    assert run("ec2_instance_in_auto_scaling_group", lone) == (
        FAIL,
        "Instance i-0abc is not in any Auto Scaling group: nothing replaces it if it fails",
    )
    unknown = instance(auto_scaling_group=None, _errors={"auto_scaling_group": "AccessDenied on x: no"})
    assert status("ec2_instance_in_auto_scaling_group", unknown) == ERROR
    exempt = instance(tags={"guardian:standalone": "yes"}, auto_scaling_group=None)
    assert status("ec2_instance_in_auto_scaling_group", exempt) == PASS
    # The exemption does not depend on the membership read.
    exempt_unknown = instance(
        tags={"guardian:standalone": "true"}, auto_scaling_group=None, _errors={"auto_scaling_group": "denied"}
    )
    assert status("ec2_instance_in_auto_scaling_group", exempt_unknown) == PASS


@pytest.mark.parametrize(
    ("state", "expected"),
    [("enabled", PASS), ("disabled", FAIL), ("pending", FAIL), ("disabling", FAIL), (None, ERROR), ("odd", ERROR)],
)
def test_detailed_monitoring(state: str | None, expected: Status) -> None:
    assert status("ec2_instance_detailed_monitoring", instance(monitoring=state)) == expected


# --- snapshots and AMIs --------------------------------------------------------------------


def test_snapshot_public() -> None:
    assert run("ec2_snapshot_not_public", snapshot()) == (PASS, "Snapshot snap-1 is not public")
    shared = snapshot(create_volume_permission={"public": False, "shared_with": ["210987654321"]})
    assert run("ec2_snapshot_not_public", shared) == (
        PASS,
        "Snapshot snap-1 is not public (shared with account 210987654321)",
    )
    public = snapshot(create_volume_permission={"public": True, "shared_with": []})
    result = run("ec2_snapshot_not_public", public)
    assert result is not None
    assert result[0] == FAIL
    assert "grants the group 'all'" in result[1]
    denied = snapshot(create_volume_permission=None, _errors={"create_volume_permission": DENIED})
    result = run("ec2_snapshot_not_public", denied)
    assert result is not None
    assert result[0] == ERROR
    assert "UnauthorizedOperation" in result[1]
    assert status("ec2_snapshot_not_public", snapshot(create_volume_permission={"shared_with": []})) == ERROR


def test_snapshot_encrypted() -> None:
    assert status("ec2_snapshot_encrypted", snapshot()) == PASS
    assert run("ec2_snapshot_encrypted", snapshot(encrypted=False)) == (
        FAIL,
        "Snapshot snap-1 (of volume vol-1) is not encrypted",
    )
    assert status("ec2_snapshot_encrypted", snapshot(encrypted=None)) == ERROR
    assert status("ec2_snapshot_encrypted", snapshot(encrypted="yes")) == ERROR


def test_ami_public() -> None:
    assert run("ec2_ami_not_public", image()) == (PASS, "AMI ami-1 (golden) is private")
    assert status("ec2_ami_not_public", image(public=True)) == FAIL
    assert status("ec2_ami_not_public", image(public=None)) == ERROR
    config = dict(image().configuration)
    del config["public"]
    assert status("ec2_ami_not_public", snap("AWS::EC2::Image", config)) == ERROR


# --- subnets and network ACLs --------------------------------------------------------------


def test_subnet_public_ip_on_launch() -> None:
    assert status("ec2_subnet_no_auto_public_ip", subnet()) == PASS
    result = run("ec2_subnet_no_auto_public_ip", subnet(map_public_ip_on_launch=True, default_for_az=True))
    assert result == (
        FAIL,
        "Subnet subnet-1 of vpc-1 (a default subnet) gives every instance launched in it a public IPv4 address "
        "(MapPublicIpOnLaunch is on)",
    )
    tagged = subnet(tags={"guardian:public": "True"}, map_public_ip_on_launch=True)
    assert status("ec2_subnet_no_auto_public_ip", tagged) == PASS
    assert status("ec2_subnet_no_auto_public_ip", tagged, public_tag_key="tier:public") == FAIL
    assert status("ec2_subnet_no_auto_public_ip", subnet(map_public_ip_on_launch=None)) == ERROR


def test_nacl_allow_from_anywhere_fails() -> None:
    result = run("ec2_nacl_no_open_admin_ports", acl(entry(100), entry(32767, "deny", "-1", ports=None)))
    assert result is not None
    assert result[0] == FAIL
    assert "tcp port 22 (SSH) is open to 0.0.0.0/0 by rule 100 (allow tcp port 22 from 0.0.0.0/0)" in result[1]


def test_nacl_earlier_deny_closes_the_port() -> None:
    entries = (entry(50, "deny", ports=(0, 1024)), entry(100, "allow", ports=(0, 65535)))
    result = run("ec2_nacl_no_open_admin_ports", acl(*entries), tcp_ports=[22], udp_ports=[])
    assert result is not None
    assert result[0] == PASS


def test_nacl_partial_deny_does_not_close_the_port() -> None:
    entries = (entry(50, "deny", cidr="10.0.0.0/8"), entry(100, "allow", protocol="-1", ports=None))
    assert status("ec2_nacl_no_open_admin_ports", acl(*entries)) == FAIL


def test_nacl_default_allow_all_fails_on_ipv6_too() -> None:
    entries = (entry(100, "deny", "-1", ports=None), entry(101, "allow", "-1", cidr="::/0", ports=None))
    result = run("ec2_nacl_no_open_admin_ports", acl(*entries))
    assert result is not None
    assert result[0] == FAIL
    assert "::/0" in result[1]
    assert "0.0.0.0/0 by" not in result[1]


def test_nacl_private_and_egress_rules_pass() -> None:
    entries = (
        entry(100, cidr="10.0.0.0/16"),
        entry(110, "allow", "-1", ports=None, egress=True),
        entry(120, ports=(443, 443)),
        entry(32767, "deny", "-1", ports=None),
    )
    assert status("ec2_nacl_no_open_admin_ports", acl(*entries)) == PASS


def test_nacl_udp_rdp() -> None:
    entries = (entry(100, protocol="udp", ports=(3389, 3389)),)
    result = run("ec2_nacl_no_open_admin_ports", acl(*entries))
    assert result is not None
    assert result[0] == FAIL
    assert "udp port 3389 (RDP)" in result[1]
    assert open_admin_ports(list(entries), [("tcp", 3389)]) == []


def test_nacl_errors() -> None:
    unreadable = acl()
    config = {**unreadable.configuration, "entries": None, "_errors": {"entries": "AccessDenied on x: y"}}
    assert status("ec2_nacl_no_open_admin_ports", snap("AWS::EC2::NetworkAcl", config)) == ERROR
    assert status("ec2_nacl_no_open_admin_ports", snap("AWS::EC2::NetworkAcl", {"entries": "nope"})) == ERROR
    assert status("ec2_nacl_no_open_admin_ports", acl(entry(1)), tcp_ports=["ssh"]) == ERROR
