"""AWS Backup checks: vaults (``AWS::Backup::BackupVault``) encrypted with a KMS key and locked, and,
from each region's ``AWS::::Account`` context snapshot, whether a backup plan exists, whether some
plan copies backups to another region, and which data stores have no recovery point at all.

The regional checks return no result on the account-wide (global) snapshot, and none in a region
that holds no data stores: there is nothing to back up there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, listing, need
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable

VAULT = "AWS::Backup::BackupVault"
PLAN = "AWS::Backup::BackupPlan"
ACCOUNT = "AWS::::Account"
PLANS = "backup_plans"
PROTECTED = "backup_protected_resources"
DATA_STORES = "backup_data_stores"
PLAN_PERMISSIONS = ("backup:ListBackupPlans", "backup:GetBackupPlan")
STORE_PERMISSIONS = (
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusters",
    "dynamodb:ListTables",
    "elasticfilesystem:DescribeFileSystems",
)


# -- vaults ---------------------------------------------------------------------------------------


@check(
    id="backup_vault_encrypted_kms",
    title="Backup vaults encrypt recovery points with a KMS key",
    description=(
        "Every AWS Backup vault encrypts its recovery points with a KMS key in the account (and, when "
        "require_customer_managed_key is set, a customer managed one), so decrypting a backup is governed by "
        "a key policy the company controls and is logged."
    ),
    severity=Severity.MEDIUM,
    resource_type=VAULT,
    service="backup",
    remediation=(
        "A vault's key is fixed at creation: create a vault with the right key, point the backup plans at it, "
        "and let the old vault's recovery points expire.\n"
        "CLI: aws backup create-backup-vault --backup-vault-name NAME --encryption-key-arn KEY_ARN\n"
        'Terraform: resource "aws_backup_vault" "v" { name = "NAME"  kms_key_arn = aws_kms_key.backup.arn }'
    ),
    permissions=("backup:ListBackupVaults", "kms:DescribeKey"),
    parameters={"require_customer_managed_key": False},
)
def vault_encrypted_kms(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "encryption_key_arn")) is not None:
        return err
    key = snap.configuration["encryption_key_arn"]
    key_type = snap.configuration.get("encryption_key_type")
    if not key:
        owned = " (it uses an AWS owned key)" if key_type == "AWS_OWNED_KMS_KEY" else ""
        return failed(
            f"Backup vault {snap.name} reports no KMS key in the account{owned}", encryption_key_type=key_type
        )
    if not params.get("require_customer_managed_key", False):
        return passed(f"Backup vault {snap.name} encrypts recovery points with KMS key {key}", encryption_key_arn=key)
    if (err := need(snap, "key_manager")) is not None:
        return err
    manager = snap.configuration["key_manager"]
    if manager == "CUSTOMER":
        return passed(
            f"Backup vault {snap.name} encrypts recovery points with customer managed KMS key {key}",
            encryption_key_arn=key,
        )
    if manager == "AWS":
        return failed(
            f"Backup vault {snap.name} encrypts recovery points with an AWS managed key ({key}), not a customer "
            "managed one",
            encryption_key_arn=key,
        )
    return errored(f"KMS did not report who manages the key of backup vault {snap.name} ({manager!r})")


@check(
    id="backup_vault_lock",
    title="Backup vaults are locked",
    description=(
        "Every AWS Backup vault has a vault lock, so recovery points cannot be deleted before their retention "
        "ends, even by an administrator or by ransomware using stolen credentials."
    ),
    severity=Severity.LOW,
    resource_type=VAULT,
    service="backup",
    remediation=(
        "Add a vault lock with minimum and maximum retention (with a grace period before it becomes "
        "immutable in compliance mode).\n"
        "CLI: aws backup put-backup-vault-lock-configuration --backup-vault-name NAME --min-retention-days 7 "
        "--max-retention-days 365\n"
        'Terraform: resource "aws_backup_vault_lock_configuration" "v" { backup_vault_name = aws_backup_vault.v.name  '
        "min_retention_days = 7  max_retention_days = 365 }"
    ),
    permissions=("backup:ListBackupVaults",),
)
def vault_lock(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    locked = flag(snap, "locked")
    if isinstance(locked, Verdict):
        return locked
    if locked:
        low = snap.configuration.get("min_retention_days")
        high = snap.configuration.get("max_retention_days")
        bounds = f" (retention {low or '?'} to {high or '?'} days)" if low or high else ""
        return passed(f"Backup vault {snap.name} is locked{bounds}", locked=True)
    return failed(f"Backup vault {snap.name} has no vault lock; its recovery points can be deleted early", locked=False)


# -- plans ----------------------------------------------------------------------------------------


def expiry_problem(days: Any, maximum: int | None) -> str | None:
    """Why a lifecycle's DeleteAfterDays breaks the retention rule, or ``None`` if it does not."""
    if days is None:
        return "never expires"
    if isinstance(days, bool) or not isinstance(days, int):
        return f"has an unreadable expiry ({days!r})"
    if maximum is not None and days > maximum:
        return f"expires after {days} days, more than {maximum}"
    return None


@check(
    id="backup_plan_retention_defined",
    title="Backup plan rules expire their recovery points",
    description=(
        "Every rule of an AWS Backup plan, and every copy it makes, deletes its recovery points after a fixed "
        "number of days (at most max_retention_days when that is set), so backup copies of confidential and "
        "personal data are disposed of on the retention schedule instead of being kept forever."
    ),
    severity=Severity.LOW,
    resource_type=PLAN,
    service="backup",
    remediation=(
        "Give each rule and copy action a lifecycle with DeleteAfterDays matching the retention schedule.\n"
        "CLI: aws backup update-backup-plan --backup-plan-id PLAN_ID --backup-plan file://plan.json "
        '(each rule: "Lifecycle":{"DeleteAfterDays":35})\n'
        'Terraform: resource "aws_backup_plan" "daily" { rule { lifecycle { delete_after = 35 } } }'
    ),
    permissions=("backup:ListBackupPlans", "backup:GetBackupPlan"),
    parameters={"max_retention_days": None},
)
def plan_retention_defined(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "rules")) is not None:
        return err
    rules = snap.configuration["rules"]
    if not isinstance(rules, list) or not all(isinstance(r, Mapping) for r in rules):
        return errored(f"The rules of backup plan {snap.name} are not usable ({rules!r})")
    if not rules:
        return None  # a plan without rules keeps nothing (backup_plan_exists reports it)
    limit = params.get("max_retention_days")
    maximum = None if limit is None else int(limit)
    problems: list[str] = []
    for rule in rules:
        name = rule.get("name")
        if (why := expiry_problem(rule.get("delete_after_days"), maximum)) is not None:
            problems.append(f"rule {name} {why}")
        for copy in rule.get("copies") or []:
            if (why := expiry_problem(copy.get("delete_after_days"), maximum)) is not None:
                problems.append(f"the copy of rule {name} to {copy.get('region') or copy.get('vault_arn')} {why}")
    if problems:
        return failed(f"Backup plan {snap.name}: {'; '.join(problems)}", problems=problems)
    return passed(f"Every rule and copy of backup plan {snap.name} expires its recovery points")


# -- account context (per region) -----------------------------------------------------------------


def regional(snap: Snapshot) -> bool:
    return snap.configuration.get("scope") == "region"


def data_stores(snap: Snapshot) -> list[Mapping[str, Any]] | Verdict:
    if (err := need(snap, DATA_STORES)) is not None:
        return err
    stores = snap.configuration[DATA_STORES]
    if not isinstance(stores, list) or not all(isinstance(s, Mapping) and s.get("arn") for s in stores):
        return errored(f"The data store list of {snap.name} is not usable ({stores!r})")
    return stores


def plans(snap: Snapshot) -> list[Mapping[str, Any]] | Verdict:
    if (err := need(snap, PLANS)) is not None:
        return err
    found = snap.configuration[PLANS]
    if not isinstance(found, list) or not all(isinstance(p, Mapping) for p in found):
        return errored(f"The backup plan list of {snap.name} is not usable ({found!r})")
    return found


def plans_with_rules(found: list[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(names of plans with at least one rule, names of plans whose rules could not be read)."""
    with_rules = [str(p.get("name")) for p in found if isinstance(p.get("rules"), list) and p["rules"]]
    unreadable_plans = [str(p.get("name")) for p in found if p.get("error") or p.get("rules") is None]
    return with_rules, unreadable_plans


def stores_in_region(snap: Snapshot) -> list[Mapping[str, Any]] | Verdict | None:
    """The region's data stores; ``None`` when there are none (the rule does not apply)."""
    stores = data_stores(snap)
    if isinstance(stores, Verdict):
        return stores
    return stores or None


@check(
    id="backup_plan_exists",
    title="An AWS Backup plan with rules exists in every region holding data stores",
    description=(
        "Each region that holds RDS, DynamoDB or EFS data stores has at least one AWS Backup plan with at "
        "least one backup rule, so backups are taken on a schedule and kept for a defined retention."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create a backup plan with a daily rule and assign the region's data stores to it (by tag or ARN).\n"
        'CLI: aws backup create-backup-plan --backup-plan \'{"BackupPlanName":"daily","Rules":[{"RuleName":'
        '"daily","TargetBackupVaultName":"Default","ScheduleExpression":"cron(0 5 * * ? *)",'
        '"Lifecycle":{"DeleteAfterDays":35}}]}\'\n'
        'Terraform: resource "aws_backup_plan" "daily" { name = "daily"  rule { rule_name = "daily"  '
        'target_vault_name = "Default"  schedule = "cron(0 5 * * ? *)" } }'
    ),
    permissions=(*PLAN_PERMISSIONS, *STORE_PERMISSIONS),
)
def plan_exists(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if not regional(snap):
        return None
    found = plans(snap)
    if isinstance(found, Verdict):
        return found
    with_rules, hidden = plans_with_rules(found)
    if with_rules:
        return passed(f"{snap.region} has backup plan(s) with rules: {listing(with_rules)}", plans=with_rules)
    stores = stores_in_region(snap)
    if stores is None or isinstance(stores, Verdict):
        return stores
    if hidden:
        return errored(
            f"Could not read the rules of backup plan(s) {listing(hidden)} in {snap.region}; no plan is known to "
            "have a rule",
            unreadable_plans=hidden,
        )
    what = f"{len(found)} plan(s) without rules" if found else "no backup plan"
    return failed(
        f"{snap.region} holds {len(stores)} data store(s) but has {what}",
        data_stores=len(stores),
        plans=[str(p.get("name")) for p in found],
    )


@check(
    id="backup_cross_region_copy",
    title="Backups are copied to another region",
    description=(
        "In each region holding data stores, at least one AWS Backup plan rule copies recovery points to a "
        "vault in another region, so a regional outage or a compromised region does not take the backups "
        "with it."
    ),
    severity=Severity.LOW,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Add a copy action to a backup rule that targets a vault in another region.\n"
        "CLI: aws backup update-backup-plan --backup-plan-id PLAN_ID --backup-plan file://plan-with-copy.json "
        '(rule: "CopyActions":[{"DestinationBackupVaultArn":"arn:aws:backup:us-west-2:ACCOUNT:backup-vault:dr"}])\n'
        'Terraform: resource "aws_backup_plan" "daily" { rule { copy_action { destination_vault_arn = '
        "aws_backup_vault.dr.arn } } }"
    ),
    permissions=(*PLAN_PERMISSIONS, *STORE_PERMISSIONS),
)
def cross_region_copy(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if not regional(snap):
        return None
    found = plans(snap)
    if isinstance(found, Verdict):
        return found
    copies: list[str] = []
    for plan in found:
        for rule in plan.get("rules") or []:
            for copy in rule.get("copies") or []:
                region = copy.get("region")
                if region and region != snap.region:
                    copies.append(f"{plan.get('name')}/{rule.get('name')} -> {region}")
    if copies:
        return passed(f"{snap.region} copies backups to another region: {listing(copies)}", copies=copies)
    stores = stores_in_region(snap)
    if stores is None or isinstance(stores, Verdict):
        return stores
    _, hidden = plans_with_rules(found)
    if hidden:
        return errored(
            f"Could not read the rules of backup plan(s) {listing(hidden)} in {snap.region}; none known to copy "
            "backups to another region",
            unreadable_plans=hidden,
        )
    return failed(
        f"No backup plan in {snap.region} copies recovery points to another region"
        + (f" (plans: {listing([str(p.get('name')) for p in found])})" if found else " (there is no backup plan)"),
        data_stores=len(stores),
    )


@check(
    id="backup_data_stores_covered",
    title="Every data store has an AWS Backup recovery point",
    description=(
        "Every stand-alone RDS instance, RDS cluster, DynamoDB table and EFS file system in the region appears "
        "among AWS Backup's protected resources, i.e. AWS Backup holds at least one recovery point of it."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Assign the uncovered data stores to a backup plan (by tag or by ARN) and let the next run back them up.\n"
        "CLI: aws backup create-backup-selection --backup-plan-id PLAN_ID --backup-selection "
        '\'{"SelectionName":"data-stores","IamRoleArn":"arn:aws:iam::ACCOUNT:role/service-role/'
        'AWSBackupDefaultServiceRole","Resources":["RESOURCE_ARN"]}\'\n'
        'Terraform: resource "aws_backup_selection" "data" { plan_id = aws_backup_plan.daily.id  '
        "iam_role_arn = aws_iam_role.backup.arn  resources = [aws_dynamodb_table.orders.arn] }"
    ),
    permissions=("backup:ListProtectedResources", *STORE_PERMISSIONS),
)
def data_stores_covered(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if not regional(snap):
        return None
    stores = stores_in_region(snap)
    if stores is None or isinstance(stores, Verdict):
        return stores
    if (err := unreadable(snap, PROTECTED)) is not None:
        return err
    if (err := need(snap, PROTECTED)) is not None:
        return err
    protected = snap.configuration[PROTECTED]
    if not isinstance(protected, list):
        return errored(f"The protected resource list of {snap.name} is not usable ({protected!r})")
    covered = set(map(str, protected))
    missing = [s for s in stores if str(s["arn"]) not in covered]
    if missing:
        names = [f"{s.get('type', 'data store')} {s.get('name') or s['arn']}" for s in missing]
        return failed(
            f"{len(missing)} of {len(stores)} data store(s) in {snap.region} have no AWS Backup recovery point: "
            f"{listing(names)}",
            uncovered=[str(s["arn"]) for s in missing],
        )
    return passed(f"All {len(stores)} data store(s) in {snap.region} have an AWS Backup recovery point")
