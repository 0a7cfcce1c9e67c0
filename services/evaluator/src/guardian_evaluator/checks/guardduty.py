"""GuardDuty checks on each region's account context.

``guardduty``: ``{"detectors": [{"id", "status", "administrator": {"account_id",
"relationship_status"} | None}]}``; ``guardduty_finding_routes``: EventBridge rules matching
GuardDuty findings (see ``_routes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import ACCOUNT, context_scope, needs
from guardian_evaluator.checks._routes import active_administrator, judge_routes
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed


def _detectors(snap: Snapshot) -> list[Mapping[str, Any]] | Verdict:
    if (err := needs(snap, "guardduty")) is not None:
        return err
    data = snap.configuration["guardduty"]
    if not isinstance(data, Mapping) or not isinstance(data.get("detectors"), list):
        return errored(f"The GuardDuty data of {snap.region} is not usable ({data!r})")
    return [d for d in data["detectors"] if isinstance(d, Mapping)]


def _enabled(detectors: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [d for d in detectors if str(d.get("status") or "").upper() == "ENABLED"]


@check(
    id="guardduty_enabled",
    title="GuardDuty is enabled in each region",
    description=(
        "Every scanned region has a GuardDuty detector in the ENABLED state, so threat detection watches "
        "CloudTrail, VPC flow and DNS activity there. Membership of a delegated administrator is reported, but "
        "a member's own detector must still be enabled for its region to be monitored."
    ),
    severity=Severity.HIGH,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create (or re-enable) a detector in each region, or enable the account from the delegated administrator.\n"
        "CLI: aws guardduty create-detector --enable --region REGION\n"
        'Terraform: resource "aws_guardduty_detector" "main" { enable = true }'
    ),
    permissions=("guardduty:ListDetectors", "guardduty:GetDetector", "guardduty:GetAdministratorAccount"),
)
def guardduty_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    detectors = _detectors(snap)
    if isinstance(detectors, Verdict):
        return detectors
    enabled = _enabled(detectors)
    if enabled:
        detector = enabled[0]
        admin = active_administrator(detector.get("administrator"))
        managed = f", managed by administrator account {admin['account_id']}" if admin else ""
        return passed(
            f"GuardDuty detector {detector.get('id')} is enabled in {snap.region}{managed}",
            detector=detector.get("id"),
            administrator=admin["account_id"] if admin else None,
        )
    if not detectors:
        return failed(f"GuardDuty has no detector in {snap.region}")
    states = ", ".join(f"{d.get('id')} is {d.get('status')}" for d in detectors)
    return failed(f"GuardDuty is not enabled in {snap.region}: detector {states}")


@check(
    id="guardduty_findings_routed",
    title="GuardDuty findings are routed to responders",
    description=(
        "Where GuardDuty is enabled, an enabled EventBridge rule matching GuardDuty findings (source "
        "aws.guardduty) has a target (an SNS topic, a Lambda function, an incident tool), so findings reach "
        "someone instead of waiting in the console. Members of a delegated administrator pass only when the "
        "accept_administrator_routing parameter says routing is done in the administrator account."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create a rule for GuardDuty findings with a target that pages or tickets the on-call team.\n"
        "CLI: aws events put-rule --name guardduty-findings --event-pattern "
        '\'{"source":["aws.guardduty"],"detail-type":["GuardDuty Finding"]}\' && aws events put-targets '
        "--rule guardduty-findings --targets Id=sns,Arn=SNS_TOPIC_ARN\n"
        'Terraform: resource "aws_cloudwatch_event_rule" "guardduty" { name = "guardduty-findings", '
        'event_pattern = jsonencode({ source = ["aws.guardduty"], "detail-type" = ["GuardDuty Finding"] }) } '
        "plus an aws_cloudwatch_event_target with arn = aws_sns_topic.security.arn"
    ),
    permissions=("guardduty:ListDetectors", "guardduty:GetDetector", "events:ListRules", "events:ListTargetsByRule"),
    parameters={"accept_administrator_routing": False},
)
def guardduty_findings_routed(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    detectors = _detectors(snap)
    if isinstance(detectors, Verdict):
        return detectors
    enabled = _enabled(detectors)
    if not enabled:
        return None  # nothing to route; guardduty_enabled reports the region
    if (err := needs(snap, "guardduty_finding_routes")) is not None:
        return err
    admin = next((a for d in enabled if (a := active_administrator(d.get("administrator")))), None)
    return judge_routes(
        snap,
        "GuardDuty",
        snap.configuration["guardduty_finding_routes"],
        admin,
        bool(params["accept_administrator_routing"]),
    )
