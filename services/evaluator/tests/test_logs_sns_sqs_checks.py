"""Unit tests of the CloudWatch Logs, SNS and SQS checks, on configurations shaped like their collectors'."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.checks._gd_shared import public_statements
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
DENIED = "AccessDenied on get_queue_attributes: not authorised"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1111"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"


def run(check_id: str, resource_type: str, configuration: dict[str, Any], **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    snap = Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:test:us-east-1:123456789012:{configuration.get('name', 'r1')}",
        name=str(configuration.get("name", "r1")),
        account_id="123456789012",
        region="us-east-1",
        tags={},
        configuration=configuration,
    )
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, resource_type: str, configuration: dict[str, Any], **params: Any) -> Status | None:
    result = run(check_id, resource_type, configuration, **params)
    return None if result is None else result[0]


def unread(configuration: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {**configuration, **dict.fromkeys(fields), "_errors": dict.fromkeys(fields, DENIED)}


def without(configuration: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in configuration.items() if k != field}


# --- log groups ------------------------------------------------------------------------------

GROUP = "AWS::Logs::LogGroup"


def group(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "arn": "arn:aws:logs:us-east-1:123456789012:log-group:app",
        "retention_in_days": 400,
        "kms_key_id": KEY,
        **overrides,
    }


def test_log_group_retention() -> None:
    assert run("logs_log_group_retention", GROUP, group()) == (
        PASS,
        "Log group app keeps events for 400 days (at least 365)",
    )
    assert run("logs_log_group_retention", GROUP, group(retention_in_days=30)) == (
        FAIL,
        "Log group app keeps events for 30 days, less than the required 365",
    )
    assert run("logs_log_group_retention", GROUP, group(retention_in_days=None)) == (
        PASS,
        "Log group app never expires its events",
    )
    never = status("logs_log_group_retention", GROUP, group(retention_in_days=None), allow_never_expire=False)
    assert never == FAIL
    assert run("logs_log_group_retention", GROUP, group(retention_in_days=30), min_retention_days=30) is not None
    assert status("logs_log_group_retention", GROUP, unread(group(), "retention_in_days")) == ERROR
    assert status("logs_log_group_retention", GROUP, without(group(), "retention_in_days")) == ERROR
    assert status("logs_log_group_retention", GROUP, group(retention_in_days="long")) == ERROR


def test_log_group_kms() -> None:
    assert run("logs_log_group_kms_encryption", GROUP, group()) == (
        PASS,
        f"Log group app is encrypted with KMS key {KEY}",
    )
    assert run("logs_log_group_kms_encryption", GROUP, group(kms_key_id=None)) == (
        FAIL,
        "Log group app is not encrypted with a KMS key (it uses the service's own keys)",
    )
    assert status("logs_log_group_kms_encryption", GROUP, without(group(), "kms_key_id")) == ERROR


# --- resource policies -----------------------------------------------------------------------


def statement(principal: Any, condition: dict[str, Any] | None = None, effect: str = "Allow") -> dict[str, Any]:
    body: dict[str, Any] = {"Sid": "S", "Effect": effect, "Principal": principal, "Action": "sqs:SendMessage"}
    if condition is not None:
        body["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [body]}


@pytest.mark.parametrize(
    ("document", "public"),
    [
        (statement("*"), True),
        (statement({"AWS": "*"}), True),
        (statement({"AWS": ["arn:aws:iam::111122223333:root", "*"]}), True),
        (statement({"AWS": "arn:aws:iam::111122223333:root"}), False),
        (statement({"Service": "sns.amazonaws.com"}), False),
        (statement("*", effect="Deny"), False),
        (statement("*", {"StringEquals": {"aws:SourceAccount": "123456789012"}}), False),
        (statement("*", {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}), False),
        (statement("*", {"StringEquals": {"AWS:SourceOwner": "123456789012"}}), False),
        (statement("*", {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}), False),
        (statement("*", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}), False),
        (statement("*", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}), True),
        (statement("*", {"StringEquals": {"aws:SourceAccount": "*"}}), True),
        (statement("*", {"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}), True),
        (statement("*", {"StringNotEquals": {"aws:SourceAccount": "123456789012"}}), True),
        (statement("*", {"Bool": {"aws:SecureTransport": "true"}}), True),
        ({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "*"}]}, True),
    ],
)
def test_public_statements(document: dict[str, Any], public: bool) -> None:
    assert bool(public_statements(document)) is public


@pytest.mark.parametrize(
    ("check_id", "resource_type", "label"),
    [
        ("sns_topic_not_public", "AWS::SNS::Topic", "SNS topic"),
        ("sqs_queue_not_public", "AWS::SQS::Queue", "SQS queue"),
    ],
)
def test_not_public_checks(check_id: str, resource_type: str, label: str) -> None:
    assert status(check_id, resource_type, {"name": "q", "policy": statement({"AWS": "111122223333"})}) == PASS
    assert status(check_id, resource_type, {"name": "q", "policy": None}) == PASS
    assert run(check_id, resource_type, {"name": "q", "policy": statement("*")}) == (
        FAIL,
        f"{label} q is open to everyone: statement S allows sqs:SendMessage to any principal without a restricting "
        "condition",
    )
    assert status(check_id, resource_type, unread({"name": "q"}, "policy")) == ERROR
    assert status(check_id, resource_type, {"name": "q"}) == ERROR
    assert status(check_id, resource_type, {"name": "q", "policy": "not parsed"}) == ERROR


# --- SNS -------------------------------------------------------------------------------------


def test_sns_topic_encryption() -> None:
    topic = "AWS::SNS::Topic"
    assert run("sns_topic_encrypted_kms", topic, {"name": "t", "kms_master_key_id": "alias/aws/sns"}) == (
        PASS,
        "SNS topic t encrypts messages with KMS key alias/aws/sns",
    )
    assert run("sns_topic_encrypted_kms", topic, {"name": "t", "kms_master_key_id": None}) == (
        FAIL,
        "SNS topic t does not encrypt messages at rest (no KMS key)",
    )
    assert status("sns_topic_encrypted_kms", topic, unread({"name": "t"}, "kms_master_key_id")) == ERROR


# --- SQS -------------------------------------------------------------------------------------

QUEUE = "AWS::SQS::Queue"


def queue(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "jobs",
        "sqs_managed_sse": True,
        "kms_master_key_id": None,
        "redrive_policy": {
            "dead_letter_target_arn": "arn:aws:sqs:us-east-1:123456789012:jobs-dlq",
            "max_receive_count": 5,
        },
        "dead_letter_source_queues": [],
        "policy": None,
        "alarms": [
            {
                "name": "age",
                "metric": "ApproximateAgeOfOldestMessage",
                "actions_enabled": True,
                "alarm_actions": [TOPIC],
            },
            {
                "name": "depth",
                "metric": "ApproximateNumberOfMessagesVisible",
                "actions_enabled": True,
                "alarm_actions": [TOPIC],
            },
        ],
        **overrides,
    }


def test_sqs_encryption() -> None:
    assert run("sqs_queue_encrypted", QUEUE, queue()) == (
        PASS,
        "SQS queue jobs encrypts messages with SQS-managed keys (SSE-SQS)",
    )
    assert status("sqs_queue_encrypted", QUEUE, queue(sqs_managed_sse=False, kms_master_key_id=KEY)) == PASS
    assert run("sqs_queue_encrypted", QUEUE, queue(sqs_managed_sse=False)) == (
        FAIL,
        "SQS queue jobs has no server-side encryption (neither SSE-SQS nor a KMS key)",
    )
    assert status("sqs_queue_encrypted", QUEUE, unread(queue(), "sqs_managed_sse", "kms_master_key_id")) == ERROR


def test_sqs_dead_letter_queue() -> None:
    assert status("sqs_queue_dead_letter_queue", QUEUE, queue()) == PASS
    assert run("sqs_queue_dead_letter_queue", QUEUE, queue(redrive_policy=None)) == (
        FAIL,
        "SQS queue jobs has no dead-letter queue: failed messages are retried until they expire",
    )
    # A dead-letter queue itself needs none.
    assert (
        run("sqs_queue_dead_letter_queue", QUEUE, queue(redrive_policy=None, dead_letter_source_queues=["u"])) is None
    )
    assert status("sqs_queue_dead_letter_queue", QUEUE, unread(queue(), "redrive_policy")) == ERROR
    unknown_sources = unread(queue(redrive_policy=None), "dead_letter_source_queues")
    assert status("sqs_queue_dead_letter_queue", QUEUE, unknown_sources) == ERROR
    # With a redrive policy the sources do not matter, even unreadable.
    assert status("sqs_queue_dead_letter_queue", QUEUE, unread(queue(), "dead_letter_source_queues")) == PASS


def test_sqs_alarms() -> None:
    assert run("sqs_queue_alarms", QUEUE, queue()) == (
        PASS,
        "SQS queue jobs is watched on ApproximateAgeOfOldestMessage by age, "
        "ApproximateNumberOfMessagesVisible by depth",
    )
    only_age = queue(alarms=queue()["alarms"][:1])
    assert run("sqs_queue_alarms", QUEUE, only_age) == (
        FAIL,
        "SQS queue jobs has no active alarm on ApproximateNumberOfMessagesVisible",
    )
    assert status("sqs_queue_alarms", QUEUE, only_age, required_metrics=["ApproximateAgeOfOldestMessage"]) == PASS
    muted = queue(alarms=[{**a, "actions_enabled": False} for a in queue()["alarms"]])
    result = run("sqs_queue_alarms", QUEUE, muted)
    assert result is not None
    assert result[0] == FAIL
    assert "ApproximateAgeOfOldestMessage (alarm age has no enabled action)" in result[1]
    silent = queue(alarms=[{**a, "alarm_actions": []} for a in queue()["alarms"]])
    assert status("sqs_queue_alarms", QUEUE, silent) == FAIL
    assert status("sqs_queue_alarms", QUEUE, unread(queue(), "alarms")) == ERROR
    assert status("sqs_queue_alarms", QUEUE, queue(alarms="x")) == ERROR
