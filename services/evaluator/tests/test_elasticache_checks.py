"""ElastiCache replication group checks on configurations shaped as the elasticache collector emits them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
DENIED = "AccessDenied on describe_replication_groups: not authorized"


def group(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "replication_group_id": "sessions",
        "engine": "redis",
        "status": "available",
        "cache_node_type": "cache.r7g.large",
        "cluster_enabled": False,
        "member_clusters": ["sessions-001", "sessions-002"],
        "at_rest_encryption": True,
        "kms_key_id": None,
        "transit_encryption": True,
        "transit_encryption_mode": "required",
        "automatic_failover": "enabled",
        "multi_az": "enabled",
        "snapshot_retention_limit": 7,
        "auth_token_enabled": False,
        "user_group_ids": ["app-users"],
    }
    config.update(overrides)
    return Snapshot(
        resource_type="AWS::ElastiCache::ReplicationGroup",
        arn=f"arn:aws:elasticache:us-east-1:{ACCOUNT}:replicationgroup:sessions",
        name="sessions",
        account_id=ACCOUNT,
        region="us-east-1",
        tags={},
        configuration=config,
    )


def without(field: str) -> Snapshot:
    base = group()
    config = dict(base.configuration)
    del config[field]
    return Snapshot(
        resource_type=base.resource_type,
        arn=base.arn,
        name=base.name,
        account_id=base.account_id,
        region=base.region,
        tags=base.tags,
        configuration=config,
    )


def run(check_id: str, snap: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snap: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snap, **params)
    return None if result is None else result[0]


CASES = [
    (
        "elasticache_replication_group_encrypted_at_rest",
        {"at_rest_encryption": False},
        "ElastiCache replication group sessions stores its data and backups unencrypted",
    ),
    (
        "elasticache_replication_group_encrypted_in_transit",
        {"transit_encryption": False},
        "ElastiCache replication group sessions accepts unencrypted connections (TLS is off)",
    ),
    (
        "elasticache_replication_group_automatic_failover",
        {"automatic_failover": "disabled", "multi_az": "disabled"},
        "ElastiCache replication group sessions: automatic failover is disabled and Multi-AZ is disabled",
    ),
    (
        "elasticache_replication_group_backups",
        {"snapshot_retention_limit": 0},
        "ElastiCache replication group sessions takes no automatic backups",
    ),
    (
        "elasticache_replication_group_auth",
        {"auth_token_enabled": False, "user_group_ids": []},
        "ElastiCache replication group sessions has neither an AUTH token nor RBAC user groups",
    ),
]
FIELDS = {
    "elasticache_replication_group_encrypted_at_rest": "at_rest_encryption",
    "elasticache_replication_group_encrypted_in_transit": "transit_encryption",
    "elasticache_replication_group_automatic_failover": "automatic_failover",
    "elasticache_replication_group_backups": "snapshot_retention_limit",
    "elasticache_replication_group_auth": "auth_token_enabled",
}


@pytest.mark.parametrize(("check_id", "bad", "reason"), CASES, ids=[c[0] for c in CASES])
def test_pass_and_fail(check_id: str, bad: dict[str, Any], reason: str) -> None:
    assert status(check_id, group()) == PASS
    assert run(check_id, group(**bad)) == (FAIL, reason)


@pytest.mark.parametrize(("check_id", "field"), sorted(FIELDS.items()))
def test_unreadable_or_missing_is_error(check_id: str, field: str) -> None:
    result = run(check_id, group(**{field: None, "_errors": {field: DENIED}}))
    assert result is not None
    assert result[0] == ERROR
    assert "AccessDenied" in result[1]
    assert status(check_id, without(field)) == ERROR
    assert status(check_id, group(**{field: None})) == ERROR


@pytest.mark.parametrize(
    ("check_id", "severity"),
    [
        ("elasticache_replication_group_encrypted_at_rest", Severity.HIGH),
        ("elasticache_replication_group_encrypted_in_transit", Severity.MEDIUM),
        ("elasticache_replication_group_automatic_failover", Severity.MEDIUM),
        ("elasticache_replication_group_backups", Severity.MEDIUM),
        ("elasticache_replication_group_auth", Severity.LOW),
    ],
)
def test_registered(check_id: str, severity: Severity) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.severity, chk.resource_type, chk.service) == (
        severity,
        "AWS::ElastiCache::ReplicationGroup",
        "elasticache",
    )
    assert "CLI: aws elasticache " in chk.remediation
    assert "Terraform:" in chk.remediation


def test_preferred_tls_mode_still_fails() -> None:
    result = run("elasticache_replication_group_encrypted_in_transit", group(transit_encryption_mode="preferred"))
    assert result == (
        FAIL,
        "ElastiCache replication group sessions has TLS in preferred mode, so it still accepts unencrypted connections",
    )
    assert status("elasticache_replication_group_encrypted_in_transit", group(transit_encryption_mode=None)) == PASS


def test_failover_needs_both_settings() -> None:
    assert run("elasticache_replication_group_automatic_failover", group(multi_az="disabled")) == (
        FAIL,
        "ElastiCache replication group sessions: Multi-AZ is disabled",
    )
    assert status("elasticache_replication_group_automatic_failover", group(automatic_failover="enabling")) == FAIL
    assert status("elasticache_replication_group_automatic_failover", group(multi_az=None)) == ERROR


def test_backup_retention_parameter() -> None:
    assert run("elasticache_replication_group_backups", group()) == (
        PASS,
        "ElastiCache replication group sessions keeps automatic backups for 7 day(s)",
    )
    assert run("elasticache_replication_group_backups", group(), min_retention_days=14) == (
        FAIL,
        "ElastiCache replication group sessions keeps automatic backups for 7 day(s), fewer than the required 14",
    )
    assert status("elasticache_replication_group_backups", group(snapshot_retention_limit=-1)) == ERROR


def test_auth_token_alone_passes() -> None:
    assert run("elasticache_replication_group_auth", group(auth_token_enabled=True, user_group_ids=[])) == (
        PASS,
        "ElastiCache replication group sessions authenticates clients with an AUTH token",
    )
    assert status("elasticache_replication_group_auth", group(user_group_ids=None)) == ERROR
