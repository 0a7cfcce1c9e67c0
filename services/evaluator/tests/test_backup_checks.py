"""AWS Backup checks: vaults and plans, and the regional account context (plans, protected resources,
data stores) shaped as the backup collector's ``account_context`` builds it."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
REGION = "us-east-1"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/7777"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
DB = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:billing"
FS = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-1"


def make(resource_type: str, name: str, config: dict[str, Any], region: str = REGION) -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:backup:{region}:{ACCOUNT}:{name}",
        name=name,
        account_id=ACCOUNT,
        region=region,
        tags={},
        configuration=config,
    )


def vault(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "name": "primary",
        "vault_type": "BACKUP_VAULT",
        "encryption_key_arn": KEY,
        "encryption_key_type": "CUSTOMER_MANAGED_KMS_KEY",
        "locked": True,
        "min_retention_days": 7,
        "max_retention_days": 365,
        "lock_date": None,
        "recovery_points": 12,
        "key_manager": "CUSTOMER",
    }
    config.update(overrides)
    return make("AWS::Backup::BackupVault", "primary", config)


def rule(
    name: str = "daily", delete_after: int | None = 35, copies: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "target_vault": "primary",
        "schedule": "cron(0 5 * * ? *)",
        "delete_after_days": delete_after,
        "continuous": False,
        "copies": copies or [],
    }


def copy(region: str = "us-west-2", delete_after: int | None = 35) -> dict[str, Any]:
    return {
        "vault_arn": f"arn:aws:backup:{region}:{ACCOUNT}:backup-vault:dr",
        "region": region,
        "delete_after_days": delete_after,
    }


def plan(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {"name": "daily", "plan_id": "p-1", "version_id": "v1", "rules": [rule(copies=[copy()])]}
    config.update(overrides)
    return make("AWS::Backup::BackupPlan", "daily", config)


def plan_summary(
    name: str = "daily", rules: list[dict[str, Any]] | None = None, error: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "arn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-plan:{name}",
        "rules": rules if error is None else None,
        "error": error,
    }


STORES = [
    {"arn": DB, "type": "RDS instance", "name": "billing"},
    {"arn": TABLE, "type": "DynamoDB table", "name": "orders"},
    {"arn": FS, "type": "EFS file system", "name": "shared"},
]


def context(region: str = REGION, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "scope": "region" if region != "global" else "account",
        "backup_plans": [plan_summary(rules=[rule(copies=[copy()])])],
        "backup_protected_resources": [DB, FS, TABLE],
        "backup_data_stores": STORES,
    }
    config.update(overrides)
    name = ACCOUNT if region == "global" else f"{ACCOUNT} ({region})"
    return make("AWS::::Account", name, config, region)


def without(snap: Snapshot, field: str) -> Snapshot:
    config = dict(snap.configuration)
    del config[field]
    return make(snap.resource_type, snap.name, config, snap.region)


def run(check_id: str, snap: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snap: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snap, **params)
    return None if result is None else result[0]


ACCOUNT_CHECKS = ("backup_plan_exists", "backup_cross_region_copy", "backup_data_stores_covered")


@pytest.mark.parametrize(
    ("check_id", "severity", "resource_type", "service"),
    [
        ("backup_vault_encrypted_kms", Severity.MEDIUM, "AWS::Backup::BackupVault", "backup"),
        ("backup_vault_lock", Severity.LOW, "AWS::Backup::BackupVault", "backup"),
        ("backup_plan_retention_defined", Severity.LOW, "AWS::Backup::BackupPlan", "backup"),
        ("backup_plan_exists", Severity.MEDIUM, "AWS::::Account", "account"),
        ("backup_cross_region_copy", Severity.LOW, "AWS::::Account", "account"),
        ("backup_data_stores_covered", Severity.MEDIUM, "AWS::::Account", "account"),
    ],
)
def test_registered(check_id: str, severity: Severity, resource_type: str, service: str) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.severity, chk.resource_type, chk.service) == (severity, resource_type, service)
    assert "CLI: aws backup " in chk.remediation
    assert "Terraform:" in chk.remediation


# --- vaults --------------------------------------------------------------------------------------


def test_vault_encryption() -> None:
    assert run("backup_vault_encrypted_kms", vault()) == (
        PASS,
        f"Backup vault primary encrypts recovery points with KMS key {KEY}",
    )
    assert run(
        "backup_vault_encrypted_kms", vault(encryption_key_arn=None, encryption_key_type="AWS_OWNED_KMS_KEY")
    ) == (
        FAIL,
        "Backup vault primary reports no KMS key in the account (it uses an AWS owned key)",
    )
    assert status("backup_vault_encrypted_kms", vault(encryption_key_arn=None, encryption_key_type=None)) == FAIL
    assert status("backup_vault_encrypted_kms", without(vault(), "encryption_key_arn")) == ERROR
    listed = vault(encryption_key_arn=None, _errors={"encryption_key_arn": "AccessDenied on list_backup_vaults"})
    assert status("backup_vault_encrypted_kms", listed) == ERROR


def test_vault_customer_key_is_a_parameter() -> None:
    strict = {"require_customer_managed_key": True}
    assert status("backup_vault_encrypted_kms", vault(), **strict) == PASS
    assert run("backup_vault_encrypted_kms", vault(key_manager="AWS"), **strict) == (
        FAIL,
        f"Backup vault primary encrypts recovery points with an AWS managed key ({KEY}), not a customer managed one",
    )
    # Without the requirement an AWS managed key is fine.
    assert status("backup_vault_encrypted_kms", vault(key_manager="AWS")) == PASS
    unknown = vault(key_manager=None, _errors={"key_manager": "AccessDeniedException on describe_key: no"})
    assert status("backup_vault_encrypted_kms", unknown, **strict) == ERROR
    assert status("backup_vault_encrypted_kms", vault(key_manager=None), **strict) == ERROR


def test_vault_lock() -> None:
    assert run("backup_vault_lock", vault()) == (PASS, "Backup vault primary is locked (retention 7 to 365 days)")
    assert run("backup_vault_lock", vault(locked=False, min_retention_days=None, max_retention_days=None)) == (
        FAIL,
        "Backup vault primary has no vault lock; its recovery points can be deleted early",
    )
    assert status("backup_vault_lock", vault(locked=None)) == ERROR
    assert status("backup_vault_lock", without(vault(), "locked")) == ERROR


# --- plans ---------------------------------------------------------------------------------------


def test_plan_retention() -> None:
    assert run("backup_plan_retention_defined", plan()) == (
        PASS,
        "Every rule and copy of backup plan daily expires its recovery points",
    )
    forever = plan(rules=[rule(delete_after=None, copies=[copy(delete_after=None)])])
    assert run("backup_plan_retention_defined", forever) == (
        FAIL,
        "Backup plan daily: rule daily never expires; the copy of rule daily to us-west-2 never expires",
    )
    assert status("backup_plan_retention_defined", plan(), max_retention_days=30) == FAIL
    assert status("backup_plan_retention_defined", plan(), max_retention_days=35) == PASS
    assert status("backup_plan_retention_defined", plan(rules=[{**rule(), "delete_after_days": "35"}])) == FAIL
    assert run("backup_plan_retention_defined", plan(rules=[])) is None
    denied = plan(rules=None, _errors={"rules": "AccessDeniedException on get_backup_plan: no"})
    assert status("backup_plan_retention_defined", denied) == ERROR
    assert status("backup_plan_retention_defined", plan(rules="x")) == ERROR


# --- account context -----------------------------------------------------------------------------


@pytest.mark.parametrize("check_id", ACCOUNT_CHECKS)
def test_account_checks_pass_on_a_well_protected_region(check_id: str) -> None:
    assert status(check_id, context()) == PASS


@pytest.mark.parametrize("check_id", ACCOUNT_CHECKS)
def test_account_checks_skip_the_global_snapshot_and_empty_regions(check_id: str) -> None:
    assert run(check_id, context("global")) is None
    assert run(check_id, context(backup_plans=[], backup_protected_resources=[], backup_data_stores=[])) is None


@pytest.mark.parametrize("check_id", ACCOUNT_CHECKS)
def test_account_checks_error_when_their_facts_are_unknown(check_id: str) -> None:
    nothing = context(
        backup_plans=None,
        backup_protected_resources=None,
        backup_data_stores=None,
        _errors={
            "backup_plans": "AccessDeniedException on list_backup_plans: no",
            "backup_protected_resources": "AccessDeniedException on list_protected_resources: no",
            "backup_data_stores": "AccessDenied on describe_db_instances: no",
        },
    )
    result = run(check_id, nothing)
    assert result is not None
    assert result[0] == ERROR
    assert "AccessDenied" in result[1]


def test_plan_exists() -> None:
    assert run("backup_plan_exists", context()) == (PASS, f"{REGION} has backup plan(s) with rules: daily")
    assert run("backup_plan_exists", context(backup_plans=[])) == (
        FAIL,
        f"{REGION} holds 3 data store(s) but has no backup plan",
    )
    assert run("backup_plan_exists", context(backup_plans=[plan_summary(rules=[])])) == (
        FAIL,
        f"{REGION} holds 3 data store(s) but has 1 plan(s) without rules",
    )
    hidden = context(backup_plans=[plan_summary(error="AccessDeniedException on get_backup_plan: no")])
    assert status("backup_plan_exists", hidden) == ERROR
    # Whether plans are needed depends on the data stores: unknown stores and no plan is ERROR.
    unknown_stores = context(backup_plans=[], backup_data_stores=None, _errors={"backup_data_stores": "Throttling"})
    assert status("backup_plan_exists", unknown_stores) == ERROR
    assert status("backup_plan_exists", without(context(), "backup_plans")) == ERROR


def test_cross_region_copy() -> None:
    assert run("backup_cross_region_copy", context()) == (
        PASS,
        f"{REGION} copies backups to another region: daily/daily -> us-west-2",
    )
    same_region = context(backup_plans=[plan_summary(rules=[rule(copies=[copy(region=REGION)])])])
    assert run("backup_cross_region_copy", same_region) == (
        FAIL,
        f"No backup plan in {REGION} copies recovery points to another region (plans: daily)",
    )
    assert run("backup_cross_region_copy", context(backup_plans=[])) == (
        FAIL,
        f"No backup plan in {REGION} copies recovery points to another region (there is no backup plan)",
    )
    hidden = context(backup_plans=[plan_summary(error="AccessDeniedException on get_backup_plan: no")])
    assert status("backup_cross_region_copy", hidden) == ERROR


def test_data_stores_covered_names_each_uncovered_store() -> None:
    assert run("backup_data_stores_covered", context()) == (
        PASS,
        f"All 3 data store(s) in {REGION} have an AWS Backup recovery point",
    )
    assert run("backup_data_stores_covered", context(backup_protected_resources=[FS])) == (
        FAIL,
        f"2 of 3 data store(s) in {REGION} have no AWS Backup recovery point: RDS instance billing, "
        "DynamoDB table orders",
    )
    unknown = context(backup_protected_resources=None, _errors={"backup_protected_resources": "404 on list"})
    assert status("backup_data_stores_covered", unknown) == ERROR
    assert status("backup_data_stores_covered", without(context(), "backup_protected_resources")) == ERROR
    assert status("backup_data_stores_covered", context(backup_data_stores=[{"name": "no arn"}])) == ERROR
    assert status("backup_data_stores_covered", context(backup_protected_resources="all")) == ERROR
