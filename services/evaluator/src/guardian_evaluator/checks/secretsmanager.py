"""Secrets Manager checks on secrets (``AWS::SecretsManager::Secret``): rotation configured, rotation
recent enough, and a customer managed KMS key.

The age check takes the current time from ``params["now"]`` when given (tests pin it), else the wall
clock in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, moment, need, now
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

SECRET = "AWS::SecretsManager::Secret"
LIST = ("secretsmanager:ListSecrets",)


@check(
    id="secretsmanager_secret_rotation_enabled",
    title="Secrets rotate automatically",
    description=(
        "Every Secrets Manager secret has automatic rotation configured, so the credential it holds is replaced "
        "on a schedule without anyone handling it."
    ),
    severity=Severity.MEDIUM,
    resource_type=SECRET,
    service="secretsmanager",
    remediation=(
        "Configure rotation with a rotation function (or managed rotation for RDS and Redshift secrets).\n"
        "CLI: aws secretsmanager rotate-secret --secret-id NAME --rotation-lambda-arn FUNCTION_ARN "
        "--rotation-rules AutomaticallyAfterDays=30\n"
        'Terraform: resource "aws_secretsmanager_secret_rotation" "s" { secret_id = aws_secretsmanager_secret.s.id  '
        "rotation_lambda_arn = aws_lambda_function.rotate.arn  rotation_rules { automatically_after_days = 30 } }"
    ),
    permissions=LIST,
)
def secret_rotation_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "rotation_enabled")
    if isinstance(value, Verdict):
        return value
    if value:
        days = snap.configuration.get("rotation_interval_days")
        schedule = snap.configuration.get("rotation_schedule")
        every = f" every {days} day(s)" if days else (f" on schedule {schedule}" if schedule else "")
        return passed(f"Secret {snap.name} rotates automatically{every}")
    return failed(f"Secret {snap.name} has no automatic rotation")


@check(
    id="secretsmanager_secret_rotated_recently",
    title="Secrets were rotated recently",
    description=(
        "Every Secrets Manager secret was rotated within the maximum age (default 90 days); a secret never "
        "rotated counts from its creation date. Rotation that is configured but failing shows up here."
    ),
    severity=Severity.MEDIUM,
    resource_type=SECRET,
    service="secretsmanager",
    remediation=(
        "Rotate the secret now and find out why scheduled rotation did not run (the rotation function's logs).\n"
        "CLI: aws secretsmanager rotate-secret --secret-id NAME\n"
        'Terraform: resource "aws_secretsmanager_secret_rotation" "s" { rotation_rules { '
        "automatically_after_days = 30 } }"
    ),
    permissions=LIST,
    parameters={"max_age_days": 90},
)
def secret_rotated_recently(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "last_rotated", "created")) is not None:
        return err
    current = now(params)
    if current is None:
        return errored(f"The now parameter is not a date: {params.get('now')!r}")
    limit = int(params.get("max_age_days", 90))
    rotated = snap.configuration["last_rotated"]
    since = moment(rotated) if rotated is not None else moment(snap.configuration["created"])
    if since is None:
        return errored(
            f"Secrets Manager reported no usable rotation or creation date for secret {snap.name} "
            f"(last rotated {rotated!r}, created {snap.configuration['created']!r})"
        )
    age = (current - since).days
    what = "was last rotated" if rotated is not None else "has never been rotated; it was created"
    evidence = {"age_days": age, "max_age_days": limit, "since": since.isoformat()}
    if age > limit:
        return failed(f"Secret {snap.name} {what} {age} days ago, more than {limit}", **evidence)
    return passed(f"Secret {snap.name} {what} {age} days ago (at most {limit} allowed)", **evidence)


@check(
    id="secretsmanager_secret_customer_kms_key",
    title="Secrets are encrypted with a customer managed KMS key",
    description=(
        "Every Secrets Manager secret is encrypted with a customer managed KMS key rather than the AWS managed "
        "aws/secretsmanager key, so the company's key policy decides who can decrypt it and the secret can be "
        "shared across accounts only deliberately."
    ),
    severity=Severity.LOW,
    resource_type=SECRET,
    service="secretsmanager",
    remediation=(
        "Re-encrypt the secret under a customer managed key.\n"
        "CLI: aws secretsmanager update-secret --secret-id NAME --kms-key-id alias/app-secrets\n"
        'Terraform: resource "aws_secretsmanager_secret" "s" { kms_key_id = aws_kms_key.secrets.arn }'
    ),
    permissions=("secretsmanager:ListSecrets", "kms:DescribeKey"),
)
def secret_customer_kms_key(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "key_manager", "kms_key_id")) is not None:
        return err
    manager = snap.configuration["key_manager"]
    key = snap.configuration["kms_key_id"]
    if manager == "CUSTOMER":
        return passed(f"Secret {snap.name} is encrypted with customer managed KMS key {key}", kms_key_id=key)
    if manager == "AWS":
        which = f"AWS managed key {key}" if key else "the AWS managed aws/secretsmanager key"
        return failed(f"Secret {snap.name} is encrypted with {which}", kms_key_id=key)
    return errored(f"KMS did not report who manages the key of secret {snap.name} ({manager!r})")
