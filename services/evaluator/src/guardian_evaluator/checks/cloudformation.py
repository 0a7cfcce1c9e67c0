"""Checks on CloudFormation stacks (``AWS::CloudFormation::Stack``).

The cloudformation collector's configuration: ``drift_status`` (IN_SYNC, DRIFTED, NOT_CHECKED,
UNKNOWN), ``drift_last_checked`` (ISO date of the last drift detection or ``None``) and
``termination_protection``. Production stacks are recognised by tag (parameters).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import needs, now, parse_time
from guardian_evaluator.registry import Snapshot, Verdict, check, failed, passed

STACK = "AWS::CloudFormation::Stack"


@check(
    id="cloudformation_stack_drift_checked",
    title="CloudFormation stacks are checked for drift and in sync",
    description=(
        "Drift detection ran on the stack within max_days_since_check days (30 by default) and found it "
        "IN_SYNC, so the resources still match the reviewed template and nobody changed them by hand."
    ),
    severity=Severity.MEDIUM,
    resource_type=STACK,
    service="cloudformation",
    remediation=(
        "Run drift detection on a schedule and reconcile drifted resources through the template.\n"
        "CLI: aws cloudformation detect-stack-drift --stack-name STACK\n"
        'Terraform: resource "aws_config_config_rule" "drift" { name = "cloudformation-stack-drift-detection-check", '
        'source { owner = "AWS", source_identifier = "CLOUDFORMATION_STACK_DRIFT_DETECTION_CHECK" }, '
        "input_parameters = jsonencode({ cloudformationRoleArn = aws_iam_role.drift.arn }) }"
    ),
    permissions=("cloudformation:DescribeStacks",),
    parameters={"max_days_since_check": 30},
)
def cloudformation_stack_drift_checked(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "drift_status", "drift_last_checked")) is not None:
        return err
    status = str(snap.configuration["drift_status"])
    limit = int(params["max_days_since_check"])
    checked = parse_time(snap.configuration["drift_last_checked"])
    if status == "NOT_CHECKED" or checked is None:
        return failed(f"Stack {snap.name} has never been checked for drift", drift_status=status)
    age = (now() - checked).days
    if status != "IN_SYNC":
        return failed(
            f"Stack {snap.name} is {status} at its last drift check ({checked.date().isoformat()})",
            drift_status=status,
        )
    if now() - checked > timedelta(days=limit):
        return failed(
            f"Stack {snap.name} was last checked for drift {age} days ago, more than {limit}",
            drift_status=status,
            days_since_check=age,
        )
    return passed(
        f"Stack {snap.name} was IN_SYNC at its drift check {age} day(s) ago", drift_status=status, days_since_check=age
    )


def _is_production(tags: Mapping[str, str], params: Mapping[str, Any]) -> bool:
    keys = {str(k).lower() for k in params["production_tag_keys"]}
    values = {str(v).lower() for v in params["production_tag_values"]}
    return any(str(k).lower() in keys and str(v).lower() in values for k, v in tags.items())


@check(
    id="cloudformation_stack_termination_protection",
    title="Production CloudFormation stacks have termination protection",
    description=(
        "A stack tagged as production (production_tag_keys with one of production_tag_values) has termination "
        "protection on, so a mistaken delete-stack cannot remove production resources. Other stacks are not judged."
    ),
    severity=Severity.LOW,
    resource_type=STACK,
    service="cloudformation",
    remediation=(
        "Turn on termination protection for the production stack.\n"
        "CLI: aws cloudformation update-termination-protection --enable-termination-protection --stack-name STACK\n"
        "Terraform: aws_cloudformation_stack has no termination-protection argument, so run the command from "
        'resource "terraform_data" "protect" { triggers_replace = [aws_cloudformation_stack.app.id], provisioner '
        '"local-exec" { command = "aws cloudformation update-termination-protection --enable-termination-protection '
        '--stack-name ${aws_cloudformation_stack.app.name}" } }'
    ),
    permissions=("cloudformation:DescribeStacks",),
    parameters={
        "production_tag_keys": ["environment", "env", "stage"],
        "production_tag_values": ["prod", "production"],
    },
)
def cloudformation_stack_termination_protection(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if not _is_production(snap.tags, params):
        return None
    if (err := needs(snap, "termination_protection")) is not None:
        return err
    if snap.configuration["termination_protection"] is True:
        return passed(f"Production stack {snap.name} has termination protection on")
    return failed(f"Production stack {snap.name} can be deleted: termination protection is off")
