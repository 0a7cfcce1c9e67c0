"""KMS key and Secrets Manager secret checks on configurations shaped as their collectors emit them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
NOW = "2024-06-30T00:00:00+00:00"
OWNER = {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}


def make(resource_type: str, name: str, config: dict[str, Any]) -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:test:us-east-1:{ACCOUNT}:{name}",
        name=name,
        account_id=ACCOUNT,
        region="us-east-1",
        tags={},
        configuration=config,
    )


def key(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "key_id": "1234abcd",
        "aliases": ["alias/app"],
        "description": "application data",
        "key_manager": "CUSTOMER",
        "key_state": "Enabled",
        "enabled": True,
        "key_spec": "SYMMETRIC_DEFAULT",
        "key_usage": "ENCRYPT_DECRYPT",
        "origin": "AWS_KMS",
        "multi_region": False,
        "created": "2023-01-01T00:00:00+00:00",
        "deletion_date": None,
        "rotation_supported": True,
        "rotation_enabled": True,
        "policy": {"Version": "2012-10-17", "Statement": [{**OWNER, "Action": "kms:*", "Resource": "*"}]},
    }
    config.update(overrides)
    return make("AWS::KMS::Key", "1234abcd", config)


def secret(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "name": "db/password",
        "rotation_enabled": True,
        "rotation_interval_days": 30,
        "rotation_schedule": None,
        "rotation_lambda_arn": "arn:aws:lambda:us-east-1:123456789012:function:rotate",
        "last_rotated": "2024-06-10T00:00:00+00:00",
        "last_changed": "2024-06-10T00:00:00+00:00",
        "created": "2023-01-01T00:00:00+00:00",
        "next_rotation": "2024-07-10T00:00:00+00:00",
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
        "owning_service": None,
        "key_manager": "CUSTOMER",
    }
    config.update(overrides)
    return make("AWS::SecretsManager::Secret", "db/password", config)


def without(snap: Snapshot, field: str) -> Snapshot:
    config = dict(snap.configuration)
    del config[field]
    return make(snap.resource_type, snap.name, config)


def run(check_id: str, snap: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snap: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snap, **params)
    return None if result is None else result[0]


@pytest.mark.parametrize(
    ("check_id", "severity", "resource_type", "service"),
    [
        ("kms_key_rotation_enabled", Severity.MEDIUM, "AWS::KMS::Key", "kms"),
        ("kms_key_policy_no_public_principal", Severity.HIGH, "AWS::KMS::Key", "kms"),
        ("kms_key_not_pending_deletion", Severity.LOW, "AWS::KMS::Key", "kms"),
        ("secretsmanager_secret_rotation_enabled", Severity.MEDIUM, "AWS::SecretsManager::Secret", "secretsmanager"),
        ("secretsmanager_secret_rotated_recently", Severity.MEDIUM, "AWS::SecretsManager::Secret", "secretsmanager"),
        ("secretsmanager_secret_customer_kms_key", Severity.LOW, "AWS::SecretsManager::Secret", "secretsmanager"),
    ],
)
def test_registered(check_id: str, severity: Severity, resource_type: str, service: str) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.severity, chk.resource_type, chk.service) == (severity, resource_type, service)
    assert "CLI: aws " in chk.remediation
    assert "Terraform:" in chk.remediation


# --- kms_key_rotation_enabled --------------------------------------------------------------------


def test_rotation_pass_fail_error() -> None:
    assert run("kms_key_rotation_enabled", key()) == (PASS, "KMS key 1234abcd rotates its key material automatically")
    assert run("kms_key_rotation_enabled", key(rotation_enabled=False)) == (
        FAIL,
        "KMS key 1234abcd (Enabled) has automatic rotation turned off",
    )
    denied = key(
        rotation_enabled=None, _errors={"rotation_enabled": "AccessDeniedException on get_key_rotation_status"}
    )
    assert status("kms_key_rotation_enabled", denied) == ERROR
    assert status("kms_key_rotation_enabled", key(rotation_enabled=None)) == ERROR
    assert status("kms_key_rotation_enabled", without(key(), "rotation_enabled")) == ERROR
    assert status("kms_key_rotation_enabled", without(key(), "rotation_supported")) == ERROR


def test_rotation_does_not_apply_to_keys_kms_cannot_rotate() -> None:
    assert run("kms_key_rotation_enabled", key(rotation_supported=False, rotation_enabled=None)) is None
    assert run("kms_key_rotation_enabled", key(key_state="PendingDeletion", rotation_enabled=None)) is None
    # A disabled key is still judged: re-enabling it would bring back unrotated material.
    assert status("kms_key_rotation_enabled", key(key_state="Disabled", rotation_enabled=False)) == FAIL


# --- kms_key_policy_no_public_principal ----------------------------------------------------------


def public_statement(**extra: Any) -> dict[str, Any]:
    return {"Sid": "Anyone", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt"], **extra}


def test_policy_pass_and_fail() -> None:
    assert run("kms_key_policy_no_public_principal", key()) == (
        PASS,
        "The policy of KMS key 1234abcd grants nothing to '*' without a condition",
    )
    open_policy = {"Statement": [{**OWNER, "Action": "kms:*"}, public_statement()]}
    assert run("kms_key_policy_no_public_principal", key(policy=open_policy)) == (
        FAIL,
        "The policy of KMS key 1234abcd allows any principal without a condition in: Anyone (kms:Decrypt)",
    )


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Effect": "Allow", "Principal": "*", "Action": "kms:*"}, FAIL),
        ({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"]}, "Action": "kms:*"}, FAIL),
        (public_statement(Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}}), PASS),
        (public_statement(Effect="Deny"), PASS),
        ({"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:*"}, PASS),
    ],
)
def test_policy_statement_shapes(statement: dict[str, Any], expected: Status) -> None:
    assert status("kms_key_policy_no_public_principal", key(policy={"Statement": statement})) == expected


def test_unreadable_policy_is_error() -> None:
    denied = key(policy=None, _errors={"policy": "AccessDeniedException on get_key_policy: no"})
    assert status("kms_key_policy_no_public_principal", denied) == ERROR
    assert status("kms_key_policy_no_public_principal", key(policy=None)) == ERROR
    assert status("kms_key_policy_no_public_principal", key(policy={"Statement": "oops"})) == ERROR
    assert status("kms_key_policy_no_public_principal", key(policy={"Statement": ["oops"]})) == ERROR
    assert status("kms_key_policy_no_public_principal", without(key(), "policy")) == ERROR


# --- kms_key_not_pending_deletion ----------------------------------------------------------------


def test_pending_deletion() -> None:
    assert run("kms_key_not_pending_deletion", key()) == (
        PASS,
        "KMS key 1234abcd is not scheduled for deletion (state Enabled)",
    )
    pending = key(key_state="PendingDeletion", deletion_date="2024-07-07T00:00:00+00:00")
    assert run("kms_key_not_pending_deletion", pending) == (
        FAIL,
        "KMS key 1234abcd is scheduled for deletion on 2024-07-07T00:00:00+00:00",
    )
    assert status("kms_key_not_pending_deletion", key(key_state=None)) == ERROR
    assert status("kms_key_not_pending_deletion", key(key_state=None, _errors={"key_state": "AccessDenied"})) == ERROR


# --- secrets -------------------------------------------------------------------------------------


def test_rotation_enabled() -> None:
    assert run("secretsmanager_secret_rotation_enabled", secret()) == (
        PASS,
        "Secret db/password rotates automatically every 30 day(s)",
    )
    assert run("secretsmanager_secret_rotation_enabled", secret(rotation_enabled=False)) == (
        FAIL,
        "Secret db/password has no automatic rotation",
    )
    assert status("secretsmanager_secret_rotation_enabled", secret(rotation_enabled=None)) == ERROR
    assert status("secretsmanager_secret_rotation_enabled", without(secret(), "rotation_enabled")) == ERROR


def test_rotated_recently() -> None:
    assert run("secretsmanager_secret_rotated_recently", secret(), now=NOW) == (
        PASS,
        "Secret db/password was last rotated 20 days ago (at most 90 allowed)",
    )
    assert run("secretsmanager_secret_rotated_recently", secret(last_rotated=None), now=NOW) == (
        FAIL,
        "Secret db/password has never been rotated; it was created 546 days ago, more than 90",
    )
    stale = secret(last_rotated="2024-01-01T00:00:00+00:00")
    assert status("secretsmanager_secret_rotated_recently", stale, now=NOW) == FAIL
    assert status("secretsmanager_secret_rotated_recently", stale, now=NOW, max_age_days=365) == PASS
    # Exactly the limit is still compliant.
    assert (
        status("secretsmanager_secret_rotated_recently", secret(last_rotated="2024-04-01T00:00:00+00:00"), now=NOW)
        == PASS
    )


def test_rotated_recently_errors() -> None:
    assert status("secretsmanager_secret_rotated_recently", secret(last_rotated=None, created=None), now=NOW) == ERROR
    assert status("secretsmanager_secret_rotated_recently", secret(last_rotated="yesterday"), now=NOW) == ERROR
    assert status("secretsmanager_secret_rotated_recently", secret(), now="not a date") == ERROR
    assert status("secretsmanager_secret_rotated_recently", without(secret(), "last_rotated"), now=NOW) == ERROR
    listed = secret(_errors={"last_rotated": "AccessDeniedException on list_secrets"})
    assert status("secretsmanager_secret_rotated_recently", listed, now=NOW) == ERROR


def test_customer_kms_key() -> None:
    assert run("secretsmanager_secret_customer_kms_key", secret()) == (
        PASS,
        "Secret db/password is encrypted with customer managed KMS key arn:aws:kms:us-east-1:123456789012:key/1234abcd",
    )
    assert run("secretsmanager_secret_customer_kms_key", secret(kms_key_id=None, key_manager="AWS")) == (
        FAIL,
        "Secret db/password is encrypted with the AWS managed aws/secretsmanager key",
    )
    assert status("secretsmanager_secret_customer_kms_key", secret(key_manager="AWS")) == FAIL
    unknown = secret(key_manager=None, _errors={"key_manager": "AccessDeniedException on describe_key: no"})
    assert status("secretsmanager_secret_customer_kms_key", unknown) == ERROR
    assert status("secretsmanager_secret_customer_kms_key", secret(key_manager=None)) == ERROR
    assert status("secretsmanager_secret_customer_kms_key", without(secret(), "key_manager")) == ERROR
