"""Checks on CloudWatch Logs log groups (``AWS::Logs::LogGroup``).

The logs collector's configuration: ``retention_in_days`` (``None`` when events never expire) and
``kms_key_id`` (``None`` when the group is encrypted with CloudWatch Logs' own keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

LOG_GROUP = "AWS::Logs::LogGroup"


@check(
    id="logs_log_group_retention",
    title="CloudWatch Logs log groups keep events long enough",
    description=(
        "The log group retains events for at least the required number of days (365 by default), or never "
        "expires them when that is allowed, so investigations and audits can look back over the period."
    ),
    severity=Severity.MEDIUM,
    resource_type=LOG_GROUP,
    service="logs",
    remediation=(
        "Set a retention period of at least a year on the log group.\n"
        "CLI: aws logs put-retention-policy --log-group-name LOG_GROUP --retention-in-days 365\n"
        'Terraform: resource "aws_cloudwatch_log_group" "app" { name = "LOG_GROUP", retention_in_days = 365 }'
    ),
    permissions=("logs:DescribeLogGroups",),
    parameters={"min_retention_days": 365, "allow_never_expire": True},
)
def logs_log_group_retention(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "retention_in_days")) is not None:
        return err
    days = snap.configuration["retention_in_days"]
    minimum = int(params["min_retention_days"])
    if days is None:
        if params["allow_never_expire"]:
            return passed(f"Log group {snap.name} never expires its events", retention_in_days=None)
        return failed(
            f"Log group {snap.name} never expires its events, and a retention of at least {minimum} days is required",
            retention_in_days=None,
        )
    if not isinstance(days, int) or isinstance(days, bool):
        return errored(f"The retention of log group {snap.name} is not a number of days ({days!r})")
    if days < minimum:
        return failed(
            f"Log group {snap.name} keeps events for {days} days, less than the required {minimum}",
            retention_in_days=days,
        )
    return passed(f"Log group {snap.name} keeps events for {days} days (at least {minimum})", retention_in_days=days)


@check(
    id="logs_log_group_kms_encryption",
    title="CloudWatch Logs log groups are encrypted with a KMS key",
    description=(
        "The log group encrypts its events with a customer-managed KMS key, so reading them also needs "
        "permission on the key, and access can be cut off by disabling it."
    ),
    severity=Severity.LOW,
    resource_type=LOG_GROUP,
    service="logs",
    remediation=(
        "Associate a KMS key (whose policy lets the logs service use it) with the log group.\n"
        "CLI: aws logs associate-kms-key --log-group-name LOG_GROUP --kms-key-id KEY_ARN\n"
        'Terraform: resource "aws_cloudwatch_log_group" "app" { name = "LOG_GROUP", kms_key_id = aws_kms_key.logs.arn }'
    ),
    permissions=("logs:DescribeLogGroups",),
)
def logs_log_group_kms_encryption(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "kms_key_id")) is not None:
        return err
    key = snap.configuration["kms_key_id"]
    if not key:
        return failed(f"Log group {snap.name} is not encrypted with a KMS key (it uses the service's own keys)")
    return passed(f"Log group {snap.name} is encrypted with KMS key {key}", kms_key_id=key)
