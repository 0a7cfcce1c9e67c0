"""RDS checks on database instances (``AWS::RDS::DBInstance``).

The collector copies DescribeDBInstances' flags as they are; a flag RDS did not report (``None``)
or a field missing from the configuration is an ERROR, never a PASS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable

DB_INSTANCE = "AWS::RDS::DBInstance"
PERMISSIONS = ("rds:DescribeDBInstances",)


def missing(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR when a field the check reads is not in the configuration at all."""
    absent = [f for f in fields if f not in snap.configuration]
    if not absent:
        return None
    return errored(
        f"The collected configuration of RDS instance {snap.name} has no {', '.join(absent)}; it cannot be evaluated",
        missing=absent,
    )


def flag(snap: Snapshot, field: str) -> bool | Verdict:
    """A boolean setting, or the ERROR verdict explaining why it cannot be used."""
    if (err := unreadable(snap, field)) is not None:
        return err
    if (err := missing(snap, field)) is not None:
        return err
    value = snap.configuration[field]
    if isinstance(value, bool):
        return value
    return errored(f"RDS did not report a usable {field} for instance {snap.name} ({value!r})")


def cluster_note(snap: Snapshot) -> str:
    cluster = snap.configuration.get("db_cluster_identifier")
    return f"; it belongs to cluster {cluster}, where this setting may be managed" if cluster else ""


@check(
    id="rds_instance_storage_encrypted",
    title="RDS instances encrypt their storage",
    description="Every RDS database instance has storage encryption at rest enabled.",
    severity=Severity.HIGH,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Encryption cannot be turned on in place: snapshot the instance, copy the snapshot with a KMS key "
        "and restore from the copy. aws rds copy-db-snapshot --source-db-snapshot-identifier SNAP "
        "--target-db-snapshot-identifier SNAP-encrypted --kms-key-id alias/aws/rds"
    ),
    permissions=PERMISSIONS,
)
def instance_storage_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "storage_encrypted")) is not None:
        return err
    value = flag(snap, "storage_encrypted")
    if isinstance(value, Verdict):
        return value
    if value:
        key = snap.configuration.get("kms_key_id")
        return passed(
            f"RDS instance {snap.name} encrypts its storage" + (f" with KMS key {key}" if key else ""),
            kms_key_id=key,
        )
    return failed(f"RDS instance {snap.name} does not encrypt its storage", storage_encrypted=False)


@check(
    id="rds_instance_not_public",
    title="RDS instances are not publicly accessible",
    description="No RDS database instance is marked publicly accessible (resolvable to a public address).",
    severity=Severity.CRITICAL,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Turn off public accessibility and reach the database from inside the VPC. "
        "aws rds modify-db-instance --db-instance-identifier ID --no-publicly-accessible --apply-immediately"
    ),
    permissions=PERMISSIONS,
)
def instance_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "publicly_accessible")) is not None:
        return err
    value = flag(snap, "publicly_accessible")
    if isinstance(value, Verdict):
        return value
    if value:
        return failed(
            f"RDS instance {snap.name} is publicly accessible (PubliclyAccessible is true)",
            publicly_accessible=True,
        )
    return passed(f"RDS instance {snap.name} is not publicly accessible", publicly_accessible=False)


@check(
    id="rds_instance_multi_az",
    title="RDS instances are deployed across availability zones",
    description="Every RDS database instance runs as a Multi-AZ deployment with a standby in another zone.",
    severity=Severity.MEDIUM,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Convert the instance to a Multi-AZ deployment. "
        "aws rds modify-db-instance --db-instance-identifier ID --multi-az --apply-immediately"
    ),
    permissions=PERMISSIONS,
)
def instance_multi_az(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "multi_az")) is not None:
        return err
    value = flag(snap, "multi_az")
    if isinstance(value, Verdict):
        return value
    if value:
        return passed(f"RDS instance {snap.name} is a Multi-AZ deployment", multi_az=True)
    return failed(f"RDS instance {snap.name} runs in a single availability zone{cluster_note(snap)}", multi_az=False)


@check(
    id="rds_instance_backups_enabled",
    title="RDS instances keep automated backups",
    description=("Every RDS database instance keeps automated backups for at least the minimum retention period."),
    severity=Severity.HIGH,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Set the backup retention period to at least the required number of days. "
        "aws rds modify-db-instance --db-instance-identifier ID --backup-retention-period 7 "
        "--apply-immediately"
    ),
    permissions=PERMISSIONS,
    parameters={"min_retention_days": 7},
)
def instance_backups_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "backup_retention_period")) is not None:
        return err
    if (err := missing(snap, "backup_retention_period")) is not None:
        return err
    minimum = int(params.get("min_retention_days", 7))
    days = snap.configuration["backup_retention_period"]
    if isinstance(days, bool) or not isinstance(days, int):
        return errored(f"RDS did not report a usable backup retention period for instance {snap.name} ({days!r})")
    if days <= 0:
        return failed(
            f"RDS instance {snap.name} has automated backups disabled (retention period 0 days)",
            backup_retention_period=days,
            min_retention_days=minimum,
        )
    if days < minimum:
        return failed(
            f"RDS instance {snap.name} keeps automated backups for {days} day(s), fewer than the required {minimum}",
            backup_retention_period=days,
            min_retention_days=minimum,
        )
    return passed(
        f"RDS instance {snap.name} keeps automated backups for {days} day(s) (at least {minimum} required)",
        backup_retention_period=days,
        min_retention_days=minimum,
    )


@check(
    id="rds_instance_deletion_protection",
    title="RDS instances have deletion protection",
    description="Every RDS database instance has deletion protection enabled.",
    severity=Severity.MEDIUM,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Enable deletion protection on the instance. "
        "aws rds modify-db-instance --db-instance-identifier ID --deletion-protection --apply-immediately"
    ),
    permissions=PERMISSIONS,
)
def instance_deletion_protection(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "deletion_protection")) is not None:
        return err
    value = flag(snap, "deletion_protection")
    if isinstance(value, Verdict):
        return value
    if value:
        return passed(f"RDS instance {snap.name} has deletion protection enabled", deletion_protection=True)
    return failed(
        f"RDS instance {snap.name} has deletion protection disabled{cluster_note(snap)}",
        deletion_protection=False,
    )


@check(
    id="rds_instance_minor_version_upgrade",
    title="RDS instances receive minor engine upgrades automatically",
    description="Every RDS database instance has automatic minor version upgrades enabled.",
    severity=Severity.LOW,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Enable automatic minor version upgrades; they apply in the maintenance window. "
        "aws rds modify-db-instance --db-instance-identifier ID --auto-minor-version-upgrade"
    ),
    permissions=PERMISSIONS,
)
def instance_minor_version_upgrade(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "auto_minor_version_upgrade")) is not None:
        return err
    value = flag(snap, "auto_minor_version_upgrade")
    if isinstance(value, Verdict):
        return value
    engine = snap.configuration.get("engine")
    version = snap.configuration.get("engine_version")
    running = f" (running {engine} {version})" if engine and version else ""
    if value:
        return passed(
            f"RDS instance {snap.name}{running} has automatic minor version upgrades enabled",
            auto_minor_version_upgrade=True,
        )
    return failed(
        f"RDS instance {snap.name}{running} has automatic minor version upgrades disabled",
        auto_minor_version_upgrade=False,
    )
