"""Redshift cluster and EFS file system checks on configurations shaped as their collectors emit them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
DENIED = "AccessDenied on describe_logging_status: not authorized"


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


def cluster(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "identifier": "warehouse",
        "status": "available",
        "node_type": "ra3.xlplus",
        "encrypted": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/5555",
        "publicly_accessible": False,
        "automated_snapshot_retention_period": 7,
        "vpc_id": "vpc-0dw",
        "enhanced_vpc_routing": True,
        "parameter_group": "secure-ssl",
        "audit_logging": {"enabled": True, "destination_type": "s3", "bucket": "dw-audit", "log_exports": []},
        "require_ssl": "true",
    }
    config.update(overrides)
    return make("AWS::Redshift::Cluster", "warehouse", config)


def file_system(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "file_system_id": "fs-0123",
        "name": "shared",
        "life_cycle_state": "available",
        "encrypted": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/6666",
        "performance_mode": "generalPurpose",
        "throughput_mode": "elastic",
        "backup_policy": "ENABLED",
    }
    config.update(overrides)
    return make("AWS::EFS::FileSystem", "fs-0123", config)


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


CASES: list[tuple[str, Any, str, Any, str]] = [
    ("redshift_cluster_encrypted", cluster, "encrypted", False, "Redshift cluster warehouse is not encrypted"),
    (
        "redshift_cluster_not_public",
        cluster,
        "publicly_accessible",
        True,
        "Redshift cluster warehouse is publicly accessible",
    ),
    (
        "redshift_cluster_audit_logging",
        cluster,
        "audit_logging",
        {"enabled": False, "destination_type": None, "bucket": None, "log_exports": []},
        "Redshift cluster warehouse has audit logging disabled",
    ),
    (
        "redshift_cluster_require_ssl",
        cluster,
        "require_ssl",
        "false",
        "Redshift cluster warehouse accepts unencrypted connections (require_ssl=false in secure-ssl)",
    ),
    (
        "redshift_cluster_snapshot_retention",
        cluster,
        "automated_snapshot_retention_period",
        0,
        "Redshift cluster warehouse has automated snapshots turned off",
    ),
    (
        "efs_file_system_encrypted",
        file_system,
        "encrypted",
        False,
        "EFS file system fs-0123 (shared) is not encrypted at rest",
    ),
    (
        "efs_file_system_backup_policy",
        file_system,
        "backup_policy",
        "DISABLED",
        "EFS file system fs-0123 (shared) does not have automatic backups enabled (policy DISABLED)",
    ),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("check_id", "build", "field", "bad", "reason"), CASES, ids=IDS)
def test_pass_and_fail(check_id: str, build: Any, field: str, bad: Any, reason: str) -> None:
    assert status(check_id, build()) == PASS
    assert run(check_id, build(**{field: bad})) == (FAIL, reason)


@pytest.mark.parametrize(("check_id", "build", "field", "bad", "reason"), CASES, ids=IDS)
def test_unreadable_or_missing_is_error(check_id: str, build: Any, field: str, bad: Any, reason: str) -> None:
    result = run(check_id, build(**{field: None, "_errors": {field: DENIED}}))
    assert result is not None
    assert result[0] == ERROR
    assert "AccessDenied" in result[1]
    assert status(check_id, without(build(), field)) == ERROR


@pytest.mark.parametrize(
    ("check_id", "severity", "resource_type", "service", "cli"),
    [
        ("redshift_cluster_encrypted", Severity.HIGH, "AWS::Redshift::Cluster", "redshift", "aws redshift "),
        ("redshift_cluster_not_public", Severity.CRITICAL, "AWS::Redshift::Cluster", "redshift", "aws redshift "),
        ("redshift_cluster_audit_logging", Severity.MEDIUM, "AWS::Redshift::Cluster", "redshift", "aws redshift "),
        ("redshift_cluster_require_ssl", Severity.MEDIUM, "AWS::Redshift::Cluster", "redshift", "aws redshift "),
        ("redshift_cluster_snapshot_retention", Severity.MEDIUM, "AWS::Redshift::Cluster", "redshift", "aws redshift "),
        ("efs_file_system_encrypted", Severity.HIGH, "AWS::EFS::FileSystem", "efs", "aws efs "),
        ("efs_file_system_backup_policy", Severity.MEDIUM, "AWS::EFS::FileSystem", "efs", "aws efs "),
    ],
)
def test_registered(check_id: str, severity: Severity, resource_type: str, service: str, cli: str) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.severity, chk.resource_type, chk.service) == (severity, resource_type, service)
    assert f"CLI: {cli}" in chk.remediation
    assert "Terraform:" in chk.remediation


def test_redshift_flags_reported_as_none_are_errors() -> None:
    for check_id, field in (
        ("redshift_cluster_encrypted", "encrypted"),
        ("redshift_cluster_not_public", "publicly_accessible"),
        ("redshift_cluster_snapshot_retention", "automated_snapshot_retention_period"),
        ("redshift_cluster_audit_logging", "audit_logging"),
    ):
        assert status(check_id, cluster(**{field: None})) == ERROR, check_id


def test_require_ssl_variants() -> None:
    assert run("redshift_cluster_require_ssl", cluster()) == (
        PASS,
        "Redshift cluster warehouse requires TLS (require_ssl=true in secure-ssl)",
    )
    assert status("redshift_cluster_require_ssl", cluster(require_ssl="TRUE")) == PASS
    assert run("redshift_cluster_require_ssl", cluster(require_ssl=None)) == (
        FAIL,
        "Redshift cluster warehouse: parameter group secure-ssl does not set require_ssl",
    )
    assert status("redshift_cluster_require_ssl", cluster(parameter_group=None)) == ERROR
    assert status("redshift_cluster_require_ssl", without(cluster(), "parameter_group")) == ERROR


def test_snapshot_retention_parameter() -> None:
    assert run("redshift_cluster_snapshot_retention", cluster()) == (
        PASS,
        "Redshift cluster warehouse keeps automated snapshots for 7 day(s)",
    )
    assert status("redshift_cluster_snapshot_retention", cluster(), min_retention_days=35) == FAIL
    assert status("redshift_cluster_snapshot_retention", cluster(automated_snapshot_retention_period="7")) == ERROR


def test_audit_logging_names_its_destination() -> None:
    assert run("redshift_cluster_audit_logging", cluster()) == (
        PASS,
        "Redshift cluster warehouse writes audit logs to dw-audit",
    )


def test_efs_details() -> None:
    assert run("efs_file_system_encrypted", file_system()) == (
        PASS,
        "EFS file system fs-0123 (shared) is encrypted at rest with KMS key "
        "arn:aws:kms:us-east-1:123456789012:key/6666",
    )
    assert status("efs_file_system_encrypted", file_system(encrypted=None)) == ERROR
    assert status("efs_file_system_backup_policy", file_system(backup_policy="ENABLING")) == FAIL
    assert status("efs_file_system_backup_policy", file_system(backup_policy=None)) == ERROR
    assert run("efs_file_system_backup_policy", file_system(name=None)) == (
        PASS,
        "EFS file system fs-0123 has automatic backups enabled",
    )
