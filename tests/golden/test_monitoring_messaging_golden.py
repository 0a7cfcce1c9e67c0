"""Golden tests: CloudWatch Logs, the CIS alert chains, SNS and SQS seeded in moto, collected by the
real collectors (logs, monitoring, sns, sqs) and judged by the real checks.

Every check of these services is shown PASS on a well-configured resource (or account) and FAIL on
a badly configured one. moto serves every API these collectors call (DescribeTrails,
DescribeMetricFilters, DescribeAlarms, ListSubscriptions, GetTopicAttributes, GetQueueAttributes,
ListDeadLetterSourceQueues, DescribeLogGroups). moto confirms every subscription at once, so a
pending subscription is not seeded here (the unit tests cover it); a topic without subscriptions
stands in for "nobody is notified". Faults (access denied) are injected with a botocore
``before-call`` handler answering an AWS error in moto's place, so the collectors' own error
handling runs, and the affected checks turn ERROR, never PASS.
"""

from __future__ import annotations

import json
from typing import Any

import golden_support
from golden_support import (
    ACCOUNT,
    ACCOUNT_TYPE,
    Answer,
    Emitted,
    Intercept,
    account_context,
    answering,
    by_type,
    refusal,
    status,
    units,
    verdict,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_collector.collection import CollectionOutcome
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_evaluator.checks.monitoring import CIS_EVENTS
from guardian_evaluator.registry import REGISTRY
from guardian_testkit.moto import MotoServer

EAST, WEST = "us-east-1", "eu-west-1"
REGIONS = [EAST, WEST]
SERVICES = ["logs", "monitoring", "sns", "sqs"]
TRAIL_BUCKET = "guardian-golden-trail-logs"
TRAIL = "org-trail"
TRAIL_GROUP = "cloudtrail-events"
TRAIL_GROUP_ARN = f"arn:aws:logs:{EAST}:{ACCOUNT}:log-group:{TRAIL_GROUP}:*"
CW_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cloudtrail-to-cloudwatch"
NAMESPACE = "CISBenchmark"
CIS_IDS = [
    "cloudwatch_alarm_unauthorized_api_calls",
    "cloudwatch_alarm_console_signin_without_mfa",
    "cloudwatch_alarm_root_usage",
    "cloudwatch_alarm_iam_policy_changes",
    "cloudwatch_alarm_cloudtrail_changes",
    "cloudwatch_alarm_console_auth_failures",
    "cloudwatch_alarm_cmk_disable_or_deletion",
    "cloudwatch_alarm_s3_bucket_policy_changes",
    "cloudwatch_alarm_config_changes",
    "cloudwatch_alarm_security_group_changes",
    "cloudwatch_alarm_nacl_changes",
    "cloudwatch_alarm_network_gateway_changes",
    "cloudwatch_alarm_route_table_changes",
    "cloudwatch_alarm_vpc_changes",
    "cloudwatch_alarm_organizations_changes",
]

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

load_all()


def denied(code: str = "AccessDeniedException") -> Answer:
    return refusal(code)


async def collect(moto: MotoServer, intercept: Intercept | None = None) -> tuple[Emitted, CollectionOutcome]:
    """The real collectors against moto; ``intercept(service, operation, region)`` may answer instead."""
    handlers = None if intercept is None else {"before-call": answering(intercept)}
    return await golden_support.collect(moto, SERVICES, regions=REGIONS, handlers=handlers)


def statuses(emitted: Emitted, resource_type: str, prefix: str) -> dict[str, dict[str, Status | None]]:
    return {
        name: {c.id: status(c.id, r) for c in REGISTRY.for_type(resource_type) if c.id.startswith(prefix)}
        for name, r in by_type(emitted, resource_type).items()
    }


# --- seeding ---------------------------------------------------------------------------------


def seed_trail(moto: MotoServer, *, multi_region: bool = True, group_arn: str = TRAIL_GROUP_ARN) -> None:
    moto.client("s3", EAST).create_bucket(Bucket=TRAIL_BUCKET)
    logs = moto.client("logs", EAST)
    logs.create_log_group(logGroupName=TRAIL_GROUP)
    trails = moto.client("cloudtrail", EAST)
    trails.create_trail(
        Name=TRAIL,
        S3BucketName=TRAIL_BUCKET,
        IsMultiRegionTrail=multi_region,
        CloudWatchLogsLogGroupArn=group_arn,
        CloudWatchLogsRoleArn=CW_ROLE,
    )
    # moto keeps no default selector (AWS records all management events by default): set it.
    trails.put_event_selectors(
        TrailName=TRAIL, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )
    trails.start_logging(Name=TRAIL)


def topic(moto: MotoServer, name: str, *, subscribed: bool) -> str:
    sns = moto.client("sns", EAST)
    arn = str(sns.create_topic(Name=name)["TopicArn"])
    if subscribed:
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="security@example.com")
    return arn


def metric_filter(moto: MotoServer, key: str, pattern: str) -> None:
    moto.client("logs", EAST).put_metric_filter(
        logGroupName=TRAIL_GROUP,
        filterName=f"cis-{key}",
        filterPattern=pattern,
        metricTransformations=[{"metricName": f"cis-{key}", "metricNamespace": NAMESPACE, "metricValue": "1"}],
    )


def alarm(moto: MotoServer, key: str, actions: list[str], *, enabled: bool = True) -> None:
    moto.client("cloudwatch", EAST).put_metric_alarm(
        AlarmName=f"cis-{key}",
        MetricName=f"cis-{key}",
        Namespace=NAMESPACE,
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        ActionsEnabled=enabled,
        AlarmActions=actions,
    )


def squeezed(pattern: str) -> str:
    """The same pattern written without optional spaces: matching must not depend on whitespace."""
    for token in (" = ", " != ", " && ", " || ", "( ", " )", "{ ", " }"):
        pattern = pattern.replace(token, token.strip())
    return pattern


def seed_all_chains(moto: MotoServer) -> None:
    seed_trail(moto)
    arn = topic(moto, "security-alerts", subscribed=True)
    for index, event in enumerate(CIS_EVENTS):
        metric_filter(moto, event.key, squeezed(event.pattern) if index % 2 else event.pattern)
        alarm(moto, event.key, [arn])


def seed_logs_sns_sqs(moto: MotoServer) -> None:
    key = str(moto.client("kms", EAST).create_key(Description="logs")["KeyMetadata"]["Arn"])
    logs = moto.client("logs", EAST)
    logs.create_log_group(logGroupName="audit-archive", kmsKeyId=key)
    logs.put_retention_policy(logGroupName="audit-archive", retentionInDays=400)
    moto.client("logs", WEST).create_log_group(logGroupName="debug-scratch")
    moto.client("logs", WEST).put_retention_policy(logGroupName="debug-scratch", retentionInDays=7)

    sns = moto.client("sns", EAST)
    sns.create_topic(Name="encrypted-alerts", Attributes={"KmsMasterKeyId": "alias/aws/sns"})
    public = str(sns.create_topic(Name="open-topic")["TopicArn"])
    everyone = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "SNS:Publish", "Resource": public}
        ],
    }
    sns.set_topic_attributes(TopicArn=public, AttributeName="Policy", AttributeValue=json.dumps(everyone))

    sqs = moto.client("sqs", EAST)
    dlq_url = sqs.create_queue(QueueName="orders-dlq", Attributes={"SqsManagedSseEnabled": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(
        QueueName="orders",
        Attributes={
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )
    cloudwatch = moto.client("cloudwatch", EAST)
    operations = str(sns.create_topic(Name="ops-pager")["TopicArn"])
    for metric in ("ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"):
        cloudwatch.put_metric_alarm(
            AlarmName=f"orders-{metric}",
            Namespace="AWS/SQS",
            MetricName=metric,
            Dimensions=[{"Name": "QueueName", "Value": "orders"}],
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=3,
            Threshold=900,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[operations],
        )
    legacy = moto.client("sqs", WEST).create_queue(QueueName="legacy", Attributes={"SqsManagedSseEnabled": "false"})
    legacy_arn = f"arn:aws:sqs:{WEST}:{ACCOUNT}:legacy"
    open_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage", "Resource": legacy_arn}
        ],
    }
    moto.client("sqs", WEST).set_queue_attributes(
        QueueUrl=legacy["QueueUrl"], Attributes={"Policy": json.dumps(open_policy)}
    )


# --- tests -----------------------------------------------------------------------------------


async def test_every_cis_alert_chain_passes_when_complete(moto: MotoServer) -> None:
    assert [f"cloudwatch_alarm_{e.key}" for e in CIS_EVENTS] == CIS_IDS
    seed_all_chains(moto)
    seed_logs_sns_sqs(moto)

    emitted, outcome = await collect(moto)

    assert all(s is UnitStatus.COMPLETE for s in units(outcome).values()), outcome.units
    context = account_context(emitted)
    for check_id in CIS_IDS:
        result = verdict(check_id, context)
        assert result is not None
        assert result[0] == PASS, (check_id, result)
        assert f"trail {TRAIL} -> log group {TRAIL_GROUP_ARN} -> metric filter cis-" in result[1]
        assert "(1 confirmed subscription(s))" in result[1]
        # The regional snapshots do not carry the chain: the checks do not apply there.
        regional = [r for r, _, _ in emitted if r.resource_type == ACCOUNT_TYPE and r.region != "global"]
        assert {status(check_id, r) for r in regional} == {None}

    assert statuses(emitted, "AWS::Logs::LogGroup", "logs_") == {
        "audit-archive": {"logs_log_group_retention": PASS, "logs_log_group_kms_encryption": PASS},
        "debug-scratch": {"logs_log_group_retention": FAIL, "logs_log_group_kms_encryption": FAIL},
        TRAIL_GROUP: {"logs_log_group_retention": PASS, "logs_log_group_kms_encryption": FAIL},
    }
    assert verdict("logs_log_group_retention", by_type(emitted, "AWS::Logs::LogGroup")["debug-scratch"]) == (
        FAIL,
        "Log group debug-scratch keeps events for 7 days, less than the required 365",
    )
    assert statuses(emitted, "AWS::SNS::Topic", "sns_") == {
        "encrypted-alerts": {"sns_topic_encrypted_kms": PASS, "sns_topic_not_public": PASS},
        "open-topic": {"sns_topic_encrypted_kms": FAIL, "sns_topic_not_public": FAIL},
        "ops-pager": {"sns_topic_encrypted_kms": FAIL, "sns_topic_not_public": PASS},
        "security-alerts": {"sns_topic_encrypted_kms": FAIL, "sns_topic_not_public": PASS},
    }
    open_topic = verdict("sns_topic_not_public", by_type(emitted, "AWS::SNS::Topic")["open-topic"])
    assert open_topic is not None
    assert "statement Anyone allows SNS:Publish to any principal" in open_topic[1]

    sqs_checks = ("sqs_queue_encrypted", "sqs_queue_dead_letter_queue", "sqs_queue_not_public", "sqs_queue_alarms")
    assert statuses(emitted, "AWS::SQS::Queue", "sqs_") == {
        "orders": dict.fromkeys(sqs_checks, PASS),
        "orders-dlq": {
            "sqs_queue_encrypted": PASS,
            "sqs_queue_dead_letter_queue": None,  # a dead-letter queue itself
            "sqs_queue_not_public": PASS,
            "sqs_queue_alarms": FAIL,
        },
        "legacy": dict.fromkeys(sqs_checks, FAIL),
    }
    queues = by_type(emitted, "AWS::SQS::Queue")
    assert queues["legacy"].region == WEST
    assert verdict("sqs_queue_alarms", queues["orders-dlq"]) == (
        FAIL,
        "SQS queue orders-dlq has no active alarm on ApproximateAgeOfOldestMessage, ApproximateNumberOfMessagesVisible",
    )
    assert queues["orders"].configuration["redrive_policy"]["dead_letter_target_arn"].endswith(":orders-dlq")


async def test_broken_chains_fail_and_name_the_missing_link(moto: MotoServer) -> None:
    seed_trail(moto)
    subscribed = topic(moto, "security-alerts", subscribed=True)
    silent = topic(moto, "nobody-listens", subscribed=False)
    events = {e.key: e for e in CIS_EVENTS}
    # A filter missing the UnauthorizedOperation half of the CIS pattern.
    metric_filter(moto, "unauthorized_api_calls", '{ $.errorCode = "AccessDenied*" }')
    # Filter, but no alarm.
    metric_filter(moto, "root_usage", events["root_usage"].pattern)
    # Filter and alarm, but the alarm notifies nothing.
    metric_filter(moto, "iam_policy_changes", events["iam_policy_changes"].pattern)
    alarm(moto, "iam_policy_changes", [])
    # Filter, alarm, topic without a subscription.
    metric_filter(moto, "cloudtrail_changes", events["cloudtrail_changes"].pattern)
    alarm(moto, "cloudtrail_changes", [silent])
    # Filter and alarm to a subscribed topic, but the alarm's actions are disabled.
    metric_filter(moto, "console_signin_without_mfa", events["console_signin_without_mfa"].pattern)
    alarm(moto, "console_signin_without_mfa", [subscribed], enabled=False)

    emitted, outcome = await collect(moto)

    assert units(outcome)[("monitoring", EAST)] is UnitStatus.COMPLETE
    context = account_context(emitted)
    for check_id in CIS_IDS:
        assert status(check_id, context) == FAIL, check_id

    def reason(key: str) -> str:
        result = verdict(f"cloudwatch_alarm_{key}", context)
        assert result is not None
        return result[1]

    assert "none of the 5 metric filter(s) on log group cloudtrail-events (trail org-trail) matches every" in reason(
        "unauthorized_api_calls"
    )
    assert f"metric filter cis-root_usage (metric {NAMESPACE}/cis-root_usage) has no alarm" in reason("root_usage")
    assert "alarm cis-iam_policy_changes notifies no SNS topic" in reason("iam_policy_changes")
    assert f"SNS topic {silent} of alarm cis-cloudtrail_changes has no confirmed subscription" in reason(
        "cloudtrail_changes"
    )
    assert "alarm cis-console_signin_without_mfa has its actions disabled" in reason("console_signin_without_mfa")
    assert reason("vpc_changes").startswith("No complete alert chain for VPC changes: none of the 5 metric filter(s)")


async def test_a_single_region_trail_is_no_source(moto: MotoServer) -> None:
    seed_trail(moto, multi_region=False)
    arn = topic(moto, "security-alerts", subscribed=True)
    root = next(e for e in CIS_EVENTS if e.key == "root_usage")
    metric_filter(moto, root.key, root.pattern)
    alarm(moto, root.key, [arn])

    emitted, _ = await collect(moto)

    assert verdict("cloudwatch_alarm_root_usage", account_context(emitted)) == (
        FAIL,
        f"No complete alert chain for use of the root user: trail {TRAIL} is single-region",
    )


async def test_denied_detail_reads_are_errors(moto: MotoServer) -> None:
    seed_all_chains(moto)
    seed_logs_sns_sqs(moto)

    def intercept(service: str, operation: str, region: str) -> tuple[int, dict[str, Any]] | None:
        if (service, operation) in {
            ("logs", "DescribeMetricFilters"),
            ("sns", "GetTopicAttributes"),
            ("sqs", "GetQueueAttributes"),
            ("cloudwatch", "DescribeAlarms"),
        }:
            return denied("AccessDenied" if service in ("sns", "sqs") else "AccessDeniedException")
        return None

    emitted, outcome = await collect(moto, intercept)

    for service in ("monitoring", "sns", "sqs"):
        assert units(outcome)[(service, EAST)] is UnitStatus.PARTIAL, service
    context = account_context(emitted)
    for check_id in CIS_IDS:
        result = verdict(check_id, context)
        assert result is not None
        assert result[0] == ERROR, (check_id, result)
        assert (
            "metric filters of log group cloudtrail-events (AccessDeniedException on describe_metric_filters"
            in (result[1])
        )
    for name, checks in statuses(emitted, "AWS::SNS::Topic", "sns_").items():
        assert set(checks.values()) == {ERROR}, name
    for name, checks in statuses(emitted, "AWS::SQS::Queue", "sqs_").items():
        assert set(checks.values()) == {ERROR}, name


async def test_denied_listings_fail_the_units(moto: MotoServer) -> None:
    seed_all_chains(moto)
    seed_logs_sns_sqs(moto)

    def intercept(service: str, operation: str, region: str) -> tuple[int, dict[str, Any]] | None:
        if (service, operation) in {
            ("logs", "DescribeLogGroups"),
            ("sns", "ListTopics"),
            ("sqs", "ListQueues"),
        }:
            return denied("AccessDenied" if service in ("sns", "sqs") else "AccessDeniedException")
        if (service, operation, region) == ("cloudtrail", "DescribeTrails", WEST):
            return denied()
        return None

    emitted, outcome = await collect(moto, intercept)

    for service in ("logs", "sns", "sqs"):
        for region in REGIONS:
            assert units(outcome)[(service, region)] is UnitStatus.FAILED, (service, region)
    assert units(outcome)[("monitoring", WEST)] is UnitStatus.PARTIAL
    assert by_type(emitted, "AWS::SQS::Queue") == {}
    context = account_context(emitted)
    assert context.configuration["_errors"]["cloudwatch_cis_monitoring"].startswith(
        "trails could not be listed in 1 region(s): eu-west-1: AccessDeniedException on describe_trails"
    )
    # The east trail's chains are complete: one complete chain is proof despite the unlisted region.
    assert status("cloudwatch_alarm_root_usage", context) == PASS


async def test_a_missing_chain_with_an_unlisted_region_is_an_error(moto: MotoServer) -> None:
    seed_trail(moto)

    def intercept(service: str, operation: str, region: str) -> tuple[int, dict[str, Any]] | None:
        return denied() if (service, operation, region) == ("cloudtrail", "DescribeTrails", WEST) else None

    emitted, _ = await collect(moto, intercept)

    result = verdict("cloudwatch_alarm_root_usage", account_context(emitted))
    assert result is not None
    assert result[0] == ERROR
    assert "eu-west-1: AccessDeniedException on describe_trails" in result[1]


async def test_a_log_group_of_another_account_cannot_be_judged(moto: MotoServer) -> None:
    # An organisation trail seen from a member account delivers to the management account's log group.
    seed_trail(moto, group_arn=f"arn:aws:logs:{EAST}:999999999999:log-group:org-trail-events:*")

    emitted, _ = await collect(moto)

    result = verdict("cloudwatch_alarm_root_usage", account_context(emitted))
    assert result is not None
    assert result[0] == ERROR
    assert "the log group belongs to account 999999999999; its metric filters are not visible from here" in result[1]
