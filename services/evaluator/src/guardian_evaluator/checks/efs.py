"""EFS checks on file systems (``AWS::EFS::FileSystem``): encryption at rest and automatic backups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, need
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

FILE_SYSTEM = "AWS::EFS::FileSystem"


def label(snap: Snapshot) -> str:
    name = snap.configuration.get("name")
    return f"EFS file system {snap.name}" + (f" ({name})" if name else "")


@check(
    id="efs_file_system_encrypted",
    title="EFS file systems are encrypted at rest",
    description="Every EFS file system encrypts its data and metadata at rest with a KMS key.",
    severity=Severity.HIGH,
    resource_type=FILE_SYSTEM,
    service="efs",
    remediation=(
        "Encryption at rest is chosen at creation: create an encrypted file system and copy the data across "
        "(AWS DataSync or a restore from AWS Backup).\n"
        "CLI: aws efs create-file-system --encrypted --kms-key-id alias/files --creation-token NEW\n"
        'Terraform: resource "aws_efs_file_system" "fs" { encrypted = true  kms_key_id = aws_kms_key.files.arn }'
    ),
    permissions=("elasticfilesystem:DescribeFileSystems",),
)
def file_system_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "encrypted")
    if isinstance(value, Verdict):
        return value
    if value:
        key = snap.configuration.get("kms_key_id")
        return passed(f"{label(snap)} is encrypted at rest" + (f" with KMS key {key}" if key else ""))
    return failed(f"{label(snap)} is not encrypted at rest")


@check(
    id="efs_file_system_backup_policy",
    title="EFS file systems have automatic backups",
    description=(
        "Every EFS file system has its automatic backup policy enabled, so AWS Backup takes daily backups of it "
        "in the default backup vault."
    ),
    severity=Severity.MEDIUM,
    resource_type=FILE_SYSTEM,
    service="efs",
    remediation=(
        "Turn on automatic backups for the file system (or cover it with an AWS Backup plan).\n"
        "CLI: aws efs put-backup-policy --file-system-id FS_ID --backup-policy Status=ENABLED\n"
        'Terraform: resource "aws_efs_backup_policy" "fs" { file_system_id = aws_efs_file_system.fs.id  '
        'backup_policy { status = "ENABLED" } }'
    ),
    permissions=("elasticfilesystem:DescribeBackupPolicy",),
)
def file_system_backup_policy(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "backup_policy")) is not None:
        return err
    status = snap.configuration["backup_policy"]
    if status == "ENABLED":
        return passed(f"{label(snap)} has automatic backups enabled", backup_policy=status)
    if status in ("DISABLED", "DISABLING", "ENABLING"):
        return failed(f"{label(snap)} does not have automatic backups enabled (policy {status})", backup_policy=status)
    return errored(f"EFS did not report a usable backup policy status for {snap.name} ({status!r})")
