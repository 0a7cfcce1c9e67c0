"""Every AWS request attempt is counted by service, operation and outcome (throttles and denials apart)."""

from __future__ import annotations

from typing import Any

import boto3
from prometheus_client import REGISTRY

from guardian_collector.aws_metrics import outcome_of
from guardian_testkit.faults import FaultProxy, FaultRule
from guardian_testkit.moto import MotoServer


def counted(service: str, operation: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "guardian_aws_requests_total", {"service": service, "operation": operation, "outcome": outcome}
    )
    return value or 0.0


async def test_throttled_denied_and_good_attempts_are_counted(moto: MotoServer, collect: Any) -> None:
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket="metrics-bucket")
    before = {
        ("s3", "ListBuckets", "throttled"): counted("s3", "ListBuckets", "throttled"),
        ("s3", "ListBuckets", "ok"): counted("s3", "ListBuckets", "ok"),
        ("iam", "GetAccountPasswordPolicy", "denied"): counted("iam", "GetAccountPasswordPolicy", "denied"),
    }
    with FaultProxy(moto.url) as proxy:
        proxy.add_rule(FaultRule(service="s3", operation="ListBuckets", fault="throttle", times=1))
        proxy.add_rule(FaultRule(service="iam", operation="GetAccountPasswordPolicy", fault="access_denied"))
        await collect(["s3", "iam"], endpoint=proxy.url)

    # The throttled attempt, then its successful retry; the denial (not retried) once.
    assert counted("s3", "ListBuckets", "throttled") - before[("s3", "ListBuckets", "throttled")] == 1
    assert counted("s3", "ListBuckets", "ok") - before[("s3", "ListBuckets", "ok")] == 1
    denied = (
        counted("iam", "GetAccountPasswordPolicy", "denied") - before[("iam", "GetAccountPasswordPolicy", "denied")]
    )
    assert denied == 1


def test_outcomes_are_classified_by_code_before_status() -> None:
    assert outcome_of(400, "ThrottlingException", False) == "throttled"
    assert outcome_of(503, "SlowDown", False) == "throttled"
    assert outcome_of(403, "UnauthorizedOperation", False) == "denied"
    assert outcome_of(500, "InternalError", False) == "server_error"
    assert outcome_of(404, "NoSuchBucket", False) == "client_error"
    assert outcome_of(200, None, False) == "ok"
    assert outcome_of(None, None, True) == "network_error"
