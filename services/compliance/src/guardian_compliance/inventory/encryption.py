"""The encryption inventory: every data store, whether it is encrypted at rest, and with which key.

Built from the encryption-at-rest checks' current verdicts, so the inventory can never disagree
with the findings: PASS means encrypted, FAIL unencrypted, ERROR unknown (never assumed
encrypted). The key is read from the stored configuration where the collector recorded one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

# The check that decides "encrypted at rest" for each data-store type.
ENCRYPTION_AT_REST_CHECKS: Mapping[str, str] = {
    "AWS::S3::Bucket": "s3_bucket_default_encryption",
    "AWS::EC2::Volume": "ec2_ebs_volume_encrypted",
    "AWS::EC2::Snapshot": "ec2_snapshot_encrypted",
    "AWS::RDS::DBInstance": "rds_instance_storage_encrypted",
    "AWS::RDS::DBCluster": "rds_cluster_storage_encrypted",
    "AWS::RDS::DBSnapshot": "rds_snapshot_encrypted",
    "AWS::RDS::DBClusterSnapshot": "rds_cluster_snapshot_encrypted",
    "AWS::DynamoDB::Table": "dynamodb_table_encrypted_kms",
    "AWS::EFS::FileSystem": "efs_file_system_encrypted",
    "AWS::Redshift::Cluster": "redshift_cluster_encrypted",
    "AWS::OpenSearchService::Domain": "opensearch_domain_encrypted_at_rest",
    "AWS::ElastiCache::ReplicationGroup": "elasticache_replication_group_encrypted_at_rest",
    "AWS::Backup::BackupVault": "backup_vault_encrypted_kms",
    "AWS::SQS::Queue": "sqs_queue_encrypted",
    "AWS::SNS::Topic": "sns_topic_encrypted_kms",
    "AWS::Logs::LogGroup": "logs_log_group_kms_encryption",
    "AWS::CloudTrail::Trail": "cloudtrail_kms_encryption",
}

# Where collectors put the key of each kind of store, tried in order.
_KEY_PATHS: tuple[tuple[str, ...], ...] = (
    ("encryption", "kms_key_id"),
    ("kms_key_id",),
    ("kms_master_key_id",),
    ("encryption", "kms_master_key_arn"),
    ("encryption_at_rest", "kms_key_id"),
    ("encryption_key_arn",),
)

State = Literal["encrypted", "unencrypted", "unknown"]
STATE_OF_STATUS: Mapping[str, State] = {"PASS": "encrypted", "FAIL": "unencrypted", "ERROR": "unknown"}


def key_of(configuration: Mapping[str, Any] | None) -> str | None:
    for path in _KEY_PATHS:
        value: Any = configuration or {}
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return None


class StoreOut(BaseModel):
    resource_arn: str
    resource_type: str
    resource_name: str
    account_id: str
    region: str
    state: State
    kms_key_id: str | None
    check_id: str
    reason: str


class TypeSummary(BaseModel):
    resource_type: str
    encrypted: int
    unencrypted: int
    unknown: int


class EncryptionInventory(BaseModel):
    total: int
    encrypted: int
    unencrypted: int
    unknown: int
    by_type: list[TypeSummary]
    items: list[StoreOut]


def build(rows: list[Mapping[str, Any]], state: State | None) -> EncryptionInventory:
    stores = [
        StoreOut(
            resource_arn=r["resource_arn"],
            resource_type=r["resource_type"],
            resource_name=r["resource_name"],
            account_id=r["account_id"],
            region=r["region"],
            state=STATE_OF_STATUS.get(r["status"], "unknown"),
            kms_key_id=key_of(r["configuration"]),
            check_id=r["check_id"],
            reason=r["reason"],
        )
        for r in rows
    ]
    summary: dict[str, dict[str, int]] = {}
    for store in stores:
        counts = summary.setdefault(store.resource_type, {"encrypted": 0, "unencrypted": 0, "unknown": 0})
        counts[store.state] += 1
    order = {"unencrypted": 0, "unknown": 1, "encrypted": 2}
    items = sorted(
        (s for s in stores if state is None or s.state == state),
        key=lambda s: (order[s.state], s.resource_type, s.resource_arn),
    )
    return EncryptionInventory(
        total=len(stores),
        encrypted=sum(1 for s in stores if s.state == "encrypted"),
        unencrypted=sum(1 for s in stores if s.state == "unencrypted"),
        unknown=sum(1 for s in stores if s.state == "unknown"),
        by_type=[TypeSummary(resource_type=t, **c) for t, c in sorted(summary.items())],
        items=items,
    )
