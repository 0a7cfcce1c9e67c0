"""ElastiCache checks on replication groups (``AWS::ElastiCache::ReplicationGroup``): encryption at rest
and in transit, automatic failover across zones, snapshot retention and client authentication."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, need, string_list, whole_number
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

REPLICATION_GROUP = "AWS::ElastiCache::ReplicationGroup"
DESCRIBE = ("elasticache:DescribeReplicationGroups",)


@check(
    id="elasticache_replication_group_encrypted_at_rest",
    title="ElastiCache replication groups encrypt data at rest",
    description=(
        "Every ElastiCache (Redis OSS or Valkey) replication group encrypts its data at rest, including the "
        "swap space and the backups it writes to S3."
    ),
    severity=Severity.HIGH,
    resource_type=REPLICATION_GROUP,
    service="elasticache",
    remediation=(
        "Encryption at rest can only be chosen at creation: create an encrypted group from a backup of this one "
        "and switch clients over.\n"
        "CLI: aws elasticache create-replication-group --replication-group-id NEW "
        "--replication-group-description encrypted --snapshot-name BACKUP --at-rest-encryption-enabled\n"
        'Terraform: resource "aws_elasticache_replication_group" "r" { at_rest_encryption_enabled = true }'
    ),
    permissions=DESCRIBE,
)
def group_encrypted_at_rest(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "at_rest_encryption")
    if isinstance(value, Verdict):
        return value
    if value:
        return passed(f"ElastiCache replication group {snap.name} encrypts its data at rest")
    return failed(f"ElastiCache replication group {snap.name} stores its data and backups unencrypted")


@check(
    id="elasticache_replication_group_encrypted_in_transit",
    title="ElastiCache replication groups require TLS",
    description=(
        "Every ElastiCache replication group has in-transit encryption enabled in required mode, so neither "
        "clients nor replicas can talk to it unencrypted."
    ),
    severity=Severity.MEDIUM,
    resource_type=REPLICATION_GROUP,
    service="elasticache",
    remediation=(
        "Enable in-transit encryption, first in preferred mode while clients move to TLS, then required.\n"
        "CLI: aws elasticache modify-replication-group --replication-group-id ID --transit-encryption-enabled "
        "--transit-encryption-mode required --apply-immediately\n"
        'Terraform: resource "aws_elasticache_replication_group" "r" { transit_encryption_enabled = true  '
        'transit_encryption_mode = "required" }'
    ),
    permissions=DESCRIBE,
)
def group_encrypted_in_transit(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "transit_encryption")
    if isinstance(value, Verdict):
        return value
    mode = snap.configuration.get("transit_encryption_mode")
    if not value:
        return failed(f"ElastiCache replication group {snap.name} accepts unencrypted connections (TLS is off)")
    if mode == "preferred":
        return failed(
            f"ElastiCache replication group {snap.name} has TLS in preferred mode, so it still accepts "
            "unencrypted connections",
            transit_encryption_mode=mode,
        )
    return passed(f"ElastiCache replication group {snap.name} requires TLS", transit_encryption_mode=mode)


@check(
    id="elasticache_replication_group_automatic_failover",
    title="ElastiCache replication groups fail over automatically across zones",
    description=(
        "Every ElastiCache replication group has automatic failover and Multi-AZ enabled, so a replica in "
        "another availability zone is promoted when the primary fails."
    ),
    severity=Severity.MEDIUM,
    resource_type=REPLICATION_GROUP,
    service="elasticache",
    remediation=(
        "Add a replica in another zone if the group has none, then enable automatic failover and Multi-AZ.\n"
        "CLI: aws elasticache modify-replication-group --replication-group-id ID --automatic-failover-enabled "
        "--multi-az-enabled --apply-immediately\n"
        'Terraform: resource "aws_elasticache_replication_group" "r" { automatic_failover_enabled = true  '
        "multi_az_enabled = true  num_cache_clusters = 2 }"
    ),
    permissions=DESCRIBE,
)
def group_automatic_failover(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "automatic_failover", "multi_az")) is not None:
        return err
    failover = snap.configuration["automatic_failover"]
    multi_az = snap.configuration["multi_az"]
    if not isinstance(failover, str) or not isinstance(multi_az, str):
        return errored(
            f"ElastiCache did not report usable failover settings for {snap.name} "
            f"(AutomaticFailover {failover!r}, MultiAZ {multi_az!r})"
        )
    problems = []
    if failover != "enabled":
        problems.append(f"automatic failover is {failover}")
    if multi_az != "enabled":
        problems.append(f"Multi-AZ is {multi_az}")
    evidence = {"automatic_failover": failover, "multi_az": multi_az}
    if problems:
        return failed(f"ElastiCache replication group {snap.name}: {' and '.join(problems)}", **evidence)
    return passed(f"ElastiCache replication group {snap.name} fails over automatically to another zone", **evidence)


@check(
    id="elasticache_replication_group_backups",
    title="ElastiCache replication groups keep automatic backups",
    description=(
        "Every ElastiCache replication group takes daily automatic snapshots and keeps them for at least the "
        "minimum number of days."
    ),
    severity=Severity.MEDIUM,
    resource_type=REPLICATION_GROUP,
    service="elasticache",
    remediation=(
        "Set a snapshot retention limit of at least the required number of days.\n"
        "CLI: aws elasticache modify-replication-group --replication-group-id ID --snapshot-retention-limit 7 "
        "--apply-immediately\n"
        'Terraform: resource "aws_elasticache_replication_group" "r" { snapshot_retention_limit = 7 }'
    ),
    permissions=DESCRIBE,
    parameters={"min_retention_days": 1},
)
def group_backups(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    days = whole_number(snap, "snapshot_retention_limit")
    if isinstance(days, Verdict):
        return days
    minimum = max(1, int(params.get("min_retention_days", 1)))
    evidence = {"snapshot_retention_limit": days, "min_retention_days": minimum}
    if days == 0:
        return failed(f"ElastiCache replication group {snap.name} takes no automatic backups", **evidence)
    if days < minimum:
        return failed(
            f"ElastiCache replication group {snap.name} keeps automatic backups for {days} day(s), fewer than the "
            f"required {minimum}",
            **evidence,
        )
    return passed(f"ElastiCache replication group {snap.name} keeps automatic backups for {days} day(s)", **evidence)


@check(
    id="elasticache_replication_group_auth",
    title="ElastiCache replication groups authenticate clients",
    description=(
        "Every ElastiCache replication group requires clients to authenticate, with an AUTH token or with "
        "role-based access control user groups, instead of serving anyone who can reach its port."
    ),
    severity=Severity.LOW,
    resource_type=REPLICATION_GROUP,
    service="elasticache",
    remediation=(
        "Attach an RBAC user group (or set an AUTH token; both need in-transit encryption).\n"
        "CLI: aws elasticache modify-replication-group --replication-group-id ID --user-group-ids-to-add GROUP "
        "--apply-immediately\n"
        'Terraform: resource "aws_elasticache_replication_group" "r" { user_group_ids = '
        "[aws_elasticache_user_group.app.id] }"
    ),
    permissions=DESCRIBE,
)
def group_auth(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    token = flag(snap, "auth_token_enabled")
    if isinstance(token, Verdict):
        return token
    groups = string_list(snap, "user_group_ids")
    if isinstance(groups, Verdict):
        return groups
    if groups:
        return passed(
            f"ElastiCache replication group {snap.name} authenticates clients through RBAC user group(s) "
            f"{', '.join(groups)}"
        )
    if token:
        return passed(f"ElastiCache replication group {snap.name} authenticates clients with an AUTH token")
    return failed(f"ElastiCache replication group {snap.name} has neither an AUTH token nor RBAC user groups")
