"""Targeted scans: which collectors and regions re-read a given set of resources.

Remediation verifies a fix by re-collecting exactly the resources it changed. A targeted scan runs
only the collectors that list those resources, only in their regions, and publishes snapshots of
those ARNs alone, so it says nothing about any other resource (compliance closes nothing else).
"""

from __future__ import annotations

import hashlib

MAX_TARGETS = 1000

# ARN service segment -> collector, for the resources whose collector follows from the ARN alone.
_BY_ARN_SERVICE = {
    "s3": "s3",
    "sqs": "sqs",
    "sns": "sns",
    "logs": "logs",
    "kms": "kms",
    "dynamodb": "dynamodb",
    "es": "opensearch",
    "cloudtrail": "cloudtrail",
    "iam": "iam",
    "lambda": "lambda",
    "redshift": "redshift",
    "secretsmanager": "secretsmanager",
    "ecr": "ecr",
    "eks": "eks",
    "acm": "acm",
    "backup": "backup",
    "cloudfront": "cloudfront",
    "elasticfilesystem": "efs",
    "elasticache": "elasticache",
    "autoscaling": "autoscaling",
    "cloudformation": "cloudformation",
}
# EC2 resource kinds the `ec2` collector lists; other EC2 kinds belong to `ec2fleet`.
_EC2_CORE = ("volume/", "security-group/", "vpc/")


class TargetError(ValueError):
    """A target ARN that is malformed or whose collector cannot be told from it."""


def arn_parts(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1]:
        raise TargetError(f"not an ARN: {arn!r}")
    return parts[2], parts[3], parts[4], parts[5]


def collector_of(arn: str) -> str | None:
    """The collector that lists the resource, or None for an account context (``...:account``)."""
    service, _region, _account, resource = arn_parts(arn)
    if service == "" and resource == "account":
        return None
    if service == "ec2":
        return "ec2" if resource.startswith(_EC2_CORE) else "ec2fleet"
    if service == "rds":
        return "rds" if resource.startswith("db:") else "rdsextra"
    if service == "elasticloadbalancing":
        return "elbv2" if resource.startswith(("loadbalancer/app/", "loadbalancer/net/", "targetgroup/")) else "elb"
    if service == "apigateway":
        return "apigateway"
    if service in _BY_ARN_SERVICE:
        return _BY_ARN_SERVICE[service]
    raise TargetError(f"cannot tell which collector lists {arn}; name the services of the scan")


def plan_targets(arns: list[str], services: list[str] | None) -> tuple[list[str], list[str]]:
    """The services and regions a targeted scan of ``arns`` collects.

    ``services`` given by the caller wins (an account context's fields come from several
    collectors, so its target needs them named); otherwise they follow from the ARNs.
    """
    if len(arns) > MAX_TARGETS:
        raise TargetError(f"a targeted scan takes at most {MAX_TARGETS} resources, got {len(arns)}")
    regions: set[str] = set()
    derived: set[str] = set()
    for arn in arns:
        _service, region, account, _resource = arn_parts(arn)
        if account and not account.isdigit():
            raise TargetError(f"the ARN {arn} names no valid account")
        if region:
            regions.add(region)
        collector = collector_of(arn)
        if collector is not None:
            derived.add(collector)
        elif not services:
            raise TargetError(f"{arn} is an account context: name the services whose settings it should re-read")
    return sorted(set(services) if services else derived), sorted(regions)


def targets_key(account_id: str, arns: list[str], services: list[str], scan_id: str) -> str:
    """The scope key of a targeted scan: its own, so targeted scans never wait for one another.

    "One running scan per scope" protects full scans, whose ends close resources; a targeted scan
    closes nothing, and its verdicts apply only if newer, so two of them may overlap.
    """
    digest = hashlib.sha256("\n".join(sorted(set(arns))).encode()).hexdigest()[:16]
    return f"targeted|{account_id}|{digest}|{','.join(services)}|{scan_id}"
