"""DynamoDB checks on tables (``AWS::DynamoDB::Table``): point-in-time recovery, KMS encryption
(a customer managed key for tables classified at the levels the company names) and deletion
protection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, mapping
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable

TABLE = "AWS::DynamoDB::Table"


@check(
    id="dynamodb_table_pitr_enabled",
    title="DynamoDB tables have point-in-time recovery",
    description=(
        "Every DynamoDB table has point-in-time recovery enabled, so it can be restored to any second of the "
        "recovery window after accidental writes or deletes."
    ),
    severity=Severity.MEDIUM,
    resource_type=TABLE,
    service="dynamodb",
    remediation=(
        "Enable point-in-time recovery on the table.\n"
        "CLI: aws dynamodb update-continuous-backups --table-name NAME "
        "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true\n"
        'Terraform: resource "aws_dynamodb_table" "t" { point_in_time_recovery { enabled = true } }'
    ),
    permissions=("dynamodb:DescribeContinuousBackups",),
)
def table_pitr_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    pitr = mapping(snap, "point_in_time_recovery")
    if isinstance(pitr, Verdict):
        return pitr
    status = pitr.get("status")
    if status == "ENABLED":
        days = pitr.get("recovery_period_days")
        window = f" with a {days}-day recovery window" if days else ""
        return passed(f"DynamoDB table {snap.name} has point-in-time recovery enabled{window}", status=status)
    if status == "DISABLED":
        return failed(f"DynamoDB table {snap.name} has point-in-time recovery disabled", status=status)
    return errored(f"DynamoDB did not report a usable point-in-time recovery status for {snap.name} ({status!r})")


@check(
    id="dynamodb_table_encrypted_kms",
    title="DynamoDB tables are encrypted with a KMS key",
    description=(
        "Every DynamoDB table is encrypted with a KMS key in the account (AWS managed or customer managed) rather "
        "than the AWS owned key, so key use is logged in CloudTrail and governed by a key policy. Tables whose "
        "classification tag names a level in customer_key_levels (default: restricted) must use a customer "
        "managed key."
    ),
    severity=Severity.MEDIUM,
    resource_type=TABLE,
    service="dynamodb",
    remediation=(
        "Switch the table's encryption to a KMS key (a customer managed one for restricted data).\n"
        "CLI: aws dynamodb update-table --table-name NAME "
        "--sse-specification Enabled=true,SSEType=KMS,KMSMasterKeyId=alias/restricted-data\n"
        'Terraform: resource "aws_dynamodb_table" "t" { server_side_encryption { enabled = true  '
        "kms_key_arn = aws_kms_key.data.arn } }"
    ),
    permissions=("dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "kms:DescribeKey"),
    parameters={"classification_tag_key": "data-classification", "customer_key_levels": ["restricted"]},
)
def table_encrypted_kms(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    sse = mapping(snap, "encryption")
    if isinstance(sse, Verdict):
        return sse
    key_type = sse.get("key_type")
    if key_type == "AWS_OWNED":
        return failed(
            f"DynamoDB table {snap.name} is encrypted only with the AWS owned key, not a KMS key in the account",
            key_type=key_type,
        )
    if key_type != "KMS":
        return errored(f"DynamoDB did not report a usable encryption type for {snap.name} ({key_type!r})")
    key = sse.get("kms_key_arn")
    if sse.get("key_manager") == "CUSTOMER":
        return passed(f"DynamoDB table {snap.name} is encrypted with customer managed KMS key {key}", kms_key_arn=key)
    tag_key = str(params.get("classification_tag_key", "data-classification"))
    levels = {str(level).lower() for level in params.get("customer_key_levels") or []}
    if levels:
        if (err := unreadable(snap, "tags")) is not None:
            return err
        level = str(snap.tags.get(tag_key, "")).lower()
        if level in levels:
            if (err := unreadable(snap, "encryption_key_manager")) is not None:
                return err
            return failed(
                f"DynamoDB table {snap.name} is classified {level} ({tag_key}) but is encrypted with an AWS managed "
                f"key ({key}), not a customer managed one",
                kms_key_arn=key,
                classification=level,
            )
    return passed(f"DynamoDB table {snap.name} is encrypted with KMS key {key}", kms_key_arn=key)


@check(
    id="dynamodb_table_deletion_protection",
    title="DynamoDB tables have deletion protection",
    description="Every DynamoDB table has deletion protection enabled, so it cannot be deleted by a single call.",
    severity=Severity.MEDIUM,
    resource_type=TABLE,
    service="dynamodb",
    remediation=(
        "Enable deletion protection on the table.\n"
        "CLI: aws dynamodb update-table --table-name NAME --deletion-protection-enabled\n"
        'Terraform: resource "aws_dynamodb_table" "t" { deletion_protection_enabled = true }'
    ),
    permissions=("dynamodb:DescribeTable",),
)
def table_deletion_protection(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "deletion_protection")
    if isinstance(value, Verdict):
        return value
    if value:
        return passed(f"DynamoDB table {snap.name} has deletion protection enabled", deletion_protection=True)
    return failed(f"DynamoDB table {snap.name} has deletion protection disabled", deletion_protection=False)
