"""RDS cluster, snapshot, parameter group and log export checks on configurations shaped as the
``rdsextra`` and ``rds`` collectors emit them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
DENIED = "AccessDenied on describe_db_snapshot_attributes: not authorized"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR


def snapshot(resource_type: str, name: str, config: dict[str, Any]) -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:rds:us-east-1:{ACCOUNT}:x:{name}",
        name=name,
        account_id=ACCOUNT,
        region="us-east-1",
        tags={},
        configuration=config,
    )


def cluster(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "identifier": "orders",
        "engine": "aurora-mysql",
        "engine_version": "8.0.mysql_aurora.3.05.2",
        "engine_mode": "provisioned",
        "status": "available",
        "storage_encrypted": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1111",
        "deletion_protection": True,
        "backup_retention_period": 14,
        "multi_az": True,
        "availability_zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
        "members": [
            {"instance": "orders-1", "writer": True, "availability_zone": "us-east-1a"},
            {"instance": "orders-2", "writer": False, "availability_zone": "us-east-1b"},
        ],
        "member_availability_zones": ["us-east-1a", "us-east-1b"],
        "enabled_cloudwatch_logs_exports": ["audit", "error", "slowquery"],
        "iam_database_authentication": True,
        "publicly_accessible": False,
        "parameter_group": "orders-tls",
    }
    config.update(overrides)
    return snapshot("AWS::RDS::DBCluster", "orders", config)


def instance(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "identifier": "billing",
        "engine": "postgres",
        "db_cluster_identifier": None,
        "enabled_cloudwatch_logs_exports": ["postgresql", "upgrade"],
    }
    config.update(overrides)
    return snapshot("AWS::RDS::DBInstance", "billing", config)


def db_snapshot(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "identifier": "billing-before-migration",
        "instance_identifier": "billing",
        "engine": "postgres",
        "snapshot_type": "manual",
        "status": "available",
        "created": "2024-04-01T10:00:00+00:00",
        "encrypted": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/2222",
        "shared_with": [],
    }
    config.update(overrides)
    return snapshot("AWS::RDS::DBSnapshot", "billing-before-migration", config)


def cluster_snapshot(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "identifier": "orders-weekly",
        "cluster_identifier": "orders",
        "engine": "aurora-mysql",
        "snapshot_type": "manual",
        "storage_encrypted": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1111",
        "shared_with": [],
    }
    config.update(overrides)
    return snapshot("AWS::RDS::DBClusterSnapshot", "orders-weekly", config)


def parameter_group(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "name": "billing-tls",
        "engine": "postgres",
        "family": "postgres16",
        "attached_instances": ["billing"],
        "tls_parameters": {"rds.force_ssl": {"value": "1", "source": "user"}},
    }
    config.update(overrides)
    return snapshot("AWS::RDS::DBParameterGroup", "billing-tls", config)


def cluster_parameter_group(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "name": "orders-tls",
        "engine": "aurora-mysql",
        "family": "aurora-mysql8.0",
        "attached_clusters": ["orders"],
        "tls_parameters": {"require_secure_transport": {"value": "ON", "source": "user"}},
    }
    config.update(overrides)
    return snapshot("AWS::RDS::DBClusterParameterGroup", "orders-tls", config)


def without(snap: Snapshot, field: str) -> Snapshot:
    config = dict(snap.configuration)
    del config[field]
    return snapshot(snap.resource_type, snap.name, config)


def run(check_id: str, snap: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snap: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snap, **params)
    return None if result is None else result[0]


# (check id, builder, field the check reads, good value, bad value, words of the failure reason)
CASES: list[tuple[str, Any, str, Any, Any, str]] = [
    ("rds_cluster_storage_encrypted", cluster, "storage_encrypted", True, False, "does not encrypt its storage"),
    ("rds_cluster_deletion_protection", cluster, "deletion_protection", True, False, "deletion protection disabled"),
    ("rds_cluster_backup_retention", cluster, "backup_retention_period", 7, 3, "fewer than the required 7"),
    (
        "rds_cluster_multi_az",
        cluster,
        "member_availability_zones",
        ["us-east-1a", "us-east-1c"],
        ["us-east-1a"],
        "only in us-east-1a",
    ),
    (
        "rds_cluster_log_exports",
        cluster,
        "enabled_cloudwatch_logs_exports",
        ["audit", "slowquery"],
        ["error"],
        "does not export audit, slowquery logs",
    ),
    ("rds_cluster_iam_auth", cluster, "iam_database_authentication", True, False, "only database passwords work"),
    ("rds_instance_log_exports", instance, "enabled_cloudwatch_logs_exports", ["postgresql"], [], "exports no logs"),
    ("rds_snapshot_not_public", db_snapshot, "shared_with", ["210987654321"], ["all"], "is public"),
    ("rds_snapshot_encrypted", db_snapshot, "encrypted", True, False, "is not encrypted"),
    ("rds_cluster_snapshot_not_public", cluster_snapshot, "shared_with", [], ["all", "210987654321"], "is public"),
    ("rds_cluster_snapshot_encrypted", cluster_snapshot, "storage_encrypted", True, False, "is not encrypted"),
    (
        "rds_parameter_group_tls_enforced",
        parameter_group,
        "tls_parameters",
        {"rds.force_ssl": {"value": "1", "source": "system"}},
        {"rds.force_ssl": {"value": "0", "source": "engine-default"}},
        "sets rds.force_ssl=0",
    ),
    (
        "rds_cluster_parameter_group_tls_enforced",
        cluster_parameter_group,
        "tls_parameters",
        {"require_secure_transport": {"value": "1", "source": "user"}},
        {"require_secure_transport": {"value": "OFF", "source": "user"}},
        "accepts unencrypted connections",
    ),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("check_id", "build", "field", "good", "bad", "words"), CASES, ids=IDS)
def test_pass_and_fail(check_id: str, build: Any, field: str, good: Any, bad: Any, words: str) -> None:
    passing = run(check_id, build(**{field: good}))
    assert passing is not None
    assert passing[0] == PASS, passing
    failing = run(check_id, build(**{field: bad}))
    assert failing is not None
    assert failing[0] == FAIL, failing
    assert words in failing[1]


@pytest.mark.parametrize(("check_id", "build", "field", "good", "bad", "words"), CASES, ids=IDS)
def test_unreadable_field_is_error(check_id: str, build: Any, field: str, good: Any, bad: Any, words: str) -> None:
    result = run(check_id, build(**{field: None, "_errors": {field: DENIED}}))
    assert result is not None
    assert result[0] == ERROR
    assert "AccessDenied" in result[1]


@pytest.mark.parametrize(("check_id", "build", "field", "good", "bad", "words"), CASES, ids=IDS)
def test_missing_or_unusable_field_is_error(
    check_id: str, build: Any, field: str, good: Any, bad: Any, words: str
) -> None:
    assert status(check_id, without(build(), field)) == ERROR
    assert status(check_id, build(**{field: None})) == ERROR


@pytest.mark.parametrize(
    ("check_id", "severity", "resource_type", "service"),
    [
        ("rds_cluster_storage_encrypted", Severity.HIGH, "AWS::RDS::DBCluster", "rdsextra"),
        ("rds_cluster_deletion_protection", Severity.MEDIUM, "AWS::RDS::DBCluster", "rdsextra"),
        ("rds_cluster_backup_retention", Severity.HIGH, "AWS::RDS::DBCluster", "rdsextra"),
        ("rds_cluster_multi_az", Severity.MEDIUM, "AWS::RDS::DBCluster", "rdsextra"),
        ("rds_cluster_log_exports", Severity.MEDIUM, "AWS::RDS::DBCluster", "rdsextra"),
        ("rds_cluster_iam_auth", Severity.LOW, "AWS::RDS::DBCluster", "rdsextra"),
        ("rds_instance_log_exports", Severity.MEDIUM, "AWS::RDS::DBInstance", "rds"),
        ("rds_snapshot_not_public", Severity.CRITICAL, "AWS::RDS::DBSnapshot", "rdsextra"),
        ("rds_snapshot_encrypted", Severity.HIGH, "AWS::RDS::DBSnapshot", "rdsextra"),
        ("rds_cluster_snapshot_not_public", Severity.CRITICAL, "AWS::RDS::DBClusterSnapshot", "rdsextra"),
        ("rds_cluster_snapshot_encrypted", Severity.HIGH, "AWS::RDS::DBClusterSnapshot", "rdsextra"),
        ("rds_parameter_group_tls_enforced", Severity.MEDIUM, "AWS::RDS::DBParameterGroup", "rdsextra"),
        (
            "rds_cluster_parameter_group_tls_enforced",
            Severity.MEDIUM,
            "AWS::RDS::DBClusterParameterGroup",
            "rdsextra",
        ),
    ],
)
def test_registered(check_id: str, severity: Severity, resource_type: str, service: str) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.severity, chk.resource_type, chk.service) == (severity, resource_type, service)
    assert "CLI: aws rds " in chk.remediation
    assert "Terraform:" in chk.remediation


# --- clusters ------------------------------------------------------------------------------------


def test_backup_retention_reasons_and_parameter() -> None:
    assert run("rds_cluster_backup_retention", cluster(backup_retention_period=7)) == (
        PASS,
        "RDS cluster orders keeps automated backups for 7 day(s) (at least 7 required)",
    )
    assert status("rds_cluster_backup_retention", cluster(backup_retention_period=14), min_retention_days=30) == FAIL
    assert status("rds_cluster_backup_retention", cluster(backup_retention_period=1), min_retention_days=1) == PASS
    assert status("rds_cluster_backup_retention", cluster(backup_retention_period=True)) == ERROR
    assert status("rds_cluster_backup_retention", cluster(backup_retention_period="7")) == ERROR


def test_multi_az_counts_member_zones() -> None:
    assert run("rds_cluster_multi_az", cluster()) == (
        PASS,
        "RDS cluster orders has instances in 2 availability zones (us-east-1a, us-east-1b)",
    )
    empty = run("rds_cluster_multi_az", cluster(member_availability_zones=[]))
    assert empty is not None
    assert empty[0] == FAIL
    assert "it has no instances" in empty[1]
    assert status("rds_cluster_multi_az", cluster(), min_availability_zones=3) == FAIL


def test_cluster_log_exports_per_engine() -> None:
    postgres = cluster(engine="aurora-postgresql", enabled_cloudwatch_logs_exports=["postgresql"])
    assert status("rds_cluster_log_exports", postgres) == PASS
    assert status("rds_cluster_log_exports", cluster(engine="aurora-postgresql")) == FAIL
    # The legacy engine name of Aurora MySQL 5.6 follows the Aurora MySQL rule.
    assert (
        status("rds_cluster_log_exports", cluster(engine="aurora", enabled_cloudwatch_logs_exports=["audit"])) == FAIL
    )
    # Engines without a rule (Neptune-like names that slipped through) give no result.
    assert run("rds_cluster_log_exports", cluster(engine="neptune")) is None
    # The requirement is a parameter.
    relaxed = {"aurora-mysql": ["audit"]}
    assert (
        status("rds_cluster_log_exports", cluster(enabled_cloudwatch_logs_exports=["audit"]), required_exports=relaxed)
        == PASS
    )
    assert status("rds_cluster_log_exports", cluster(), required_exports=["audit"]) == ERROR
    assert status("rds_cluster_log_exports", without(cluster(), "engine")) == ERROR


def test_iam_auth_reason() -> None:
    assert run("rds_cluster_iam_auth", cluster()) == (PASS, "RDS cluster orders accepts IAM database authentication")


def test_storage_encrypted_pass_names_the_key() -> None:
    result = run("rds_cluster_storage_encrypted", cluster())
    assert result is not None
    assert "key/1111" in result[1]


# --- instance log exports -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "exports", "expected"),
    [
        ("postgres", ["postgresql"], PASS),
        ("mysql", ["audit", "error", "slowquery"], PASS),
        ("mysql", ["error", "slowquery"], FAIL),
        ("mariadb", ["audit", "error", "general", "slowquery"], PASS),
        ("sqlserver-se", ["agent", "error"], PASS),
        ("sqlserver-ex", ["error"], FAIL),
        ("oracle-ee", ["alert", "audit", "listener"], PASS),
        ("oracle-se2", ["listener"], FAIL),
        ("db2-se", [], None),
    ],
)
def test_instance_log_exports_per_engine(engine: str, exports: list[str], expected: Status | None) -> None:
    assert (
        status("rds_instance_log_exports", instance(engine=engine, enabled_cloudwatch_logs_exports=exports)) == expected
    )


def test_instance_log_exports_leaves_cluster_members_to_the_cluster() -> None:
    member = instance(engine="aurora-postgresql", db_cluster_identifier="orders", enabled_cloudwatch_logs_exports=[])
    assert run("rds_instance_log_exports", member) is None
    assert status("rds_instance_log_exports", without(instance(), "db_cluster_identifier")) == ERROR


def test_instance_log_exports_reason_names_what_is_missing() -> None:
    result = run("rds_instance_log_exports", instance(engine="mysql", enabled_cloudwatch_logs_exports=["error"]))
    assert result == (
        FAIL,
        "RDS instance billing (mysql) does not export audit, slowquery logs to CloudWatch Logs; it exports error",
    )


# --- snapshots -----------------------------------------------------------------------------------


def test_snapshot_sharing_reasons() -> None:
    assert run("rds_snapshot_not_public", db_snapshot()) == (
        PASS,
        "RDS snapshot billing-before-migration is not public and not shared with other accounts",
    )
    shared = run("rds_snapshot_not_public", db_snapshot(shared_with=["210987654321"]))
    assert shared == (
        PASS,
        "RDS snapshot billing-before-migration is not public; it is shared with account(s) 210987654321",
    )
    public = run("rds_cluster_snapshot_not_public", cluster_snapshot(shared_with=["all"]))
    assert public == (
        FAIL,
        "RDS cluster snapshot orders-weekly is public: its restore attribute lets any AWS account copy or restore it",
    )
    assert status("rds_snapshot_not_public", db_snapshot(shared_with="all")) == ERROR


# --- parameter groups -----------------------------------------------------------------------------


def test_tls_parameter_missing_or_unset_fails() -> None:
    absent = run("rds_parameter_group_tls_enforced", parameter_group(tls_parameters={}))
    assert absent == (
        FAIL,
        "DB parameter group billing-tls (used by billing) does not set rds.force_ssl, so postgres accepts "
        "unencrypted connections",
    )
    unset = run(
        "rds_parameter_group_tls_enforced",
        parameter_group(tls_parameters={"rds.force_ssl": {"value": None, "source": "engine-default"}}),
    )
    assert unset is not None
    assert unset[0] == FAIL
    assert "without a value" in unset[1]


@pytest.mark.parametrize(
    ("engine", "parameter", "value", "expected"),
    [
        ("mysql", "require_secure_transport", "ON", PASS),
        ("mysql", "require_secure_transport", "on", PASS),
        ("mariadb", "require_secure_transport", "1", PASS),
        ("mariadb", "require_secure_transport", "0", FAIL),
        ("sqlserver-ee", "rds.force_ssl", "1", PASS),
        ("sqlserver-web", "rds.force_ssl", "0", FAIL),
        ("postgres", "require_secure_transport", "ON", FAIL),
        ("oracle-ee", "rds.force_ssl", "1", None),
    ],
)
def test_tls_rule_per_engine(engine: str, parameter: str, value: str, expected: Status | None) -> None:
    group = parameter_group(engine=engine, tls_parameters={parameter: {"value": value, "source": "user"}})
    assert status("rds_parameter_group_tls_enforced", group) == expected


def test_cluster_tls_rule_and_parameters() -> None:
    assert run("rds_cluster_parameter_group_tls_enforced", cluster_parameter_group()) == (
        PASS,
        "DB cluster parameter group orders-tls (used by orders) sets require_secure_transport=ON, so clients must "
        "use TLS",
    )
    postgres = cluster_parameter_group(
        engine="aurora-postgresql", tls_parameters={"rds.force_ssl": {"value": "1", "source": "user"}}
    )
    assert status("rds_cluster_parameter_group_tls_enforced", postgres) == PASS
    stricter = {"aurora-mysql": {"parameter": "require_secure_transport", "values": ["1"]}}
    assert status("rds_cluster_parameter_group_tls_enforced", cluster_parameter_group(), rules=stricter) == FAIL
    assert status("rds_cluster_parameter_group_tls_enforced", cluster_parameter_group(), rules={"mysql": "x"}) is None
    broken = {"aurora-mysql": {"values": ["ON"]}}
    assert status("rds_cluster_parameter_group_tls_enforced", cluster_parameter_group(), rules=broken) == ERROR
    assert status("rds_cluster_parameter_group_tls_enforced", cluster_parameter_group(engine=None)) == ERROR
