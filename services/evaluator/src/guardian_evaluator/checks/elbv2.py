"""Elastic Load Balancing v2 checks: listeners, TLS policies, attributes, zones, target group health.

Listeners arrive as ``{"arn", "protocol", "port", "ssl_policy", "default_actions"}``;
``http_listener_actions`` maps the port of each plain HTTP listener of an Application Load Balancer
to the actions of all its rules (``{"type", "redirect_protocol"}``); ``attributes`` is the load
balancer's attribute map, values as AWS gives them ('true' / 'false').

An attribute AWS leaves out of the answer is read as its AWS default, which for every attribute
judged here is 'false'; so a missing attribute can only make a check FAIL, never PASS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import (
    BadValue,
    guarded,
    mapping,
    mappings,
    matches_any,
    needs,
    strings,
)
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

SERVICE = "elbv2"
LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
SAFE_PLAIN_ACTIONS = frozenset({"fixed-response"})
KINDS = {"application": "Application", "network": "Network", "gateway": "Gateway"}

ACCESS_LOGS = "access_logs.s3.enabled"
DELETION_PROTECTION = "deletion_protection.enabled"
DROP_INVALID_HEADERS = "routing.http.drop_invalid_header_fields.enabled"


def _label(snap: Snapshot) -> str:
    kind = KINDS.get(str(snap.configuration.get("type")), "")
    scheme = snap.configuration.get("scheme")
    return f"{kind} load balancer {snap.name}".lstrip() + (f" ({scheme})" if scheme else "")


def _attribute(snap: Snapshot, key: str) -> tuple[bool, str]:
    """An on/off attribute and how it was known: the value given, or AWS's default when absent."""
    attributes = mapping(snap, "attributes")
    if key not in attributes:
        return False, f"{key} is absent, which AWS reads as false"
    value = str(attributes[key]).strip().lower()
    if value not in ("true", "false"):
        raise BadValue(f"The attribute {key} of {snap.name} is not true or false ({attributes[key]!r})")
    return value == "true", f"{key} is {value}"


def _is_https_redirect(action: Mapping[str, Any]) -> bool:
    return action.get("type") == "redirect" and str(action.get("redirect_protocol")).upper() == "HTTPS"


@check(
    id="elbv2_listeners_encrypted",
    title="Internet-facing Application Load Balancers serve only HTTPS",
    description=(
        "Every listener of an internet-facing Application Load Balancer uses HTTPS, or is a plain HTTP "
        "listener whose rules all redirect to HTTPS (or answer a fixed response). Network and Gateway Load "
        "Balancers are not judged: their TCP and UDP listeners may carry TLS end to end. Internal load "
        "balancers are judged only when include_internal is true."
    ),
    severity=Severity.HIGH,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Make the HTTP listener's default action a permanent redirect to HTTPS and remove rules that forward "
        "plain HTTP.\n"
        "CLI: aws elbv2 modify-listener --listener-arn LISTENER_ARN --default-actions "
        "'Type=redirect,RedirectConfig={Protocol=HTTPS,Port=443,StatusCode=HTTP_301}'\n"
        'Terraform: default_action { type = "redirect" redirect { protocol = "HTTPS" port = "443" '
        'status_code = "HTTP_301" } } in the aws_lb_listener on port 80'
    ),
    permissions=("elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules"),
    parameters={"include_internal": False},
)
@guarded
def elbv2_listeners_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "type", "scheme")) is not None:
        return err
    if snap.configuration["type"] != "application":
        return None
    scheme = snap.configuration["scheme"]
    if scheme not in ("internet-facing", "internal"):
        return errored(f"{_label(snap)} reports no usable scheme ({scheme!r})")
    if scheme == "internal" and not params.get("include_internal", False):
        return None
    if (err := needs(snap, "listeners", "http_listener_actions")) is not None:
        return err
    listeners = mappings(snap, "listeners")
    if not listeners:
        return None
    actions = mapping(snap, "http_listener_actions")
    offences: list[str] = []
    unknown: list[str] = []
    redirects: list[str] = []
    for listener in listeners:
        protocol, port = str(listener.get("protocol")).upper(), listener.get("port")
        if protocol == "HTTPS":
            continue
        if protocol != "HTTP":
            unknown.append(f"listener on port {port} has protocol {protocol}")
            continue
        rules = actions.get(str(port))
        if not isinstance(rules, list) or not rules:
            unknown.append(f"the rules of the HTTP listener on port {port} were not collected")
            continue
        plain = sorted(
            {str(a.get("type")) for a in rules if not _is_https_redirect(a) and a.get("type") not in SAFE_PLAIN_ACTIONS}
        )
        if plain:
            offences.append(f"the HTTP listener on port {port} has rules that {', '.join(plain)} without TLS")
        else:
            redirects.append(str(port))
    if offences:
        return failed(f"{_label(snap)} serves unencrypted HTTP: " + "; ".join(offences), offences=offences)
    if unknown:
        return errored(f"The listeners of {_label(snap)} cannot be judged: " + "; ".join(unknown))
    extra = f"; HTTP on port {', '.join(redirects)} only redirects to HTTPS" if redirects else ""
    return passed(f"{_label(snap)} serves content only over HTTPS{extra}", redirecting_ports=redirects)


@check(
    id="elbv2_tls_policy_current",
    title="Load balancer TLS listeners use a current security policy",
    description=(
        "Every HTTPS listener (Application Load Balancer) and TLS listener (Network Load Balancer) uses a "
        "security policy matching one of allowed_policies (shell-style patterns); the defaults admit only "
        "policies whose oldest protocol is TLS 1.2 or TLS 1.3."
    ),
    severity=Severity.MEDIUM,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Move each TLS listener to a TLS 1.2+ policy (test old clients first).\n"
        "CLI: aws elbv2 modify-listener --listener-arn LISTENER_ARN --ssl-policy ELBSecurityPolicy-TLS13-1-2-2021-06\n"
        'Terraform: ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06" in the aws_lb_listener'
    ),
    permissions=("elasticloadbalancing:DescribeListeners",),
    parameters={
        "allowed_policies": [
            "ELBSecurityPolicy-TLS13-1-2-*",
            "ELBSecurityPolicy-TLS13-1-3-*",
            "ELBSecurityPolicy-TLS-1-2-*",
            "ELBSecurityPolicy-FS-1-2-*",
        ]
    },
)
@guarded
def elbv2_tls_policy_current(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "listeners")) is not None:
        return err
    tls = [li for li in mappings(snap, "listeners") if str(li.get("protocol")).upper() in TLS_PROTOCOLS]
    if not tls:
        return None
    allowed = list(params.get("allowed_policies", []))
    offences, unknown, accepted = [], [], []
    for listener in tls:
        where = f"{listener.get('protocol')} listener on port {listener.get('port')}"
        policy = listener.get("ssl_policy")
        if not policy:
            unknown.append(f"{where} reports no security policy")
        elif matches_any(str(policy), allowed):
            accepted.append(f"{where} uses {policy}")
        else:
            offences.append(f"{where} uses {policy}, which is not an allowed policy")
    if offences:
        return failed(f"{_label(snap)} allows outdated TLS: " + "; ".join(offences), offences=offences)
    if unknown:
        return errored(f"The TLS policy of {_label(snap)} cannot be established: " + "; ".join(unknown))
    return passed(f"{_label(snap)} uses current TLS policies: " + "; ".join(accepted))


@check(
    id="elbv2_access_logs_enabled",
    title="Application and Network Load Balancers write access logs",
    description=(
        "Access logging to S3 is on, so requests (and TLS connections, for Network Load Balancers) are "
        "recorded with client, target, status and timing for investigations. Gateway Load Balancers, which "
        "have no access logs, are not judged."
    ),
    severity=Severity.MEDIUM,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Turn on access logs to an S3 bucket whose policy admits the Elastic Load Balancing log delivery.\n"
        "CLI: aws elbv2 modify-load-balancer-attributes --load-balancer-arn LB_ARN --attributes "
        "Key=access_logs.s3.enabled,Value=true Key=access_logs.s3.bucket,Value=BUCKET\n"
        "Terraform: access_logs { bucket = aws_s3_bucket.lb_logs.id, enabled = true } in the aws_lb"
    ),
    permissions=("elasticloadbalancing:DescribeLoadBalancerAttributes",),
)
@guarded
def elbv2_access_logs_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "type", "attributes")) is not None:
        return err
    if snap.configuration["type"] == "gateway":
        return None
    enabled, how = _attribute(snap, ACCESS_LOGS)
    if enabled:
        bucket = mapping(snap, "attributes").get("access_logs.s3.bucket")
        return passed(f"{_label(snap)} writes access logs" + (f" to {bucket}" if bucket else ""), bucket=bucket)
    return failed(f"{_label(snap)} has access logging off ({how})", attribute=ACCESS_LOGS)


@check(
    id="elbv2_deletion_protection",
    title="Load balancers have deletion protection",
    description=(
        "Deletion protection is on, so the load balancer (and the DNS name clients use) cannot be deleted "
        "by a mistaken command or template change without first turning the protection off."
    ),
    severity=Severity.MEDIUM,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Turn on deletion protection.\n"
        "CLI: aws elbv2 modify-load-balancer-attributes --load-balancer-arn LB_ARN --attributes "
        "Key=deletion_protection.enabled,Value=true\n"
        "Terraform: enable_deletion_protection = true in the aws_lb"
    ),
    permissions=("elasticloadbalancing:DescribeLoadBalancerAttributes",),
)
@guarded
def elbv2_deletion_protection(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "attributes")) is not None:
        return err
    enabled, how = _attribute(snap, DELETION_PROTECTION)
    if enabled:
        return passed(f"{_label(snap)} has deletion protection on")
    return failed(f"{_label(snap)} has deletion protection off ({how})", attribute=DELETION_PROTECTION)


@check(
    id="elbv2_multi_az",
    title="Load balancers span several availability zones",
    description=(
        "The load balancer has nodes in at least min_zones availability zones, so the loss of one zone does "
        "not take the entry point down."
    ),
    severity=Severity.MEDIUM,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Add a subnet in another availability zone.\n"
        "CLI: aws elbv2 set-subnets --load-balancer-arn LB_ARN --subnets SUBNET_A SUBNET_B\n"
        "Terraform: subnets = [aws_subnet.a.id, aws_subnet.b.id] in the aws_lb"
    ),
    permissions=("elasticloadbalancing:DescribeLoadBalancers",),
    parameters={"min_zones": 2},
)
@guarded
def elbv2_multi_az(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "availability_zones")) is not None:
        return err
    zones = strings(snap, "availability_zones")
    minimum = int(params.get("min_zones", 2))
    listed = ", ".join(zones) or "none"
    if len(zones) >= minimum:
        return passed(f"{_label(snap)} spans {len(zones)} availability zones ({listed})", zones=zones)
    return failed(
        f"{_label(snap)} is in {len(zones)} availability zone(s) ({listed}); at least {minimum} are required",
        zones=zones,
    )


@check(
    id="elbv2_alb_drop_invalid_headers",
    title="Application Load Balancers drop invalid HTTP headers",
    description=(
        "The Application Load Balancer removes HTTP headers with invalid names before forwarding requests, "
        "closing a path for request smuggling and header injection against the targets. Other load balancer "
        "types are not judged."
    ),
    severity=Severity.LOW,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Turn on dropping of invalid header fields.\n"
        "CLI: aws elbv2 modify-load-balancer-attributes --load-balancer-arn LB_ARN --attributes "
        "Key=routing.http.drop_invalid_header_fields.enabled,Value=true\n"
        "Terraform: drop_invalid_header_fields = true in the aws_lb"
    ),
    permissions=("elasticloadbalancing:DescribeLoadBalancerAttributes",),
)
@guarded
def elbv2_alb_drop_invalid_headers(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "type")) is not None:
        return err
    if snap.configuration["type"] != "application":
        return None
    if (err := needs(snap, "attributes")) is not None:
        return err
    enabled, how = _attribute(snap, DROP_INVALID_HEADERS)
    if enabled:
        return passed(f"{_label(snap)} drops HTTP headers with invalid names")
    return failed(f"{_label(snap)} forwards HTTP headers with invalid names ({how})", attribute=DROP_INVALID_HEADERS)


@check(
    id="elbv2_target_group_health_check",
    title="Target groups in use have health checks",
    description=(
        "Every target group attached to a load balancer has health checks enabled, so traffic stops going "
        "to targets that no longer answer. Target groups attached to no load balancer are not judged."
    ),
    severity=Severity.MEDIUM,
    resource_type=TARGET_GROUP,
    service=SERVICE,
    remediation=(
        "Enable health checks with a path or port that reflects the application's readiness.\n"
        "CLI: aws elbv2 modify-target-group --target-group-arn TG_ARN --health-check-enabled "
        "--health-check-path /health\n"
        'Terraform: health_check { enabled = true, path = "/health" } in the aws_lb_target_group'
    ),
    permissions=("elasticloadbalancing:DescribeTargetGroups",),
)
@guarded
def elbv2_target_group_health_check(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "load_balancer_arns", "health_check")) is not None:
        return err
    if not strings(snap, "load_balancer_arns"):
        return None
    health = mapping(snap, "health_check")
    enabled = health.get("enabled")
    kind = snap.configuration.get("target_type") or "unknown"
    if enabled is True:
        probe = " ".join(
            str(v) for v in (health.get("protocol"), health.get("port"), health.get("path")) if v not in (None, "")
        )
        return passed(
            f"Target group {snap.name} checks its {kind} targets' health ({probe})", health_check=dict(health)
        )
    if enabled is False:
        return failed(f"Target group {snap.name} ({kind} targets) has health checks disabled", enabled=False)
    return errored(f"Target group {snap.name} reports no usable health check setting ({enabled!r})")
