"""Targeted scans (remediation's verification): which collectors and regions re-read given ARNs."""

from __future__ import annotations

import pytest

from guardian_collector.collectors import all_collectors
from guardian_collector.collectors.base import COLLECTORS
from guardian_collector.scans.schemas import ScanRequest
from guardian_collector.scans.targets import TargetError, collector_of, plan_targets, targets_key

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("arn", "collector"),
    [
        ("arn:aws:s3:::bucket", "s3"),
        (f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc/vpc-1", "ec2"),
        (f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-1", "ec2fleet"),
        (f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders", "rds"),
        (f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:ledger", "rdsextra"),
        (f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/web/1", "elbv2"),
        (f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/classic", "elb"),
        (f"arn:aws:es:us-east-1:{ACCOUNT}:domain/search", "opensearch"),
        (f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app", "logs"),
        (f"arn:aws::us-east-1:{ACCOUNT}:account", None),
    ],
)
def test_the_collector_follows_from_the_arn(arn: str, collector: str | None) -> None:
    assert collector_of(arn) == collector
    all_collectors()
    assert collector is None or collector in COLLECTORS


def test_services_and_regions_of_a_target_set() -> None:
    arns = ["arn:aws:s3:::b", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"]
    assert plan_targets(arns, None) == (["kms", "s3", "sqs"], ["eu-west-1", "us-east-1"])
    # An account context needs its services named; then they win.
    context = f"arn:aws::us-east-1:{ACCOUNT}:account"
    with pytest.raises(TargetError, match="account context"):
        plan_targets([context], None)
    assert plan_targets([context], ["ec2"]) == (["ec2"], ["us-east-1"])


def test_bad_targets_are_refused() -> None:
    with pytest.raises(TargetError, match="not an ARN"):
        plan_targets(["bucket"], None)
    with pytest.raises(TargetError, match="cannot tell"):
        plan_targets([f"arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/v"], None)
    with pytest.raises(TargetError, match="at most"):
        plan_targets([f"arn:aws:s3:::b{n}" for n in range(1001)], None)


def test_targeted_scans_have_scopes_of_their_own_and_requests_are_normalised() -> None:
    a = targets_key(ACCOUNT, ["arn:aws:s3:::x", "arn:aws:s3:::y"], ["s3"], "scan-1")
    assert a.startswith("targeted|")
    # Two targeted scans never block each other (they close nothing), even of the same targets.
    assert a != targets_key(ACCOUNT, ["arn:aws:s3:::y", "arn:aws:s3:::x"], ["s3"], "scan-2")
    request = ScanRequest(resource_arns=["arn:aws:s3:::y", "arn:aws:s3:::x", "arn:aws:s3:::y"]).normalised()
    assert request.resource_arns == ["arn:aws:s3:::x", "arn:aws:s3:::y"]
