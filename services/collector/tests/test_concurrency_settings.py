"""The governor's knobs as collector settings: validation, and what they do to a throttled collection.

Settings are read from ``GUARDIAN_*`` variables as the service reads them at start; a bad value stops
the service with a message naming the setting. The throttling test collects SQS and SNS through the
fault proxy, once calm and once with ten SQS answers throttled, with a governor built from
settings; it asserts on the collection and on the concurrency values the governor recorded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from guardian_collector.collection import AwsTarget, ClientPool, collect_account
from guardian_collector.collectors.base import Resource
from guardian_collector.concurrency import PUBLISHED_RATE_LIMITS, RateLimit
from guardian_collector.settings import CollectorSettings
from guardian_testkit.faults import FaultProxy, FaultRule
from guardian_testkit.moto import MotoServer

ACCOUNT = "123456789012"
REGION = "us-east-1"


def settings_from(monkeypatch: pytest.MonkeyPatch, **values: str) -> CollectorSettings:
    for name, value in values.items():
        monkeypatch.setenv(f"GUARDIAN_{name.upper()}", value)
    return CollectorSettings()


def test_defaults_describe_the_documented_governor(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch)
    assert (settings.per_service_concurrency, settings.aws_concurrency_min, settings.aws_concurrency_max) == (8, 1, 32)
    assert (settings.aws_concurrency_total, settings.aws_concurrency_backoff) == (256, 0.5)
    assert settings.aws_adaptive_concurrency is True
    governor = settings.governor()
    assert governor.bounds("s3") == (8, 1, 32)
    assert governor.overall.maximum == 256
    assert governor.rate_limits == PUBLISHED_RATE_LIMITS


def test_every_knob_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(
        monkeypatch,
        per_service_concurrency="4",
        aws_concurrency_min="2",
        aws_concurrency_max="16",
        aws_concurrency_total="40",
        aws_concurrency_backoff="0.75",
        aws_service_concurrency='{"iam": {"maximum": 6}, "s3": {"initial": 12, "minimum": 3}}',
        aws_rate_limits='{"s3": {"per_second": 100, "burst": 200}, "ec2": {"per_second": 5, "burst": 10}}',
    )
    governor = settings.governor()
    assert governor.bounds("iam") == (4, 2, 6)
    assert governor.bounds("s3") == (12, 3, 16)
    assert governor.bounds("kms") == (4, 2, 16)
    assert governor.overall.maximum == 40
    assert governor.backoff == 0.75
    # Named rates replace the published ones; the other published ones stay.
    assert governor.rate_limits["s3"] == RateLimit(per_second=100, burst=200)
    assert governor.rate_limits["ec2"] == RateLimit(per_second=5, burst=10)
    assert governor.rate_limits["route53"] == PUBLISHED_RATE_LIMITS["route53"]
    # A collection's clients get the same governor through the AwsTarget the scan service builds.
    target = AwsTarget(
        per_service_concurrency=settings.per_service_concurrency,
        min_concurrency=settings.aws_concurrency_min,
        max_concurrency=settings.aws_concurrency_max,
        total_concurrency=settings.aws_concurrency_total,
        concurrency_backoff=settings.aws_concurrency_backoff,
        service_concurrency=settings.service_limits(),
        rate_limits=settings.rate_limits(),
    )
    built = target.governor()
    assert built is not None
    assert built.bounds("iam") == governor.bounds("iam")
    assert built.rate_limits == governor.rate_limits
    limit = built.limit_for("iam", REGION)
    assert (limit.limit, limit.minimum, limit.maximum, limit.backoff) == (4, 2, 6, 0.75)
    assert AwsTarget(adaptive_concurrency=False).governor() is None


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"aws_concurrency_min": "9"}, "GUARDIAN_AWS_CONCURRENCY_MIN"),
        ({"aws_concurrency_max": "4"}, "GUARDIAN_AWS_CONCURRENCY_MAX"),
        ({"aws_concurrency_backoff": "1"}, "aws_concurrency_backoff"),
        ({"aws_concurrency_backoff": "0"}, "aws_concurrency_backoff"),
        ({"aws_concurrency_total": "0"}, "aws_concurrency_total"),
        ({"aws_service_concurrency": '{"iam": {"minimum": 8, "maximum": 4}}'}, "GUARDIAN_AWS_SERVICE_CONCURRENCY: iam"),
        ({"aws_service_concurrency": '{"iam": {"maximum": 0}}'}, "maximum"),
        ({"aws_service_concurrency": '{"iam": {"ceiling": 4}}'}, "ceiling"),
        ({"aws_service_concurrency": '{"Not A Service": {"maximum": 4}}'}, "Not A Service"),
        ({"aws_rate_limits": '{"s3": {"per_second": 0, "burst": 10}}'}, "per_second"),
        ({"aws_rate_limits": '{"s3": {"per_second": 10, "burst": 0.5}}'}, "burst"),
        ({"aws_rate_limits": '{"s3": {"per_second": 10}}'}, "burst"),
    ],
)
def test_inconsistent_knobs_are_refused_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        settings_from(monkeypatch, **values)
    assert named in str(raised.value)


@pytest.fixture
def seeded(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, emptied, with 24 queues and 12 topics."""
    moto_server.reset()
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_server.url, **keys)
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_server.url, **keys)
    for i in range(24):
        sqs.create_queue(QueueName=f"knob-queue-{i:02d}")
    for i in range(12):
        sns.create_topic(Name=f"knob-topic-{i:02d}")
    return moto_server


async def collect(proxy: FaultProxy, target: AwsTarget) -> tuple[dict[str, Any], list[str], dict[str, Any], Any]:
    emitted: dict[str, Any] = {}

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted[resource.arn] = resource.configuration

    async with ClientPool(target) as pool:
        outcome = await collect_account(pool, account_id=ACCOUNT, regions=[REGION], services=["sqs", "sns"], emit=emit)
        assert pool.governor is not None
        return emitted, [u.status.value for u in outcome.units], pool.governor.report(), pool.governor.overall


async def test_throttling_backs_off_by_the_configured_factor_within_the_configured_bounds(
    seeded: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto = seeded
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = settings_from(
        monkeypatch,
        per_service_concurrency="6",
        aws_concurrency_min="2",
        aws_concurrency_max="12",
        aws_concurrency_total="10",
        aws_concurrency_backoff="0.25",
        aws_service_concurrency='{"sqs": {"initial": 8, "maximum": 8}}',
    )
    target = AwsTarget(
        max_attempts=10,
        per_service_concurrency=settings.per_service_concurrency,
        min_concurrency=settings.aws_concurrency_min,
        max_concurrency=settings.aws_concurrency_max,
        total_concurrency=settings.aws_concurrency_total,
        concurrency_backoff=settings.aws_concurrency_backoff,
        service_concurrency=settings.service_limits(),
        rate_limits=settings.rate_limits(),
    )
    with FaultProxy(moto.url, seed=11) as proxy:
        target = replace(target, endpoint_url=proxy.url)
        calm, calm_units, calm_report, _ = await collect(proxy, target)
        proxy.add_rule(FaultRule(service="sqs", fault="throttle", probability=0.5, times=10))
        stormy, units, report, overall = await collect(proxy, target)
        throttle_answers = sum(n for (service, _, fault), n in proxy.injected.items() if fault == "throttle")

    # The collection completes, unchanged by the throttling.
    assert len(calm) == 24 + 12 + 2  # queues, topics, the account context (global and regional)
    assert set(units) == set(calm_units) == {"complete"}
    assert stormy == calm
    assert throttle_answers > 0

    sqs = report[f"sqs/{REGION}"]
    sns = report[f"sns/{REGION}"]
    assert sqs["throttled"] == throttle_answers
    assert sqs["decreases"] >= 1
    # Its own bounds: started at 8, never above 8, never below 2; a decrease from at most 8 by 0.25
    # lands at 2 at most, so the limit went down that far.
    assert (sqs["initial"], sqs["minimum"], sqs["maximum"]) == (8, 2, 8)
    assert sqs["highest_limit"] <= 8
    assert sqs["lowest_limit"] == 2
    assert sqs["limit"] >= 2
    assert sqs["peak_in_flight"] <= 8
    # SNS was not throttled: the general bounds, no decrease.
    assert (sns["initial"], sns["minimum"], sns["maximum"]) == (6, 2, 12)
    assert (sns["throttled"], sns["decreases"], sns["lowest_limit"]) == (0, 0, 6)
    assert sns["peak_in_flight"] <= 12
    # The overall cap held across both services.
    assert overall.maximum == 10
    assert 1 <= overall.peak_in_flight <= 10
    assert overall.requests == sum(r["requests"] for r in report.values())
    assert all(r["throttled"] == 0 and r["decreases"] == 0 for r in calm_report.values())
