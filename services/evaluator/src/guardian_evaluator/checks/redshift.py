"""Redshift checks on provisioned clusters (``AWS::Redshift::Cluster``): encryption, public
accessibility, audit logging, TLS required by the parameter group and automated snapshot retention."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, mapping, need, whole_number
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

CLUSTER = "AWS::Redshift::Cluster"
DESCRIBE = ("redshift:DescribeClusters",)


@check(
    id="redshift_cluster_encrypted",
    title="Redshift clusters are encrypted at rest",
    description="Every Redshift cluster encrypts its data blocks, system metadata and snapshots with a KMS key.",
    severity=Severity.HIGH,
    resource_type=CLUSTER,
    service="redshift",
    remediation=(
        "Turn on encryption; Redshift migrates the data to an encrypted cluster in place.\n"
        "CLI: aws redshift modify-cluster --cluster-identifier ID --encrypted --kms-key-id alias/warehouse\n"
        'Terraform: resource "aws_redshift_cluster" "c" { encrypted = true  kms_key_id = aws_kms_key.dw.arn }'
    ),
    permissions=DESCRIBE,
)
def cluster_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "encrypted")
    if isinstance(value, Verdict):
        return value
    if value:
        key = snap.configuration.get("kms_key_id")
        return passed(f"Redshift cluster {snap.name} is encrypted" + (f" with KMS key {key}" if key else ""))
    return failed(f"Redshift cluster {snap.name} is not encrypted")


@check(
    id="redshift_cluster_not_public",
    title="Redshift clusters are not publicly accessible",
    description="No Redshift cluster is publicly accessible (reachable through a public IP address).",
    severity=Severity.CRITICAL,
    resource_type=CLUSTER,
    service="redshift",
    remediation=(
        "Turn off public accessibility and reach the cluster from inside the VPC.\n"
        "CLI: aws redshift modify-cluster --cluster-identifier ID --no-publicly-accessible\n"
        'Terraform: resource "aws_redshift_cluster" "c" { publicly_accessible = false }'
    ),
    permissions=DESCRIBE,
)
def cluster_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "publicly_accessible")
    if isinstance(value, Verdict):
        return value
    if value:
        return failed(f"Redshift cluster {snap.name} is publicly accessible", publicly_accessible=True)
    return passed(f"Redshift cluster {snap.name} is not publicly accessible", publicly_accessible=False)


@check(
    id="redshift_cluster_audit_logging",
    title="Redshift clusters have audit logging",
    description=(
        "Every Redshift cluster has audit logging enabled (connection, user and user activity logs delivered to "
        "S3 or CloudWatch Logs)."
    ),
    severity=Severity.MEDIUM,
    resource_type=CLUSTER,
    service="redshift",
    remediation=(
        "Enable audit logging to CloudWatch Logs or an S3 bucket.\n"
        "CLI: aws redshift enable-logging --cluster-identifier ID --log-destination-type cloudwatch "
        "--log-exports connectionlog userlog useractivitylog\n"
        'Terraform: resource "aws_redshift_logging" "c" { cluster_identifier = aws_redshift_cluster.c.id  '
        'log_destination_type = "cloudwatch"  log_exports = ["connectionlog", "userlog", "useractivitylog"] }'
    ),
    permissions=("redshift:DescribeLoggingStatus",),
)
def cluster_audit_logging(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    logging = mapping(snap, "audit_logging")
    if isinstance(logging, Verdict):
        return logging
    if logging.get("enabled") is True:
        where = logging.get("bucket") or logging.get("destination_type") or "its destination"
        return passed(f"Redshift cluster {snap.name} writes audit logs to {where}")
    return failed(f"Redshift cluster {snap.name} has audit logging disabled")


@check(
    id="redshift_cluster_require_ssl",
    title="Redshift clusters require TLS connections",
    description="Every Redshift cluster's parameter group sets require_ssl to true, so clients must connect over TLS.",
    severity=Severity.MEDIUM,
    resource_type=CLUSTER,
    service="redshift",
    remediation=(
        "Set require_ssl=true in a custom parameter group attached to the cluster (default groups cannot change).\n"
        "CLI: aws redshift modify-cluster-parameter-group --parameter-group-name NAME "
        "--parameters ParameterName=require_ssl,ParameterValue=true\n"
        'Terraform: resource "aws_redshift_parameter_group" "p" { family = "redshift-1.0"  parameter { name = '
        '"require_ssl"  value = "true" } }'
    ),
    permissions=("redshift:DescribeClusters", "redshift:DescribeClusterParameters"),
)
def cluster_require_ssl(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "require_ssl", "parameter_group")) is not None:
        return err
    value = snap.configuration["require_ssl"]
    group = snap.configuration["parameter_group"]
    if group is None:
        return errored(f"Redshift did not report the parameter group of cluster {snap.name}")
    if value is None:
        return failed(f"Redshift cluster {snap.name}: parameter group {group} does not set require_ssl")
    if str(value).strip().lower() == "true":
        return passed(f"Redshift cluster {snap.name} requires TLS (require_ssl=true in {group})")
    return failed(
        f"Redshift cluster {snap.name} accepts unencrypted connections (require_ssl={value} in {group})",
        require_ssl=value,
    )


@check(
    id="redshift_cluster_snapshot_retention",
    title="Redshift clusters keep automated snapshots",
    description=(
        "Every Redshift cluster keeps automated snapshots for at least the minimum number of days (0 turns "
        "automated snapshots off)."
    ),
    severity=Severity.MEDIUM,
    resource_type=CLUSTER,
    service="redshift",
    remediation=(
        "Set the automated snapshot retention period to at least the required number of days.\n"
        "CLI: aws redshift modify-cluster --cluster-identifier ID --automated-snapshot-retention-period 7\n"
        'Terraform: resource "aws_redshift_cluster" "c" { automated_snapshot_retention_period = 7 }'
    ),
    permissions=DESCRIBE,
    parameters={"min_retention_days": 1},
)
def cluster_snapshot_retention(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    days = whole_number(snap, "automated_snapshot_retention_period")
    if isinstance(days, Verdict):
        return days
    minimum = max(1, int(params.get("min_retention_days", 1)))
    evidence = {"automated_snapshot_retention_period": days, "min_retention_days": minimum}
    if days == 0:
        return failed(f"Redshift cluster {snap.name} has automated snapshots turned off", **evidence)
    if days < minimum:
        return failed(
            f"Redshift cluster {snap.name} keeps automated snapshots for {days} day(s), fewer than the required "
            f"{minimum}",
            **evidence,
        )
    return passed(f"Redshift cluster {snap.name} keeps automated snapshots for {days} day(s)", **evidence)
