"""Availability monitoring of public endpoints: Route 53 health checks or Synthetics canaries.

Reads the global ``AWS::::Account`` context snapshot, where the ``route53`` collector puts
``route53_health_checks``, ``synthetics_canaries`` (across the scanned regions) and
``public_endpoints`` (internet-facing load balancers and enabled CloudFront distributions).

The canary and endpoint lists may be partial: a region whose read failed is named in ``_errors``
while the other regions' items are kept. Partial lists are used only as positive facts (a running
canary that was seen exists; a public endpoint that was seen exists). Whenever the verdict would
depend on what could not be read, the check answers ERROR.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import ACCOUNT, guarded, mappings, needs, plural
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

HEALTH_CHECKS = "route53_health_checks"
CANARIES = "synthetics_canaries"
ENDPOINTS = "public_endpoints"


def _describe(endpoints: list[Mapping[str, Any]], limit: int = 5) -> str:
    names = [f"{e.get('kind')} {e.get('name')} ({e.get('region')})" for e in endpoints[:limit]]
    more = f" and {len(endpoints) - limit} more" if len(endpoints) > limit else ""
    return ", ".join(names) + more


@check(
    id="route53_health_checks_present",
    title="Public endpoints are watched by health checks or canaries",
    description=(
        "When the account has public endpoints (internet-facing load balancers or CloudFront distributions), "
        "at least one enabled Route 53 health check or running CloudWatch Synthetics canary exists, so an "
        "outage is noticed from outside rather than reported by customers. It does not match monitors to "
        "individual endpoints."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create a health check (or a canary) against each public entry point and alarm on it.\n"
        "CLI: aws route53 create-health-check --caller-reference $(date +%s) --health-check-config "
        "Type=HTTPS,FullyQualifiedDomainName=www.example.com,Port=443,ResourcePath=/health\n"
        'Terraform: resource aws_route53_health_check { fqdn = "www.example.com", port = 443, type = "HTTPS", '
        'resource_path = "/health", failure_threshold = 3, request_interval = 30 }'
    ),
    permissions=(
        "route53:ListHealthChecks",
        "synthetics:DescribeCanaries",
        "elasticloadbalancing:DescribeLoadBalancers",
        "cloudfront:ListDistributions",
    ),
)
@guarded
def route53_health_checks_present(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if snap.configuration.get("scope") != "account":
        return None
    monitors: list[str] = []
    blind: list[str] = []
    checks_unreadable = needs(snap, HEALTH_CHECKS)
    if checks_unreadable is None:
        live = [c for c in mappings(snap, HEALTH_CHECKS) if c.get("disabled") is not True]
        monitors += [f"health check {c.get('id')}" for c in live]
    else:
        blind.append(checks_unreadable.reason)
    if snap.configuration.get(CANARIES) is not None:
        running = [c for c in mappings(snap, CANARIES) if c.get("state") == "RUNNING"]
        monitors += [f"canary {c.get('name')} ({c.get('region')})" for c in running]
    if (canaries_unreadable := needs(snap, CANARIES)) is not None:
        blind.append(canaries_unreadable.reason)
    if monitors:
        shown = ", ".join(monitors[:5]) + (f" and {len(monitors) - 5} more" if len(monitors) > 5 else "")
        return passed(f"The account has {plural(len(monitors), 'availability monitor')}: {shown}", monitors=monitors)
    if blind:
        return errored("Whether any health check or canary exists is unknown: " + "; ".join(blind))
    endpoints = mappings(snap, ENDPOINTS) if snap.configuration.get(ENDPOINTS) else []
    if endpoints:
        return failed(
            f"The account has {plural(len(endpoints), 'public endpoint')} ({_describe(endpoints)}) but no enabled "
            "Route 53 health check and no running Synthetics canary",
            endpoints=[e.get("name") for e in endpoints],
        )
    if (err := needs(snap, ENDPOINTS)) is not None:
        return err
    return None
