"""RDS checks on hand-built configurations shaped exactly as the RDS collector emits them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
DENIED = "AccessDenied on describe_db_instances: not authorized"


def instance(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "identifier": "orders-db",
        "engine": "postgres",
        "engine_version": "16.3",
        "instance_class": "db.t3.micro",
        "status": "available",
        "db_cluster_identifier": None,
        "storage_encrypted": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/2222",
        "publicly_accessible": False,
        "multi_az": True,
        "backup_retention_period": 7,
        "deletion_protection": True,
        "auto_minor_version_upgrade": True,
        "enabled_cloudwatch_logs_exports": ["postgresql"],
        "vpc_id": "vpc-0main",
        "iam_database_authentication": False,
        "ca_certificate_identifier": "rds-ca-rsa2048-g1",
    }
    config.update(overrides)
    return Snapshot(
        resource_type="AWS::RDS::DBInstance",
        arn=f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-db",
        name="orders-db",
        account_id=ACCOUNT,
        region="us-east-1",
        tags={"env": "prod"},
        configuration=config,
    )


def without(field: str) -> Snapshot:
    config = dict(instance().configuration)
    del config[field]
    return _snapshot(config)


def _snapshot(config: dict[str, Any]) -> Snapshot:
    base = instance()
    return Snapshot(
        resource_type=base.resource_type,
        arn=base.arn,
        name=base.name,
        account_id=base.account_id,
        region=base.region,
        tags=base.tags,
        configuration=config,
    )


def run(check_id: str, snapshot: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


# (check id, field it reads, value that passes, value that fails, words the failure reason carries)
FLAG_CHECKS = [
    ("rds_instance_storage_encrypted", "storage_encrypted", True, False, "does not encrypt its storage"),
    ("rds_instance_not_public", "publicly_accessible", False, True, "is publicly accessible"),
    ("rds_instance_multi_az", "multi_az", True, False, "runs in a single availability zone"),
    ("rds_instance_deletion_protection", "deletion_protection", True, False, "deletion protection disabled"),
    (
        "rds_instance_minor_version_upgrade",
        "auto_minor_version_upgrade",
        True,
        False,
        "automatic minor version upgrades disabled",
    ),
]
ALL_CHECKS = [
    *((c, f) for c, f, _, _, _ in FLAG_CHECKS),
    ("rds_instance_backups_enabled", "backup_retention_period"),
]


@pytest.mark.parametrize(
    ("check_id", "severity"),
    [
        ("rds_instance_storage_encrypted", Severity.HIGH),
        ("rds_instance_not_public", Severity.CRITICAL),
        ("rds_instance_multi_az", Severity.MEDIUM),
        ("rds_instance_backups_enabled", Severity.HIGH),
        ("rds_instance_deletion_protection", Severity.MEDIUM),
        ("rds_instance_minor_version_upgrade", Severity.LOW),
    ],
)
def test_registered(check_id: str, severity: Severity) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.resource_type, chk.service, chk.severity) == ("AWS::RDS::DBInstance", "rds", severity)
    assert chk.permissions == ("rds:DescribeDBInstances",)
    assert "aws rds " in chk.remediation


@pytest.mark.parametrize(("check_id", "field", "good", "bad", "words"), FLAG_CHECKS)
def test_flag_pass_and_fail(check_id: str, field: str, good: bool, bad: bool, words: str) -> None:
    passing = run(check_id, instance(**{field: good}))
    assert passing is not None
    assert passing[0] == Status.PASS
    assert "orders-db" in passing[1]
    failing = run(check_id, instance(**{field: bad}))
    assert failing is not None
    assert failing[0] == Status.FAIL
    assert words in failing[1]
    assert "orders-db" in failing[1]


@pytest.mark.parametrize(("check_id", "field"), ALL_CHECKS)
def test_unreadable_field_is_error(check_id: str, field: str) -> None:
    result = run(check_id, instance(**{field: None, "_errors": {field: DENIED}}))
    assert result is not None
    assert result[0] == Status.ERROR
    assert field in result[1]
    assert "AccessDenied" in result[1]


@pytest.mark.parametrize(("check_id", "field"), ALL_CHECKS)
def test_missing_key_is_error(check_id: str, field: str) -> None:
    result = run(check_id, without(field))
    assert result is not None
    assert result[0] == Status.ERROR
    assert field in result[1]


@pytest.mark.parametrize(("check_id", "field"), ALL_CHECKS)
def test_value_rds_did_not_report_is_error(check_id: str, field: str) -> None:
    result = run(check_id, instance(**{field: None}))
    assert result is not None
    assert result[0] == Status.ERROR


def test_encrypted_pass_names_the_key() -> None:
    result = run("rds_instance_storage_encrypted", instance())
    assert result is not None
    assert "key/2222" in result[1]


def test_cluster_member_failure_points_at_the_cluster() -> None:
    result = run("rds_instance_multi_az", instance(multi_az=False, db_cluster_identifier="orders-cluster"))
    assert result is not None
    assert result[0] == Status.FAIL
    assert "orders-cluster" in result[1]


def test_minor_upgrade_reason_names_the_engine() -> None:
    result = run("rds_instance_minor_version_upgrade", instance(auto_minor_version_upgrade=False))
    assert result is not None
    assert "postgres 16.3" in result[1]


# --- rds_instance_backups_enabled ----------------------------------------------------------


def test_backups_at_the_minimum_pass() -> None:
    result = run("rds_instance_backups_enabled", instance(backup_retention_period=7))
    assert result == (
        Status.PASS,
        "RDS instance orders-db keeps automated backups for 7 day(s) (at least 7 required)",
    )


def test_backups_disabled_fail() -> None:
    result = run("rds_instance_backups_enabled", instance(backup_retention_period=0))
    assert result == (
        Status.FAIL,
        "RDS instance orders-db has automated backups disabled (retention period 0 days)",
    )


def test_backups_too_short_fail() -> None:
    result = run("rds_instance_backups_enabled", instance(backup_retention_period=3))
    assert result == (
        Status.FAIL,
        "RDS instance orders-db keeps automated backups for 3 day(s), fewer than the required 7",
    )


def test_backups_minimum_is_a_parameter() -> None:
    snapshot = instance(backup_retention_period=7)
    result = run("rds_instance_backups_enabled", snapshot, min_retention_days=14)
    assert result is not None
    assert result[0] == Status.FAIL
    assert "fewer than the required 14" in result[1]
    relaxed = run("rds_instance_backups_enabled", instance(backup_retention_period=1), min_retention_days=1)
    assert relaxed is not None
    assert relaxed[0] == Status.PASS


def test_backups_non_numeric_is_error() -> None:
    result = run("rds_instance_backups_enabled", instance(backup_retention_period="7"))
    assert result is not None
    assert result[0] == Status.ERROR
    boolean = run("rds_instance_backups_enabled", instance(backup_retention_period=True))
    assert boolean is not None
    assert boolean[0] == Status.ERROR
