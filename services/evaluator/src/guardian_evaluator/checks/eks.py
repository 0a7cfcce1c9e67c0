"""Checks on EKS clusters (``AWS::EKS::Cluster``).

The eks collector's configuration: ``endpoint_public_access``, ``endpoint_private_access``,
``public_access_cidrs``, ``enabled_log_types`` (control-plane logs sent to CloudWatch Logs) and
``secrets_encryption_key`` (the KMS key encrypting Kubernetes secrets, or ``None``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

CLUSTER = "AWS::EKS::Cluster"


def _open(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return True  # an unreadable range is not proof of a restriction


@check(
    id="eks_cluster_endpoint_not_public",
    title="EKS cluster API endpoints are not open to the internet",
    description=(
        "The Kubernetes API endpoint is private, or public only to listed address ranges (none of them "
        "0.0.0.0/0 or ::/0), so the cluster's control plane is not reachable from anywhere."
    ),
    severity=Severity.HIGH,
    resource_type=CLUSTER,
    service="eks",
    remediation=(
        "Turn on the private endpoint and turn off (or restrict) the public one.\n"
        "CLI: aws eks update-cluster-config --name CLUSTER --resources-vpc-config "
        "endpointPrivateAccess=true,endpointPublicAccess=false\n"
        'Terraform: resource "aws_eks_cluster" "main" { vpc_config { endpoint_private_access = true, '
        "endpoint_public_access = false } }"
    ),
    permissions=("eks:DescribeCluster",),
)
def eks_cluster_endpoint_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "endpoint_public_access", "public_access_cidrs")) is not None:
        return err
    if snap.configuration["endpoint_public_access"] is False:
        return passed(f"EKS cluster {snap.name} has no public API endpoint")
    cidrs = [str(c) for c in snap.configuration["public_access_cidrs"] or []]
    wide = [c for c in cidrs if _open(c)]
    if not cidrs or wide:
        shown = ", ".join(wide) if wide else "no CIDR restriction"
        return failed(f"EKS cluster {snap.name} exposes its API endpoint to the internet ({shown})", cidrs=cidrs)
    return passed(f"EKS cluster {snap.name} has a public API endpoint restricted to {', '.join(cidrs)}", cidrs=cidrs)


@check(
    id="eks_cluster_audit_logging",
    title="EKS control-plane audit logs are sent to CloudWatch Logs",
    description=(
        "The cluster sends its control-plane audit log (and any other required log types, the "
        "required_log_types parameter) to CloudWatch Logs, recording who did what through the Kubernetes API."
    ),
    severity=Severity.MEDIUM,
    resource_type=CLUSTER,
    service="eks",
    remediation=(
        "Enable the audit (and authenticator) control-plane logs.\n"
        "CLI: aws eks update-cluster-config --name CLUSTER --logging "
        '\'{"clusterLogging":[{"types":["audit","authenticator"],"enabled":true}]}\'\n'
        'Terraform: resource "aws_eks_cluster" "main" { enabled_cluster_log_types = ["audit", "authenticator"] }'
    ),
    permissions=("eks:DescribeCluster",),
    parameters={"required_log_types": ["audit"]},
)
def eks_cluster_audit_logging(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "enabled_log_types")) is not None:
        return err
    enabled = snap.configuration["enabled_log_types"]
    if not isinstance(enabled, list):
        return errored(f"The log types of EKS cluster {snap.name} are not a list ({enabled!r})")
    missing = [str(t) for t in params["required_log_types"] if t not in enabled]
    if missing:
        return failed(
            f"EKS cluster {snap.name} does not send {', '.join(missing)} logs to CloudWatch Logs "
            f"(enabled: {', '.join(enabled) or 'none'})",
            missing=missing,
        )
    return passed(f"EKS cluster {snap.name} sends {', '.join(enabled)} logs to CloudWatch Logs")


@check(
    id="eks_cluster_secrets_encrypted",
    title="EKS clusters encrypt Kubernetes secrets with a KMS key",
    description=(
        "Envelope encryption of Kubernetes secrets with a customer-managed KMS key is on, so secrets stored in "
        "etcd are protected by a key the account controls."
    ),
    severity=Severity.MEDIUM,
    resource_type=CLUSTER,
    service="eks",
    remediation=(
        "Associate a KMS key for secrets encryption.\n"
        "CLI: aws eks associate-encryption-config --cluster-name CLUSTER --encryption-config "
        '\'[{"resources":["secrets"],"provider":{"keyArn":"KEY_ARN"}}]\'\n'
        'Terraform: resource "aws_eks_cluster" "main" { encryption_config { resources = ["secrets"], '
        "provider { key_arn = aws_kms_key.eks.arn } } }"
    ),
    permissions=("eks:DescribeCluster",),
)
def eks_cluster_secrets_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "secrets_encryption_key")) is not None:
        return err
    key = snap.configuration["secrets_encryption_key"]
    if not key:
        return failed(f"EKS cluster {snap.name} does not encrypt Kubernetes secrets with a KMS key")
    return passed(f"EKS cluster {snap.name} encrypts Kubernetes secrets with KMS key {key}", key=key)
