"""Classic (elb) and v2 (elbv2) load balancer and target group checks on collector-shaped configurations."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
CLASSIC = "AWS::ElasticLoadBalancing::LoadBalancer"
V2 = "AWS::ElasticLoadBalancingV2::LoadBalancer"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
DENIED = "AccessDenied on describe_load_balancer_attributes: not allowed"


def snap(resource_type: str, configuration: dict[str, Any], *, name: str = "web") -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/{name}",
        name=name,
        account_id=ACCOUNT,
        region="us-east-1",
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


# --- Classic -------------------------------------------------------------------------------


def listener(protocol: str, port: int, policies: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "port": port,
        "instance_protocol": "HTTP",
        "instance_port": 80,
        "certificate": "arn:aws:acm:us-east-1:123456789012:certificate/1" if protocol in ("HTTPS", "SSL") else None,
        "policy_names": list(policies),
    }


def classic(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "name": "web",
        "dns_name": "web.us-east-1.elb.amazonaws.com",
        "scheme": "internet-facing",
        "vpc_id": "vpc-1",
        "availability_zones": ["us-east-1a", "us-east-1b"],
        "subnets": ["subnet-a", "subnet-b"],
        "listeners": [listener("HTTPS", 443, ("tls12",))],
        "ssl_policies": {"tls12": {"reference": "ELBSecurityPolicy-TLS-1-2-2017-01", "protocols": ["TLSv1.2"]}},
        "access_log": {"enabled": True, "bucket": "lb-logs"},
        "cross_zone_load_balancing": True,
    }
    config.update(overrides)
    return snap(CLASSIC, config)


def test_classic_listeners() -> None:
    assert run("elb_listeners_encrypted", classic()) == (
        PASS,
        "Classic load balancer web (internet-facing) accepts web traffic only over TLS (HTTPS 443)",
    )
    mixed = classic(listeners=[listener("HTTP", 80), listener("HTTPS", 443, ("tls12",))])
    assert run("elb_listeners_encrypted", mixed) == (
        FAIL,
        "Classic load balancer web (internet-facing) accepts unencrypted HTTP on port 80",
    )
    internal = classic(scheme="internal", listeners=[listener("HTTP", 80)])
    assert status("elb_listeners_encrypted", internal) is None
    assert status("elb_listeners_encrypted", internal, include_internal=True) == FAIL
    assert status("elb_listeners_encrypted", classic(listeners=[listener("TCP", 5000)])) is None
    assert status("elb_listeners_encrypted", classic(scheme=None)) == ERROR
    assert status("elb_listeners_encrypted", classic(listeners=None, _errors={"listeners": "x"})) == ERROR


def test_classic_tls_policy() -> None:
    assert status("elb_tls_policy_current", classic()) == PASS
    old = classic(ssl_policies={"tls12": {"reference": "ELBSecurityPolicy-2016-08", "protocols": ["TLSv1"]}})
    assert run("elb_tls_policy_current", old) == (
        FAIL,
        "Classic load balancer web (internet-facing) allows outdated TLS: HTTPS listener on port 443 uses "
        "ELBSecurityPolicy-2016-08, which is not an allowed policy",
    )
    custom = classic(ssl_policies={"tls12": {"reference": None, "protocols": ["TLSv1.1", "TLSv1.2"]}})
    result = run("elb_tls_policy_current", custom)
    assert result is not None
    assert result[0] == FAIL
    assert "enables TLSv1.1" in result[1]
    strict_custom = classic(ssl_policies={"tls12": {"reference": None, "protocols": ["TLSv1.2"]}})
    assert status("elb_tls_policy_current", strict_custom) == PASS
    assert status("elb_tls_policy_current", classic(ssl_policies={})) == ERROR
    empty_custom = classic(ssl_policies={"tls12": {"reference": None, "protocols": []}})
    assert status("elb_tls_policy_current", empty_custom) == ERROR
    denied = classic(ssl_policies=None, _errors={"ssl_policies": "AccessDenied on describe_load_balancer_policies"})
    assert status("elb_tls_policy_current", denied) == ERROR
    assert status("elb_tls_policy_current", classic(listeners=[listener("HTTP", 80)], ssl_policies={})) is None


def test_classic_access_logs() -> None:
    assert run("elb_access_logs_enabled", classic()) == (
        PASS,
        "Classic load balancer web (internet-facing) writes access logs to lb-logs",
    )
    assert status("elb_access_logs_enabled", classic(access_log={"enabled": False, "bucket": None})) == FAIL
    assert status("elb_access_logs_enabled", classic(access_log=None, _errors={"access_log": DENIED})) == ERROR
    assert status("elb_access_logs_enabled", classic(access_log={})) == ERROR


def test_classic_zones() -> None:
    assert status("elb_multi_az_cross_zone", classic()) == PASS
    single = classic(availability_zones=["us-east-1a"], cross_zone_load_balancing=False)
    assert run("elb_multi_az_cross_zone", single) == (
        FAIL,
        "Classic load balancer web (internet-facing): it is enabled in 1 availability zone(s) (us-east-1a), fewer "
        "than 2 and cross-zone load balancing is off",
    )
    denied = classic(cross_zone_load_balancing=None, _errors={"cross_zone_load_balancing": DENIED})
    assert status("elb_multi_az_cross_zone", denied) == ERROR


# --- v2 ------------------------------------------------------------------------------------


def v2_listener(protocol: str, port: int, policy: str | None = None) -> dict[str, Any]:
    return {
        "arn": f"arn:listener/{port}",
        "protocol": protocol,
        "port": port,
        "ssl_policy": policy,
        "default_actions": [{"type": "forward", "redirect_protocol": None}],
    }


REDIRECT = {"type": "redirect", "redirect_protocol": "HTTPS"}


def alb(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "name": "web",
        "type": "application",
        "scheme": "internet-facing",
        "dns_name": "web-1.us-east-1.elb.amazonaws.com",
        "vpc_id": "vpc-1",
        "state": "active",
        "ip_address_type": "ipv4",
        "availability_zones": ["us-east-1a", "us-east-1b"],
        "listeners": [v2_listener("HTTP", 80), v2_listener("HTTPS", 443, "ELBSecurityPolicy-TLS13-1-2-2021-06")],
        "http_listener_actions": {"80": [REDIRECT]},
        "attributes": {
            "access_logs.s3.enabled": "true",
            "access_logs.s3.bucket": "lb-logs",
            "deletion_protection.enabled": "true",
            "routing.http.drop_invalid_header_fields.enabled": "true",
        },
    }
    config.update(overrides)
    return snap(V2, config)


def test_alb_listeners() -> None:
    assert run("elbv2_listeners_encrypted", alb()) == (
        PASS,
        "Application load balancer web (internet-facing) serves content only over HTTPS; HTTP on port 80 only "
        "redirects to HTTPS",
    )
    forwarding = alb(http_listener_actions={"80": [REDIRECT, {"type": "forward", "redirect_protocol": None}]})
    assert run("elbv2_listeners_encrypted", forwarding) == (
        FAIL,
        "Application load balancer web (internet-facing) serves unencrypted HTTP: the HTTP listener on port 80 "
        "has rules that forward without TLS",
    )
    same_protocol = alb(http_listener_actions={"80": [{"type": "redirect", "redirect_protocol": "#{protocol}"}]})
    assert status("elbv2_listeners_encrypted", same_protocol) == FAIL
    fixed = alb(http_listener_actions={"80": [{"type": "fixed-response", "redirect_protocol": None}]})
    assert status("elbv2_listeners_encrypted", fixed) == PASS
    assert status("elbv2_listeners_encrypted", alb(http_listener_actions={})) == ERROR
    denied = alb(http_listener_actions=None, _errors={"http_listener_actions": "AccessDenied on describe_rules"})
    assert status("elbv2_listeners_encrypted", denied) == ERROR
    assert status("elbv2_listeners_encrypted", alb(type="network")) is None
    assert status("elbv2_listeners_encrypted", alb(scheme="internal", http_listener_actions={"80": []})) is None
    internal = alb(scheme="internal", http_listener_actions={"80": [{"type": "forward", "redirect_protocol": None}]})
    assert status("elbv2_listeners_encrypted", internal, include_internal=True) == FAIL


def test_v2_tls_policy() -> None:
    assert status("elbv2_tls_policy_current", alb()) == PASS
    old = alb(listeners=[v2_listener("HTTPS", 443, "ELBSecurityPolicy-2016-08")])
    assert run("elbv2_tls_policy_current", old) == (
        FAIL,
        "Application load balancer web (internet-facing) allows outdated TLS: HTTPS listener on port 443 uses "
        "ELBSecurityPolicy-2016-08, which is not an allowed policy",
    )
    tls11 = alb(type="network", listeners=[v2_listener("TLS", 443, "ELBSecurityPolicy-TLS13-1-1-2021-06")])
    assert status("elbv2_tls_policy_current", tls11) == FAIL
    fs = alb(listeners=[v2_listener("TLS", 443, "ELBSecurityPolicy-FS-1-2-Res-2020-10")])
    assert status("elbv2_tls_policy_current", fs) == PASS
    assert status("elbv2_tls_policy_current", alb(listeners=[v2_listener("HTTPS", 443)])) == ERROR
    assert (
        status("elbv2_tls_policy_current", alb(listeners=[v2_listener("HTTP", 80, "ELBSecurityPolicy-2016-08")]))
        is None
    )
    assert status("elbv2_tls_policy_current", alb(listeners=None, _errors={"listeners": "denied"})) == ERROR


@pytest.mark.parametrize(
    ("check_id", "key"),
    [
        ("elbv2_access_logs_enabled", "access_logs.s3.enabled"),
        ("elbv2_deletion_protection", "deletion_protection.enabled"),
        ("elbv2_alb_drop_invalid_headers", "routing.http.drop_invalid_header_fields.enabled"),
    ],
)
def test_v2_attributes(check_id: str, key: str) -> None:
    assert status(check_id, alb()) == PASS
    attributes = dict(alb().configuration["attributes"])
    attributes[key] = "false"
    assert status(check_id, alb(attributes=attributes)) == FAIL
    del attributes[key]
    result = run(check_id, alb(attributes=attributes))
    assert result is not None
    assert result[0] == FAIL
    assert f"{key} is absent, which AWS reads as false" in result[1]
    attributes[key] = "maybe"
    assert status(check_id, alb(attributes=attributes)) == ERROR
    assert status(check_id, alb(attributes=None, _errors={"attributes": DENIED})) == ERROR


def test_v2_attribute_applicability() -> None:
    assert status("elbv2_access_logs_enabled", alb(type="gateway")) is None
    assert status("elbv2_alb_drop_invalid_headers", alb(type="network")) is None
    assert status("elbv2_deletion_protection", alb(type="network")) == PASS


def test_v2_zones() -> None:
    assert status("elbv2_multi_az", alb()) == PASS
    assert run("elbv2_multi_az", alb(type="network", availability_zones=["us-east-1a"])) == (
        FAIL,
        "Network load balancer web (internet-facing) is in 1 availability zone(s) (us-east-1a); at least 2 are "
        "required",
    )
    assert status("elbv2_multi_az", alb(availability_zones=None, _errors={"availability_zones": "x"})) == ERROR


def target_group(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "name": "web",
        "protocol": "HTTP",
        "port": 80,
        "target_type": "instance",
        "vpc_id": "vpc-1",
        "load_balancer_arns": ["arn:lb"],
        "health_check": {"enabled": True, "protocol": "HTTP", "port": "traffic-port", "path": "/health"},
    }
    config.update(overrides)
    return snap(TARGET_GROUP, config)


def test_target_group_health_check() -> None:
    assert run("elbv2_target_group_health_check", target_group()) == (
        PASS,
        "Target group web checks its instance targets' health (HTTP traffic-port /health)",
    )
    disabled = target_group(target_type="lambda", health_check={"enabled": False})
    assert run("elbv2_target_group_health_check", disabled) == (
        FAIL,
        "Target group web (lambda targets) has health checks disabled",
    )
    assert status("elbv2_target_group_health_check", target_group(load_balancer_arns=[])) is None
    assert status("elbv2_target_group_health_check", target_group(health_check={"enabled": None})) == ERROR
    assert status("elbv2_target_group_health_check", target_group(health_check=None)) == ERROR
