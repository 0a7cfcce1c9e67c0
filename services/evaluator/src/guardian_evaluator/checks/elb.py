"""Classic Load Balancer checks: encrypted listeners, current TLS policies, access logs, zones.

Listeners arrive as ``{"protocol", "port", "instance_protocol", "instance_port", "certificate",
"policy_names"}``; ``ssl_policies`` maps each SSL negotiation policy of the load balancer to
``{"reference": predefined policy name or None, "protocols": [enabled protocols]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import (
    flag,
    guarded,
    mapping,
    mappings,
    matches_any,
    needs,
    strings,
)
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

SERVICE = "elb"
LOAD_BALANCER = "AWS::ElasticLoadBalancing::LoadBalancer"
TLS_PROTOCOLS = frozenset({"HTTPS", "SSL"})
WEB_PROTOCOLS = frozenset({"HTTP", "HTTPS", "SSL"})
OUTDATED_PROTOCOLS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})


def _label(snap: Snapshot) -> str:
    scheme = snap.configuration.get("scheme")
    return f"Classic load balancer {snap.name}" + (f" ({scheme})" if scheme else "")


@check(
    id="elb_listeners_encrypted",
    title="Internet-facing Classic Load Balancers accept only HTTPS or SSL",
    description=(
        "An internet-facing Classic Load Balancer has no plain HTTP listener: web traffic is encrypted "
        "between clients and the load balancer. TCP listeners are not judged, since they may pass TLS "
        "through to the instances; internal load balancers are judged only when include_internal is true."
    ),
    severity=Severity.HIGH,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Add an HTTPS listener with an ACM certificate and remove the HTTP one (a Classic Load Balancer "
        "cannot redirect; an Application Load Balancer can, which is the better migration).\n"
        "CLI: aws elb create-load-balancer-listeners --load-balancer-name NAME --listeners "
        "Protocol=HTTPS,LoadBalancerPort=443,InstanceProtocol=HTTP,InstancePort=80,SSLCertificateId=CERT_ARN "
        "&& aws elb delete-load-balancer-listeners --load-balancer-name NAME --load-balancer-ports 80\n"
        'Terraform: listener { lb_protocol = "https", lb_port = 443, instance_protocol = "http", '
        "instance_port = 80, ssl_certificate_id = aws_acm_certificate.site.arn } in the aws_elb, with no "
        '"http" listener'
    ),
    permissions=("elasticloadbalancing:DescribeLoadBalancers",),
    parameters={"include_internal": False},
)
@guarded
def elb_listeners_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "scheme", "listeners")) is not None:
        return err
    scheme = snap.configuration["scheme"]
    if scheme not in ("internet-facing", "internal"):
        return errored(f"{_label(snap)} reports no usable scheme ({scheme!r})")
    if scheme == "internal" and not params.get("include_internal", False):
        return None
    listeners = mappings(snap, "listeners")
    web = [li for li in listeners if str(li.get("protocol")).upper() in WEB_PROTOCOLS]
    if not web:
        return None
    plain = [li for li in web if str(li.get("protocol")).upper() == "HTTP"]
    if plain:
        ports = ", ".join(str(li.get("port")) for li in plain)
        return failed(
            f"{_label(snap)} accepts unencrypted HTTP on port {ports}", http_ports=[li.get("port") for li in plain]
        )
    ports = ", ".join(f"{li.get('protocol')} {li.get('port')}" for li in web)
    return passed(f"{_label(snap)} accepts web traffic only over TLS ({ports})")


@check(
    id="elb_tls_policy_current",
    title="Classic Load Balancers negotiate only current TLS versions",
    description=(
        "Every HTTPS or SSL listener of a Classic Load Balancer uses a predefined security policy named in "
        "allowed_policies (shell-style patterns), or a custom policy that enables no protocol older than "
        "TLS 1.2. SSLv3, TLS 1.0 and TLS 1.1 have known weaknesses and are no longer accepted by PCI DSS."
    ),
    severity=Severity.MEDIUM,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Create a policy referencing ELBSecurityPolicy-TLS-1-2-2017-01 and set it on each TLS listener.\n"
        "CLI: aws elb create-load-balancer-policy --load-balancer-name NAME --policy-name tls12 "
        "--policy-type-name SSLNegotiationPolicyType --policy-attributes "
        "AttributeName=Reference-Security-Policy,AttributeValue=ELBSecurityPolicy-TLS-1-2-2017-01 && "
        "aws elb set-load-balancer-policies-of-listener --load-balancer-name NAME --load-balancer-port 443 "
        "--policy-names tls12\n"
        'Terraform: resource aws_load_balancer_policy with policy_type_name = "SSLNegotiationPolicyType" '
        'and policy_attribute { name = "Reference-Security-Policy", value = "ELBSecurityPolicy-TLS-1-2-2017-01" '
        "}, attached with aws_load_balancer_listener_policy"
    ),
    permissions=("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerPolicies"),
    parameters={"allowed_policies": ["ELBSecurityPolicy-TLS-1-2-2017-01"]},
)
@guarded
def elb_tls_policy_current(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "listeners", "ssl_policies")) is not None:
        return err
    tls = [li for li in mappings(snap, "listeners") if str(li.get("protocol")).upper() in TLS_PROTOCOLS]
    if not tls:
        return None
    policies = mapping(snap, "ssl_policies")
    allowed = list(params.get("allowed_policies", []))
    offences: list[str] = []
    unknown: list[str] = []
    accepted: list[str] = []
    for listener in tls:
        where = f"{listener.get('protocol')} listener on port {listener.get('port')}"
        attached = [n for n in listener.get("policy_names") or [] if n in policies]
        if not attached:
            unknown.append(f"{where} has no SSL negotiation policy the load balancer describes")
            continue
        for name in attached:
            policy = policies[name]
            if not isinstance(policy, Mapping):
                unknown.append(f"{where}: policy {name} is not readable ({policy!r})")
                continue
            reference = policy.get("reference")
            protocols = [str(p) for p in policy.get("protocols") or []]
            if reference:
                if matches_any(str(reference), allowed):
                    accepted.append(f"{where} uses {reference}")
                else:
                    offences.append(f"{where} uses {reference}, which is not an allowed policy")
            elif not protocols:
                unknown.append(f"{where}: custom policy {name} lists no enabled protocol")
            elif old := sorted(set(protocols) & OUTDATED_PROTOCOLS):
                offences.append(f"{where} uses custom policy {name}, which enables {', '.join(old)}")
            else:
                accepted.append(f"{where} uses custom policy {name} ({', '.join(protocols)})")
    if offences:
        return failed(f"{_label(snap)} allows outdated TLS: " + "; ".join(offences), offences=offences)
    if unknown:
        return errored(f"The TLS policy of {_label(snap)} cannot be established: " + "; ".join(unknown))
    return passed(f"{_label(snap)} negotiates only current TLS: " + "; ".join(accepted))


@check(
    id="elb_access_logs_enabled",
    title="Classic Load Balancers write access logs",
    description=(
        "Access logging is on, so every request through the load balancer is recorded with client address, "
        "path, status and latency, for investigations and for spotting abuse."
    ),
    severity=Severity.MEDIUM,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Enable access logs to an S3 bucket whose policy lets Elastic Load Balancing write to it.\n"
        "CLI: aws elb modify-load-balancer-attributes --load-balancer-name NAME --load-balancer-attributes "
        '"{\\"AccessLog\\":{\\"Enabled\\":true,\\"S3BucketName\\":\\"BUCKET\\",\\"EmitInterval\\":5}}"\n'
        "Terraform: access_logs { bucket = aws_s3_bucket.lb_logs.id, enabled = true } in the aws_elb"
    ),
    permissions=("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes"),
)
@guarded
def elb_access_logs_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "access_log")) is not None:
        return err
    log = mapping(snap, "access_log")
    enabled = log.get("enabled")
    if enabled is True:
        return passed(f"{_label(snap)} writes access logs to {log.get('bucket') or 'S3'}", bucket=log.get("bucket"))
    if enabled is False:
        return failed(f"{_label(snap)} has access logging disabled", enabled=False)
    return errored(f"{_label(snap)} reports no usable access log setting ({enabled!r})")


@check(
    id="elb_multi_az_cross_zone",
    title="Classic Load Balancers span zones with cross-zone balancing",
    description=(
        "The load balancer is enabled in at least min_zones availability zones and balances across zones, "
        "so losing a zone, or most instances in one, does not take the service down."
    ),
    severity=Severity.MEDIUM,
    resource_type=LOAD_BALANCER,
    service=SERVICE,
    remediation=(
        "Attach subnets in a second zone and turn on cross-zone load balancing.\n"
        "CLI: aws elb attach-load-balancer-to-subnets --load-balancer-name NAME --subnets SUBNET_B && "
        "aws elb modify-load-balancer-attributes --load-balancer-name NAME --load-balancer-attributes "
        '"{\\"CrossZoneLoadBalancing\\":{\\"Enabled\\":true}}"\n'
        "Terraform: subnets = [aws_subnet.a.id, aws_subnet.b.id] and cross_zone_load_balancing = true in the aws_elb"
    ),
    permissions=("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes"),
    parameters={"min_zones": 2},
)
@guarded
def elb_multi_az_cross_zone(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "availability_zones", "cross_zone_load_balancing")) is not None:
        return err
    zones = strings(snap, "availability_zones")
    cross = flag(snap, "cross_zone_load_balancing", "Cross-zone load balancing")
    minimum = int(params.get("min_zones", 2))
    problems = []
    if len(zones) < minimum:
        problems.append(
            f"it is enabled in {len(zones)} availability zone(s) ({', '.join(zones) or 'none'}), fewer than {minimum}"
        )
    if not cross:
        problems.append("cross-zone load balancing is off")
    if problems:
        return failed(f"{_label(snap)}: " + " and ".join(problems), zones=zones, cross_zone=cross)
    return passed(
        f"{_label(snap)} spans {len(zones)} availability zones ({', '.join(zones)}) with cross-zone load balancing",
        zones=zones,
        cross_zone=True,
    )
