"""Security Hub checks on each region's account context.

``securityhub``: ``{"enabled", "hub_arn", "standards": [{"arn", "status"}], "administrator"}``;
``securityhub_finding_routes``: EventBridge rules matching Security Hub findings (see ``_routes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import ACCOUNT, context_scope, needs
from guardian_evaluator.checks._routes import active_administrator, judge_routes
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed


def _hub(snap: Snapshot) -> Mapping[str, Any] | Verdict:
    if (err := needs(snap, "securityhub")) is not None:
        return err
    hub = snap.configuration["securityhub"]
    if not isinstance(hub, Mapping) or not isinstance(hub.get("enabled"), bool):
        return errored(f"The Security Hub data of {snap.region} is not usable ({hub!r})")
    return hub


@check(
    id="securityhub_enabled",
    title="Security Hub is enabled in each region",
    description=(
        "Security Hub is subscribed in every scanned region, so findings from GuardDuty, Inspector, Config and "
        "its own standard checks are gathered in one place."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Enable Security Hub in each region (or from the organisation's delegated administrator).\n"
        "CLI: aws securityhub enable-security-hub --enable-default-standards --region REGION\n"
        'Terraform: resource "aws_securityhub_account" "main" {}'
    ),
    permissions=("securityhub:DescribeHub",),
)
def securityhub_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    hub = _hub(snap)
    if isinstance(hub, Verdict):
        return hub
    if hub["enabled"]:
        return passed(f"Security Hub is enabled in {snap.region} ({hub.get('hub_arn')})", hub_arn=hub.get("hub_arn"))
    return failed(f"Security Hub is not enabled in {snap.region}")


@check(
    id="securityhub_standards_subscribed",
    title="Security Hub runs at least one security standard",
    description=(
        "Where Security Hub is enabled, at least one standard (AWS Foundational Security Best Practices, CIS, "
        "PCI DSS, NIST) is subscribed and READY, so the configuration is evaluated against it continuously."
    ),
    severity=Severity.LOW,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Subscribe to a standard in each region.\n"
        "CLI: aws securityhub batch-enable-standards --standards-subscription-requests "
        "StandardsArn=arn:aws:securityhub:REGION::standards/aws-foundational-security-best-practices/v/1.0.0\n"
        'Terraform: resource "aws_securityhub_standards_subscription" "fsbp" { standards_arn = '
        '"arn:aws:securityhub:REGION::standards/aws-foundational-security-best-practices/v/1.0.0" }'
    ),
    permissions=("securityhub:DescribeHub", "securityhub:GetEnabledStandards"),
)
def securityhub_standards_subscribed(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    hub = _hub(snap)
    if isinstance(hub, Verdict):
        return hub
    if not hub["enabled"]:
        return None  # securityhub_enabled reports the region
    standards = hub.get("standards")
    if not isinstance(standards, list):
        return errored(f"The Security Hub standards of {snap.region} were not read")
    ready = [str(s.get("arn")) for s in standards if isinstance(s, Mapping) and s.get("status") == "READY"]
    if ready:
        return passed(
            f"Security Hub in {snap.region} runs {len(ready)} standard(s): {', '.join(ready)}", standards=ready
        )
    if not standards:
        return failed(f"Security Hub in {snap.region} has no standard subscribed")
    states = ", ".join(f"{s.get('arn')} is {s.get('status')}" for s in standards if isinstance(s, Mapping))
    return failed(f"No Security Hub standard is ready in {snap.region}: {states}")


@check(
    id="securityhub_findings_routed",
    title="Security Hub findings are routed to responders",
    description=(
        "Where Security Hub is enabled, an enabled EventBridge rule matching Security Hub findings (source "
        "aws.securityhub) has a target, so new findings reach someone. Members of a delegated administrator "
        "pass only when the accept_administrator_routing parameter says routing is done there."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create a rule for imported Security Hub findings with a target that alerts the on-call team.\n"
        "CLI: aws events put-rule --name securityhub-findings --event-pattern "
        '\'{"source":["aws.securityhub"],"detail-type":["Security Hub Findings - Imported"]}\' && '
        "aws events put-targets --rule securityhub-findings --targets Id=sns,Arn=SNS_TOPIC_ARN\n"
        'Terraform: resource "aws_cloudwatch_event_rule" "securityhub" { name = "securityhub-findings", '
        'event_pattern = jsonencode({ source = ["aws.securityhub"], "detail-type" = ["Security Hub Findings - '
        'Imported"] }) } plus an aws_cloudwatch_event_target with arn = aws_sns_topic.security.arn'
    ),
    permissions=("securityhub:DescribeHub", "events:ListRules", "events:ListTargetsByRule"),
    parameters={"accept_administrator_routing": False},
)
def securityhub_findings_routed(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    hub = _hub(snap)
    if isinstance(hub, Verdict):
        return hub
    if not hub["enabled"]:
        return None
    if (err := needs(snap, "securityhub_finding_routes")) is not None:
        return err
    return judge_routes(
        snap,
        "Security Hub",
        snap.configuration["securityhub_finding_routes"],
        active_administrator(hub.get("administrator")),
        bool(params["accept_administrator_routing"]),
    )
