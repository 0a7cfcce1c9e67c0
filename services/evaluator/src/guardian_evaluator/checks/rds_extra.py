"""RDS checks beyond the instance basics: clusters, manual snapshots, log exports and TLS enforcement.

Clusters, snapshots and parameter groups come from the ``rdsextra`` collector; the instance log
export check reads the ``AWS::RDS::DBInstance`` snapshots of the ``rds`` collector, which already
carry the engine and the enabled exports. Which logs an engine must export and which parameter
enforces TLS are parameters with defaults, so a company can tighten or relax them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, listing, mapping, need, string_list, whole_number
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

DB_INSTANCE = "AWS::RDS::DBInstance"
DB_CLUSTER = "AWS::RDS::DBCluster"
DB_SNAPSHOT = "AWS::RDS::DBSnapshot"
DB_CLUSTER_SNAPSHOT = "AWS::RDS::DBClusterSnapshot"
DB_PARAMETER_GROUP = "AWS::RDS::DBParameterGroup"
DB_CLUSTER_PARAMETER_GROUP = "AWS::RDS::DBClusterParameterGroup"

CLUSTERS = ("rds:DescribeDBClusters",)
INSTANCES = ("rds:DescribeDBInstances",)
PUBLIC = "all"

# Log types each engine family must export to CloudWatch Logs (keys are engine prefixes).
INSTANCE_EXPORTS: dict[str, list[str]] = {
    "postgres": ["postgresql"],
    "mysql": ["audit", "error", "slowquery"],
    "mariadb": ["audit", "error", "slowquery"],
    "sqlserver": ["agent", "error"],
    "oracle": ["alert", "audit"],
}
CLUSTER_EXPORTS: dict[str, list[str]] = {
    "aurora-mysql": ["audit", "slowquery"],
    "aurora-postgresql": ["postgresql"],
    "mysql": ["error", "slowquery"],
    "postgres": ["postgresql"],
}
# The parameter that makes an engine refuse unencrypted connections, and the values that do so.
TLS_RULES: dict[str, dict[str, Any]] = {
    "postgres": {"parameter": "rds.force_ssl", "values": ["1"]},
    "sqlserver": {"parameter": "rds.force_ssl", "values": ["1"]},
    "mysql": {"parameter": "require_secure_transport", "values": ["ON", "1"]},
    "mariadb": {"parameter": "require_secure_transport", "values": ["ON", "1"]},
}
CLUSTER_TLS_RULES: dict[str, dict[str, Any]] = {
    "aurora-postgresql": {"parameter": "rds.force_ssl", "values": ["1"]},
    "postgres": {"parameter": "rds.force_ssl", "values": ["1"]},
    "aurora-mysql": {"parameter": "require_secure_transport", "values": ["ON", "1"]},
    "mysql": {"parameter": "require_secure_transport", "values": ["ON", "1"]},
}


def engine_rule(engine: str, rules: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The rule whose key is the engine or the longest prefix of it (``sqlserver-se`` -> ``sqlserver``).

    The legacy engine name ``aurora`` (Aurora MySQL 5.6) is treated as ``aurora-mysql``.
    """
    name = "aurora-mysql" if engine == "aurora" else engine
    matches = [key for key in rules if name == key or name.startswith(f"{key}-")]
    if not matches:
        return None
    key = max(matches, key=len)
    return key, rules[key]


def engine_of(snap: Snapshot) -> str | Verdict:
    if (err := need(snap, "engine")) is not None:
        return err
    engine = snap.configuration["engine"]
    if not isinstance(engine, str) or not engine:
        return errored(f"RDS did not report the engine of {snap.name} ({engine!r})")
    return engine


# -- clusters ------------------------------------------------------------------------------------


@check(
    id="rds_cluster_storage_encrypted",
    title="RDS clusters encrypt their storage",
    description=(
        "Every Aurora or Multi-AZ DB cluster has storage encryption at rest enabled, which also covers its "
        "automated backups and snapshots. Unencrypted cluster volumes expose data to anyone who obtains the "
        "storage or a copy of a snapshot."
    ),
    severity=Severity.HIGH,
    resource_type=DB_CLUSTER,
    service="rdsextra",
    remediation=(
        "Encryption cannot be switched on for an existing cluster: snapshot it, restore the snapshot into a new "
        "cluster with a KMS key, and move clients to the new cluster.\n"
        "CLI: aws rds restore-db-cluster-from-snapshot --db-cluster-identifier NEW --snapshot-identifier SNAP "
        "--engine aurora-postgresql --kms-key-id alias/aws/rds\n"
        'Terraform: resource "aws_rds_cluster" "db" { storage_encrypted = true  kms_key_id = aws_kms_key.db.arn }'
    ),
    permissions=CLUSTERS,
)
def cluster_storage_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "storage_encrypted")
    if isinstance(value, Verdict):
        return value
    if value:
        key = snap.configuration.get("kms_key_id")
        return passed(
            f"RDS cluster {snap.name} encrypts its storage" + (f" with KMS key {key}" if key else ""), kms_key_id=key
        )
    return failed(f"RDS cluster {snap.name} does not encrypt its storage", storage_encrypted=False)


@check(
    id="rds_cluster_deletion_protection",
    title="RDS clusters have deletion protection",
    description=(
        "Every Aurora or Multi-AZ DB cluster has deletion protection enabled, so a mistaken or malicious delete "
        "call cannot remove the database and its automated backups."
    ),
    severity=Severity.MEDIUM,
    resource_type=DB_CLUSTER,
    service="rdsextra",
    remediation=(
        "Enable deletion protection on the cluster.\n"
        "CLI: aws rds modify-db-cluster --db-cluster-identifier ID --deletion-protection --apply-immediately\n"
        'Terraform: resource "aws_rds_cluster" "db" { deletion_protection = true }'
    ),
    permissions=CLUSTERS,
)
def cluster_deletion_protection(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "deletion_protection")
    if isinstance(value, Verdict):
        return value
    if value:
        return passed(f"RDS cluster {snap.name} has deletion protection enabled", deletion_protection=True)
    return failed(f"RDS cluster {snap.name} has deletion protection disabled", deletion_protection=False)


@check(
    id="rds_cluster_backup_retention",
    title="RDS clusters keep automated backups long enough",
    description=(
        "Every Aurora or Multi-AZ DB cluster keeps its continuous automated backups for at least the minimum "
        "retention period, so data can be restored to a point in time within that window."
    ),
    severity=Severity.HIGH,
    resource_type=DB_CLUSTER,
    service="rdsextra",
    remediation=(
        "Raise the backup retention period of the cluster to at least the required number of days.\n"
        "CLI: aws rds modify-db-cluster --db-cluster-identifier ID --backup-retention-period 7 --apply-immediately\n"
        'Terraform: resource "aws_rds_cluster" "db" { backup_retention_period = 7 }'
    ),
    permissions=CLUSTERS,
    parameters={"min_retention_days": 7},
)
def cluster_backup_retention(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    days = whole_number(snap, "backup_retention_period")
    if isinstance(days, Verdict):
        return days
    minimum = int(params.get("min_retention_days", 7))
    evidence = {"backup_retention_period": days, "min_retention_days": minimum}
    if days < minimum:
        return failed(
            f"RDS cluster {snap.name} keeps automated backups for {days} day(s), fewer than the required {minimum}",
            **evidence,
        )
    return passed(
        f"RDS cluster {snap.name} keeps automated backups for {days} day(s) (at least {minimum} required)", **evidence
    )


@check(
    id="rds_cluster_multi_az",
    title="RDS clusters have instances in several availability zones",
    description=(
        "Every Aurora or Multi-AZ DB cluster has member instances in at least two availability zones, so a "
        "reader in another zone can be promoted if the writer's zone fails."
    ),
    severity=Severity.MEDIUM,
    resource_type=DB_CLUSTER,
    service="rdsextra",
    remediation=(
        "Add a reader instance in another availability zone.\n"
        "CLI: aws rds create-db-instance --db-instance-identifier ID-reader --db-cluster-identifier ID "
        "--engine aurora-postgresql --db-instance-class db.r6g.large --availability-zone us-east-1b\n"
        'Terraform: resource "aws_rds_cluster_instance" "reader" { cluster_identifier = aws_rds_cluster.db.id  '
        'availability_zone = "us-east-1b" }'
    ),
    permissions=(*CLUSTERS, *INSTANCES),
    parameters={"min_availability_zones": 2},
)
def cluster_multi_az(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    zones = string_list(snap, "member_availability_zones")
    if isinstance(zones, Verdict):
        return zones
    minimum = int(params.get("min_availability_zones", 2))
    if len(zones) >= minimum:
        return passed(
            f"RDS cluster {snap.name} has instances in {len(zones)} availability zones ({', '.join(zones)})",
            member_availability_zones=zones,
        )
    where = f"only in {', '.join(zones)}" if zones else "in no availability zone (it has no instances)"
    return failed(
        f"RDS cluster {snap.name} has instances {where}; at least {minimum} zones are required",
        member_availability_zones=zones,
        min_availability_zones=minimum,
    )


@check(
    id="rds_cluster_log_exports",
    title="RDS clusters export their audit and slow-query logs",
    description=(
        "Every Aurora or Multi-AZ DB cluster publishes the database logs its engine needs for investigations "
        "to CloudWatch Logs (Aurora MySQL: audit and slow query; Aurora PostgreSQL: postgresql), where they are "
        "retained and searchable outside the database."
    ),
    severity=Severity.MEDIUM,
    resource_type=DB_CLUSTER,
    service="rdsextra",
    remediation=(
        "Enable the missing log exports on the cluster (Aurora MySQL audit logs also need server_audit_logging=1 "
        "in the cluster parameter group).\n"
        "CLI: aws rds modify-db-cluster --db-cluster-identifier ID "
        '--cloudwatch-logs-export-configuration \'{"EnableLogTypes":["audit","slowquery"]}\' --apply-immediately\n'
        'Terraform: resource "aws_rds_cluster" "db" { enabled_cloudwatch_logs_exports = ["audit", "slowquery"] }'
    ),
    permissions=CLUSTERS,
    parameters={"required_exports": CLUSTER_EXPORTS},
)
def cluster_log_exports(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return log_exports(snap, params.get("required_exports", CLUSTER_EXPORTS), "RDS cluster")


@check(
    id="rds_cluster_iam_auth",
    title="RDS clusters accept IAM database authentication",
    description=(
        "Every Aurora or Multi-AZ DB cluster has IAM database authentication enabled, so people and workloads "
        "can sign in with short-lived IAM tokens instead of long-lived database passwords."
    ),
    severity=Severity.LOW,
    resource_type=DB_CLUSTER,
    service="rdsextra",
    remediation=(
        "Enable IAM database authentication on the cluster, then grant rds-db:connect to the roles that need it.\n"
        "CLI: aws rds modify-db-cluster --db-cluster-identifier ID --enable-iam-database-authentication "
        "--apply-immediately\n"
        'Terraform: resource "aws_rds_cluster" "db" { iam_database_authentication_enabled = true }'
    ),
    permissions=CLUSTERS,
)
def cluster_iam_auth(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "iam_database_authentication")
    if isinstance(value, Verdict):
        return value
    if value:
        return passed(f"RDS cluster {snap.name} accepts IAM database authentication", iam_database_authentication=True)
    return failed(
        f"RDS cluster {snap.name} does not accept IAM database authentication; only database passwords work",
        iam_database_authentication=False,
    )


# -- log exports (clusters and stand-alone instances) -------------------------------------------


def log_exports(snap: Snapshot, rules: Any, noun: str) -> Verdict | None:
    engine = engine_of(snap)
    if isinstance(engine, Verdict):
        return engine
    if not isinstance(rules, Mapping):
        return errored(f"The required_exports parameter is not a mapping of engine to log types: {rules!r}")
    rule = engine_rule(engine, rules)
    if rule is None:
        return None  # no log requirement for this engine
    _, required = rule
    enabled = string_list(snap, "enabled_cloudwatch_logs_exports")
    if isinstance(enabled, Verdict):
        return enabled
    needed = sorted(str(r) for r in required)
    missing = [r for r in needed if r not in enabled]
    evidence = {"engine": engine, "enabled": enabled, "required": needed}
    if missing:
        have = f"it exports {', '.join(enabled)}" if enabled else "it exports no logs"
        return failed(
            f"{noun} {snap.name} ({engine}) does not export {', '.join(missing)} logs to CloudWatch Logs; {have}",
            missing=missing,
            **evidence,
        )
    return passed(f"{noun} {snap.name} ({engine}) exports {', '.join(needed)} logs to CloudWatch Logs", **evidence)


@check(
    id="rds_instance_log_exports",
    title="RDS instances export their database logs",
    description=(
        "Every stand-alone RDS instance publishes the logs its engine needs for investigations to CloudWatch "
        "Logs (PostgreSQL: postgresql; MySQL and MariaDB: audit, error, slow query; SQL Server: agent and "
        "error; Oracle: alert and audit). Cluster members are judged by their cluster's exports."
    ),
    severity=Severity.MEDIUM,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Enable the missing log exports on the instance (MySQL and MariaDB audit logs also need the "
        "MARIADB_AUDIT_PLUGIN option in the option group).\n"
        "CLI: aws rds modify-db-instance --db-instance-identifier ID "
        '--cloudwatch-logs-export-configuration \'{"EnableLogTypes":["postgresql"]}\' --apply-immediately\n'
        'Terraform: resource "aws_db_instance" "db" { enabled_cloudwatch_logs_exports = ["postgresql"] }'
    ),
    permissions=INSTANCES,
    parameters={"required_exports": INSTANCE_EXPORTS},
)
def instance_log_exports(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "db_cluster_identifier")) is not None:
        return err
    if snap.configuration["db_cluster_identifier"]:
        return None  # a cluster member: its logs are configured on the cluster
    return log_exports(snap, params.get("required_exports", INSTANCE_EXPORTS), "RDS instance")


# -- snapshots ------------------------------------------------------------------------------------


def snapshot_not_public(snap: Snapshot, noun: str) -> Verdict:
    shared = string_list(snap, "shared_with")
    if isinstance(shared, Verdict):
        return shared
    accounts = [a for a in shared if a != PUBLIC]
    if PUBLIC in shared:
        return failed(
            f"{noun} {snap.name} is public: its restore attribute lets any AWS account copy or restore it",
            shared_with=shared,
        )
    if accounts:
        return passed(
            f"{noun} {snap.name} is not public; it is shared with account(s) {listing(accounts)}", shared_with=shared
        )
    return passed(f"{noun} {snap.name} is not public and not shared with other accounts", shared_with=shared)


def snapshot_encrypted(snap: Snapshot, field: str, noun: str) -> Verdict:
    value = flag(snap, field)
    if isinstance(value, Verdict):
        return value
    if value:
        key = snap.configuration.get("kms_key_id")
        return passed(f"{noun} {snap.name} is encrypted" + (f" with KMS key {key}" if key else ""), kms_key_id=key)
    return failed(f"{noun} {snap.name} is not encrypted", **{field: False})


@check(
    id="rds_snapshot_not_public",
    title="Manual RDS snapshots are not public",
    description=(
        "No manual DB snapshot owned by the account is shared publicly (restore attribute 'all'); a public "
        "snapshot lets any AWS account restore a full copy of the database."
    ),
    severity=Severity.CRITICAL,
    resource_type=DB_SNAPSHOT,
    service="rdsextra",
    remediation=(
        "Remove 'all' from the snapshot's restore attribute; share with named accounts only where needed.\n"
        "CLI: aws rds modify-db-snapshot-attribute --db-snapshot-identifier SNAP --attribute-name restore "
        "--values-to-remove all\n"
        "Terraform: manage the snapshot with aws_db_snapshot and never add 'all' to its shared accounts "
        '(resource "aws_db_snapshot" "s" { shared_accounts = [] })'
    ),
    permissions=("rds:DescribeDBSnapshots", "rds:DescribeDBSnapshotAttributes"),
)
def db_snapshot_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return snapshot_not_public(snap, "RDS snapshot")


@check(
    id="rds_snapshot_encrypted",
    title="Manual RDS snapshots are encrypted",
    description=(
        "Every manual DB snapshot owned by the account is encrypted, so copies of a database kept outside the "
        "instance are protected at rest like the instance itself."
    ),
    severity=Severity.HIGH,
    resource_type=DB_SNAPSHOT,
    service="rdsextra",
    remediation=(
        "Copy the snapshot with a KMS key, then delete the unencrypted original.\n"
        "CLI: aws rds copy-db-snapshot --source-db-snapshot-identifier SNAP "
        "--target-db-snapshot-identifier SNAP-encrypted --kms-key-id alias/aws/rds\n"
        'Terraform: resource "aws_db_snapshot_copy" "s" { source_db_snapshot_identifier = "SNAP"  '
        'target_db_snapshot_identifier = "SNAP-encrypted"  kms_key_id = aws_kms_key.db.arn }'
    ),
    permissions=("rds:DescribeDBSnapshots",),
)
def db_snapshot_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return snapshot_encrypted(snap, "encrypted", "RDS snapshot")


@check(
    id="rds_cluster_snapshot_not_public",
    title="Manual RDS cluster snapshots are not public",
    description=(
        "No manual DB cluster snapshot owned by the account is shared publicly (restore attribute 'all'); a "
        "public cluster snapshot lets any AWS account restore the whole cluster's data."
    ),
    severity=Severity.CRITICAL,
    resource_type=DB_CLUSTER_SNAPSHOT,
    service="rdsextra",
    remediation=(
        "Remove 'all' from the cluster snapshot's restore attribute.\n"
        "CLI: aws rds modify-db-cluster-snapshot-attribute --db-cluster-snapshot-identifier SNAP "
        "--attribute-name restore --values-to-remove all\n"
        'Terraform: resource "aws_db_cluster_snapshot" "s" { db_cluster_identifier = "ID"  '
        'db_cluster_snapshot_identifier = "SNAP" }  (and share it with named accounts only)'
    ),
    permissions=("rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusterSnapshotAttributes"),
)
def cluster_snapshot_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return snapshot_not_public(snap, "RDS cluster snapshot")


@check(
    id="rds_cluster_snapshot_encrypted",
    title="Manual RDS cluster snapshots are encrypted",
    description="Every manual DB cluster snapshot owned by the account is encrypted at rest.",
    severity=Severity.HIGH,
    resource_type=DB_CLUSTER_SNAPSHOT,
    service="rdsextra",
    remediation=(
        "Copy the cluster snapshot with a KMS key, then delete the unencrypted original.\n"
        "CLI: aws rds copy-db-cluster-snapshot --source-db-cluster-snapshot-identifier SNAP "
        "--target-db-cluster-snapshot-identifier SNAP-encrypted --kms-key-id alias/aws/rds\n"
        'Terraform: resource "aws_rds_cluster" "db" { storage_encrypted = true }  (snapshots of an encrypted '
        "cluster are encrypted)"
    ),
    permissions=("rds:DescribeDBClusterSnapshots",),
)
def cluster_snapshot_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return snapshot_encrypted(snap, "storage_encrypted", "RDS cluster snapshot")


# -- TLS enforced by parameter groups -------------------------------------------------------------


def tls_enforced(snap: Snapshot, rules: Any, noun: str, users_field: str) -> Verdict | None:
    engine = engine_of(snap)
    if isinstance(engine, Verdict):
        return engine
    if not isinstance(rules, Mapping):
        return errored(f"The TLS rules parameter is not a mapping of engine to parameter: {rules!r}")
    rule = engine_rule(engine, rules)
    if rule is None:
        return None  # this engine enforces TLS elsewhere (Oracle: option groups), or not through a parameter
    _, spec = rule
    if not isinstance(spec, Mapping) or "parameter" not in spec:
        return errored(f"The TLS rule for {engine} names no parameter: {spec!r}")
    parameter = str(spec["parameter"])
    accepted = [str(v).upper() for v in spec.get("values") or []]
    found = mapping(snap, "tls_parameters")
    if isinstance(found, Verdict):
        return found
    users = snap.configuration.get(users_field) or []
    used_by = f" (used by {listing([str(u) for u in users])})" if users else ""
    setting = found.get(parameter)
    value = setting.get("value") if isinstance(setting, Mapping) else None
    evidence = {"engine": engine, "parameter": parameter, "value": value, "accepted": accepted}
    if setting is None:
        return failed(
            f"{noun} {snap.name}{used_by} does not set {parameter}, so {engine} accepts unencrypted connections",
            **evidence,
        )
    if value is None:
        return failed(
            f"{noun} {snap.name}{used_by} leaves {parameter} without a value, so {engine} does not require TLS",
            **evidence,
        )
    if str(value).upper() in accepted:
        return passed(f"{noun} {snap.name}{used_by} sets {parameter}={value}, so clients must use TLS", **evidence)
    return failed(
        f"{noun} {snap.name}{used_by} sets {parameter}={value}, so {engine} accepts unencrypted connections",
        **evidence,
    )


@check(
    id="rds_parameter_group_tls_enforced",
    title="RDS parameter groups require TLS connections",
    description=(
        "Every DB parameter group attached to a stand-alone RDS instance makes the engine refuse unencrypted "
        "client connections: rds.force_ssl=1 for PostgreSQL and SQL Server, require_secure_transport=ON for "
        "MySQL and MariaDB."
    ),
    severity=Severity.MEDIUM,
    resource_type=DB_PARAMETER_GROUP,
    service="rdsextra",
    remediation=(
        "Set the engine's TLS parameter in a custom parameter group and attach it to the instances (default "
        "groups cannot be modified).\n"
        "CLI: aws rds modify-db-parameter-group --db-parameter-group-name NAME "
        '--parameters "ParameterName=rds.force_ssl,ParameterValue=1,ApplyMethod=immediate"\n'
        'Terraform: resource "aws_db_parameter_group" "pg" { family = "postgres16"  parameter { name = '
        '"rds.force_ssl"  value = "1" } }'
    ),
    permissions=("rds:DescribeDBInstances", "rds:DescribeDBParameters"),
    parameters={"rules": TLS_RULES},
)
def parameter_group_tls_enforced(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return tls_enforced(snap, params.get("rules", TLS_RULES), "DB parameter group", "attached_instances")


@check(
    id="rds_cluster_parameter_group_tls_enforced",
    title="RDS cluster parameter groups require TLS connections",
    description=(
        "Every DB cluster parameter group attached to an Aurora or Multi-AZ DB cluster makes the engine refuse "
        "unencrypted client connections: rds.force_ssl=1 for PostgreSQL engines, require_secure_transport=ON "
        "for MySQL engines."
    ),
    severity=Severity.MEDIUM,
    resource_type=DB_CLUSTER_PARAMETER_GROUP,
    service="rdsextra",
    remediation=(
        "Set the engine's TLS parameter in a custom cluster parameter group and attach it to the cluster.\n"
        "CLI: aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name NAME "
        '--parameters "ParameterName=require_secure_transport,ParameterValue=ON,ApplyMethod=immediate"\n'
        'Terraform: resource "aws_rds_cluster_parameter_group" "pg" { family = "aurora-mysql8.0"  parameter { '
        'name = "require_secure_transport"  value = "ON" } }'
    ),
    permissions=("rds:DescribeDBClusters", "rds:DescribeDBClusterParameters"),
    parameters={"rules": CLUSTER_TLS_RULES},
)
def cluster_parameter_group_tls_enforced(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return tls_enforced(snap, params.get("rules", CLUSTER_TLS_RULES), "DB cluster parameter group", "attached_clusters")
