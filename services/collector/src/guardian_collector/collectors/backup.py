"""AWS Backup: backup plans and vaults, and which data stores Backup actually protects; one unit per region.

Emitted resources:

- ``AWS::Backup::BackupPlan``: each plan with its rules (target vault, schedule, retention and copy
  actions, with the region of each copy's destination vault), read with GetBackupPlan.
- ``AWS::Backup::BackupVault``: each vault with its encryption key (and who manages it, read with
  KMS DescribeKey) and its vault lock settings.

For the region's ``AWS::::Account`` context snapshot the collector leaves three facts:

- ``backup_plans``: the plans, each with its rules (or the error that hid them);
- ``backup_protected_resources``: the ARNs ListProtectedResources reports, i.e. resources with at
  least one recovery point in this region;
- ``backup_data_stores``: the region's data stores that should be protected, which this collector
  lists itself: stand-alone RDS instances, RDS clusters, DynamoDB tables and EFS file systems. If
  any of those listings fails the whole fact is unreadable, since a partial list could hide an
  unprotected store.

The plan and vault listings are primary (a failure makes the unit FAILED); the others only make it
PARTIAL and the context field they feed unreadable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Facts,
    Resource,
    UnitContext,
    UnitFailed,
    register,
)
from guardian_collector.collectors.kms import key_manager, region_of_arn

SERVICE = "backup"
PLAN = "AWS::Backup::BackupPlan"
VAULT = "AWS::Backup::BackupVault"

PLANS = "backup_plans"
PROTECTED = "backup_protected_resources"
DATA_STORES = "backup_data_stores"
CONTEXT_FIELDS = (PLANS, PROTECTED, DATA_STORES)
NOT_COLLECTED = "NotCollected: the AWS Backup collection of this region did not finish"


def iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)


def plan_rules(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    rules = []
    for rule in (answer.get("BackupPlan") or {}).get("Rules") or []:
        copies = [
            {
                "vault_arn": copy.get("DestinationBackupVaultArn"),
                "region": region_of_arn(str(copy.get("DestinationBackupVaultArn") or "")),
                "delete_after_days": (copy.get("Lifecycle") or {}).get("DeleteAfterDays"),
            }
            for copy in rule.get("CopyActions") or []
        ]
        rules.append(
            {
                "name": rule.get("RuleName"),
                "target_vault": rule.get("TargetBackupVaultName"),
                "schedule": rule.get("ScheduleExpression"),
                "delete_after_days": (rule.get("Lifecycle") or {}).get("DeleteAfterDays"),
                "continuous": bool(rule.get("EnableContinuousBackup", False)),
                "copies": copies,
            }
        )
    return sorted(rules, key=lambda r: str(r["name"]))


@register
class BackupCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "backup:ListBackupPlans",
        "backup:GetBackupPlan",
        "backup:ListBackupVaults",
        "backup:ListProtectedResources",
        "kms:DescribeKey",
        "rds:DescribeDBInstances",
        "rds:DescribeDBClusters",
        "dynamodb:ListTables",
        "elasticfilesystem:DescribeFileSystems",
    )
    resource_types: ClassVar[tuple[str, ...]] = (PLAN, VAULT)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        parts: list[Awaitable[None]] = [
            self._plans(ctx, client),
            self._vaults(ctx, client),
            self._protected(ctx, client),
            self._data_stores(ctx),
        ]
        for result in await asyncio.gather(*parts, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    # -- plans ------------------------------------------------------------------------------------

    async def _plans(self, ctx: UnitContext, client: Any) -> None:
        try:
            plans = await ctx.list_all(client, "list_backup_plans", "BackupPlansList")
        except UnitFailed as exc:
            ctx.facts.put_error(SERVICE, PLANS, exc.error.describe(), region=ctx.unit_region)
            raise
        summaries = await asyncio.gather(*(self._plan(ctx, client, plan) for plan in plans))
        ctx.facts.put(SERVICE, PLANS, sorted(summaries, key=lambda p: str(p["name"])), region=ctx.unit_region)

    async def _plan(self, ctx: UnitContext, client: Any, plan: Mapping[str, Any]) -> dict[str, Any]:
        plan_id = str(plan["BackupPlanId"])
        name = str(plan.get("BackupPlanName") or plan_id)
        arn = str(plan.get("BackupPlanArn") or ctx.arn(SERVICE, f"backup-plan:{plan_id}"))
        cfg = ConfigBuilder(name=name, plan_id=plan_id, version_id=plan.get("VersionId"))
        detail = await ctx.read(client, "get_backup_plan", resource_arn=arn, BackupPlanId=plan_id)
        cfg.from_read("rules", detail, plan_rules)
        config = cfg.build()
        await ctx.emit(Resource(resource_type=PLAN, arn=arn, name=name, region=ctx.region, configuration=config))
        return {
            "name": name,
            "arn": arn,
            "rules": config["rules"],
            "error": detail.error.describe() if detail.error is not None else None,
        }

    # -- vaults -----------------------------------------------------------------------------------

    async def _vaults(self, ctx: UnitContext, client: Any) -> None:
        vaults = await ctx.list_all(client, "list_backup_vaults", "BackupVaultList")
        await asyncio.gather(*(self._vault(ctx, vault) for vault in vaults))

    async def _vault(self, ctx: UnitContext, vault: Mapping[str, Any]) -> None:
        name = str(vault["BackupVaultName"])
        arn = str(vault.get("BackupVaultArn") or ctx.arn(SERVICE, f"backup-vault:{name}"))
        key = vault.get("EncryptionKeyArn")
        cfg = ConfigBuilder(
            name=name,
            vault_type=vault.get("VaultType"),
            encryption_key_arn=key,
            encryption_key_type=vault.get("EncryptionKeyType"),
            locked=vault.get("Locked"),
            min_retention_days=vault.get("MinRetentionDays"),
            max_retention_days=vault.get("MaxRetentionDays"),
            lock_date=iso(vault.get("LockDate")),
            recovery_points=vault.get("NumberOfRecoveryPoints"),
        )
        if key:
            cfg.from_read("key_manager", await key_manager(ctx, str(key), region_of_arn(str(key))))
        else:
            cfg.put("key_manager", None)
        await ctx.emit(Resource(resource_type=VAULT, arn=arn, name=name, region=ctx.region, configuration=cfg.build()))

    # -- protected resources and data stores (account context) ------------------------------------

    async def _protected(self, ctx: UnitContext, client: Any) -> None:
        arns: set[str] = set()
        try:
            async for page in ctx.pages(client, "list_protected_resources"):
                arns.update(str(r["ResourceArn"]) for r in page.get("Results") or [] if r.get("ResourceArn"))
        except UnitFailed as exc:
            ctx.facts.put_error(SERVICE, PROTECTED, exc.error.describe(), region=ctx.unit_region)
            return
        ctx.facts.put(SERVICE, PROTECTED, sorted(arns), region=ctx.unit_region)

    async def _data_stores(self, ctx: UnitContext) -> None:
        rds, dynamodb, efs = await asyncio.gather(ctx.client("rds"), ctx.client("dynamodb"), ctx.client("efs"))
        found = await asyncio.gather(
            self._listing(ctx, rds, "describe_db_instances", "DBInstances", self._instance),
            self._listing(ctx, rds, "describe_db_clusters", "DBClusters", self._cluster),
            self._listing(ctx, dynamodb, "list_tables", "TableNames", lambda t: self._table(ctx, t)),
            self._listing(ctx, efs, "describe_file_systems", "FileSystems", self._file_system),
        )
        errors = [f for f in found if isinstance(f, CallError)]
        if errors:
            detail = "; ".join(e.describe() for e in errors)
            ctx.facts.put_error(SERVICE, DATA_STORES, detail, region=ctx.unit_region)
            return
        stores = [store for part in found if isinstance(part, list) for store in part]
        ctx.facts.put(SERVICE, DATA_STORES, sorted(stores, key=lambda s: s["arn"]), region=ctx.unit_region)

    async def _listing(
        self, ctx: UnitContext, client: Any, operation: str, key: str, describe: Any
    ) -> list[dict[str, str]] | CallError:
        stores: list[dict[str, str]] = []
        try:
            async for page in ctx.pages(client, operation):
                for item in page.get(key) or []:
                    store = describe(item)
                    if store is not None:
                        stores.append(store)
        except UnitFailed as exc:
            return exc.error
        return stores

    @staticmethod
    def _instance(instance: Mapping[str, Any]) -> dict[str, str] | None:
        if instance.get("DBClusterIdentifier") or not instance.get("DBInstanceArn"):
            return None  # a cluster member is backed up with its cluster
        return {
            "arn": str(instance["DBInstanceArn"]),
            "type": "RDS instance",
            "name": str(instance["DBInstanceIdentifier"]),
        }

    @staticmethod
    def _cluster(cluster: Mapping[str, Any]) -> dict[str, str] | None:
        if not cluster.get("DBClusterArn"):
            return None
        return {"arn": str(cluster["DBClusterArn"]), "type": "RDS cluster", "name": str(cluster["DBClusterIdentifier"])}

    @staticmethod
    def _table(ctx: UnitContext, name: Any) -> dict[str, str]:
        return {"arn": ctx.arn("dynamodb", f"table/{name}"), "type": "DynamoDB table", "name": str(name)}

    @staticmethod
    def _file_system(fs: Mapping[str, Any]) -> dict[str, str] | None:
        if not fs.get("FileSystemArn"):
            return None
        label = fs.get("Name") or fs.get("FileSystemId")
        return {"arn": str(fs["FileSystemArn"]), "type": "EFS file system", "name": str(label)}

    # -- account context --------------------------------------------------------------------------

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        fields: dict[str, Any] = {}
        unreadable: dict[str, str] = {}
        for name in CONTEXT_FIELDS:
            error = facts.error(SERVICE, name, region=region)
            value = facts.get(SERVICE, name, region=region)
            if error is not None:
                fields[name] = None
                unreadable[name] = error
            elif value is None:
                fields[name] = None
                unreadable[name] = NOT_COLLECTED
            else:
                fields[name] = value
        return fields, unreadable
