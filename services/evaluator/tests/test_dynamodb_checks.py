"""DynamoDB table checks on configurations shaped as the dynamodb collector emits them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
CUSTOMER_KEY = "arn:aws:kms:us-east-1:123456789012:key/3333"
AWS_KEY = "arn:aws:kms:us-east-1:123456789012:key/aws-dynamodb"
DENIED = "AccessDeniedException on describe_continuous_backups: not authorized"


def table(tags: dict[str, str] | None = None, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "table_name": "orders",
        "status": "ACTIVE",
        "billing_mode": "PAY_PER_REQUEST",
        "deletion_protection": True,
        "encryption": {"key_type": "KMS", "status": "ENABLED", "kms_key_arn": CUSTOMER_KEY, "key_manager": "CUSTOMER"},
        "point_in_time_recovery": {"status": "ENABLED", "recovery_period_days": 35},
    }
    config.update(overrides)
    return Snapshot(
        resource_type="AWS::DynamoDB::Table",
        arn=f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders",
        name="orders",
        account_id=ACCOUNT,
        region="us-east-1",
        tags=tags or {},
        configuration=config,
    )


def run(check_id: str, snap: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snap: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snap, **params)
    return None if result is None else result[0]


def aws_managed(**extra: Any) -> dict[str, Any]:
    return {"key_type": "KMS", "status": "ENABLED", "kms_key_arn": AWS_KEY, "key_manager": "AWS", **extra}


AWS_OWNED = {"key_type": "AWS_OWNED", "status": None, "kms_key_arn": None, "key_manager": "AWS"}


@pytest.mark.parametrize(
    ("check_id", "severity"),
    [
        ("dynamodb_table_pitr_enabled", Severity.MEDIUM),
        ("dynamodb_table_encrypted_kms", Severity.MEDIUM),
        ("dynamodb_table_deletion_protection", Severity.MEDIUM),
    ],
)
def test_registered(check_id: str, severity: Severity) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.severity, chk.resource_type, chk.service) == (severity, "AWS::DynamoDB::Table", "dynamodb")
    assert "CLI: aws dynamodb " in chk.remediation
    assert "Terraform:" in chk.remediation


# --- point-in-time recovery ----------------------------------------------------------------------


def test_pitr_pass_fail_error() -> None:
    assert run("dynamodb_table_pitr_enabled", table()) == (
        PASS,
        "DynamoDB table orders has point-in-time recovery enabled with a 35-day recovery window",
    )
    assert run("dynamodb_table_pitr_enabled", table(point_in_time_recovery={"status": "DISABLED"})) == (
        FAIL,
        "DynamoDB table orders has point-in-time recovery disabled",
    )
    unreadable = table(point_in_time_recovery=None, _errors={"point_in_time_recovery": DENIED})
    result = run("dynamodb_table_pitr_enabled", unreadable)
    assert result is not None
    assert result[0] == ERROR
    assert "AccessDeniedException" in result[1]
    assert status("dynamodb_table_pitr_enabled", table(point_in_time_recovery={"status": None})) == ERROR
    config = dict(table().configuration)
    del config["point_in_time_recovery"]
    assert status("dynamodb_table_pitr_enabled", _with(config)) == ERROR


def _with(config: dict[str, Any], tags: dict[str, str] | None = None) -> Snapshot:
    base = table(tags)
    return Snapshot(
        resource_type=base.resource_type,
        arn=base.arn,
        name=base.name,
        account_id=base.account_id,
        region=base.region,
        tags=base.tags,
        configuration=config,
    )


# --- encryption ----------------------------------------------------------------------------------


def test_customer_key_passes_whatever_the_classification() -> None:
    assert run("dynamodb_table_encrypted_kms", table({"data-classification": "restricted"})) == (
        PASS,
        f"DynamoDB table orders is encrypted with customer managed KMS key {CUSTOMER_KEY}",
    )


def test_aws_managed_key_passes_for_ordinary_data() -> None:
    assert run(
        "dynamodb_table_encrypted_kms", table({"data-classification": "internal"}, encryption=aws_managed())
    ) == (
        PASS,
        f"DynamoDB table orders is encrypted with KMS key {AWS_KEY}",
    )


def test_aws_owned_key_fails() -> None:
    assert run("dynamodb_table_encrypted_kms", table(encryption=AWS_OWNED)) == (
        FAIL,
        "DynamoDB table orders is encrypted only with the AWS owned key, not a KMS key in the account",
    )


def test_restricted_data_needs_a_customer_key() -> None:
    result = run("dynamodb_table_encrypted_kms", table({"data-classification": "Restricted"}, encryption=aws_managed()))
    assert result == (
        FAIL,
        f"DynamoDB table orders is classified restricted (data-classification) but is encrypted with an AWS managed "
        f"key ({AWS_KEY}), not a customer managed one",
    )
    # The tag key and the levels are parameters.
    custom = table({"sensitivity": "secret"}, encryption=aws_managed())
    assert status("dynamodb_table_encrypted_kms", custom) == PASS
    assert (
        status(
            "dynamodb_table_encrypted_kms", custom, classification_tag_key="sensitivity", customer_key_levels=["secret"]
        )
        == FAIL
    )
    assert (
        status(
            "dynamodb_table_encrypted_kms",
            table({"data-classification": "restricted"}, encryption=aws_managed()),
            customer_key_levels=[],
        )
        == PASS
    )


def test_unknowable_classification_or_key_is_error() -> None:
    no_tags = table(encryption=aws_managed(), _errors={"tags": "AccessDeniedException on list_tags_of_resource: no"})
    assert status("dynamodb_table_encrypted_kms", no_tags) == ERROR
    # Without a classification rule the tags do not matter.
    assert status("dynamodb_table_encrypted_kms", no_tags, customer_key_levels=[]) == PASS
    unknown_manager = table(
        {"data-classification": "restricted"},
        encryption=aws_managed(key_manager=None),
        _errors={"encryption_key_manager": "AccessDeniedException on describe_key: no"},
    )
    assert status("dynamodb_table_encrypted_kms", unknown_manager) == ERROR
    assert status("dynamodb_table_encrypted_kms", table(encryption=None, _errors={"encryption": DENIED})) == ERROR
    assert status("dynamodb_table_encrypted_kms", table(encryption={"key_type": None})) == ERROR
    config = dict(table().configuration)
    del config["encryption"]
    assert status("dynamodb_table_encrypted_kms", _with(config)) == ERROR


# --- deletion protection -------------------------------------------------------------------------


def test_deletion_protection_pass_fail_error() -> None:
    assert run("dynamodb_table_deletion_protection", table()) == (
        PASS,
        "DynamoDB table orders has deletion protection enabled",
    )
    assert run("dynamodb_table_deletion_protection", table(deletion_protection=False)) == (
        FAIL,
        "DynamoDB table orders has deletion protection disabled",
    )
    assert status("dynamodb_table_deletion_protection", table(deletion_protection=None)) == ERROR
    errored = table(
        deletion_protection=None, _errors={"deletion_protection": "AccessDeniedException on describe_table"}
    )
    assert status("dynamodb_table_deletion_protection", errored) == ERROR
