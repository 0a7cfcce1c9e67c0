"""Checks on SQS queues (``AWS::SQS::Queue``).

The sqs collector's configuration: ``sqs_managed_sse`` and ``kms_master_key_id`` (encryption),
``redrive_policy`` (``{"dead_letter_target_arn", "max_receive_count"}`` or ``None``),
``dead_letter_source_queues`` (queues using this one as their dead-letter queue), ``policy`` (the
parsed access policy or ``None``) and ``alarms`` (the region's metric alarms on this queue's
``AWS/SQS`` metrics, each ``{"name", "metric", "actions_enabled", "alarm_actions"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import needs, policy_verdict_data, public_statements
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

QUEUE = "AWS::SQS::Queue"


@check(
    id="sqs_queue_encrypted",
    title="SQS queues encrypt messages at rest",
    description=(
        "The queue has server-side encryption on, with SQS-managed keys (SSE-SQS) or a KMS key (SSE-KMS), so "
        "messages at rest are never stored in plain text."
    ),
    severity=Severity.MEDIUM,
    resource_type=QUEUE,
    service="sqs",
    remediation=(
        "Turn on server-side encryption for the queue.\n"
        "CLI: aws sqs set-queue-attributes --queue-url QUEUE_URL --attributes SqsManagedSseEnabled=true\n"
        'Terraform: resource "aws_sqs_queue" "jobs" { name = "jobs", sqs_managed_sse_enabled = true }'
    ),
    permissions=("sqs:GetQueueAttributes",),
)
def sqs_queue_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "sqs_managed_sse", "kms_master_key_id")) is not None:
        return err
    key = snap.configuration["kms_master_key_id"]
    if key:
        return passed(f"SQS queue {snap.name} encrypts messages with KMS key {key}", kms_master_key_id=key)
    if snap.configuration["sqs_managed_sse"] is True:
        return passed(f"SQS queue {snap.name} encrypts messages with SQS-managed keys (SSE-SQS)")
    return failed(f"SQS queue {snap.name} has no server-side encryption (neither SSE-SQS nor a KMS key)")


@check(
    id="sqs_queue_dead_letter_queue",
    title="SQS queues send failed messages to a dead-letter queue",
    description=(
        "The queue has a redrive policy naming a dead-letter queue, so messages that repeatedly fail processing "
        "are kept for inspection instead of being retried forever or lost when they expire. A queue that is "
        "itself another queue's dead-letter queue is not required to have one."
    ),
    severity=Severity.LOW,
    resource_type=QUEUE,
    service="sqs",
    remediation=(
        "Create a dead-letter queue and attach it with a redrive policy.\n"
        "CLI: aws sqs set-queue-attributes --queue-url QUEUE_URL --attributes "
        '\'{"RedrivePolicy":"{\\"deadLetterTargetArn\\":\\"DLQ_ARN\\",\\"maxReceiveCount\\":\\"5\\"}"}\'\n'
        'Terraform: resource "aws_sqs_queue" "jobs" { name = "jobs", redrive_policy = jsonencode({ '
        "deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn, maxReceiveCount = 5 }) }"
    ),
    permissions=("sqs:GetQueueAttributes", "sqs:ListDeadLetterSourceQueues"),
)
def sqs_queue_dead_letter_queue(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "redrive_policy")) is not None:
        return err
    redrive = snap.configuration["redrive_policy"]
    if isinstance(redrive, Mapping) and redrive.get("dead_letter_target_arn"):
        target = redrive["dead_letter_target_arn"]
        return passed(
            f"SQS queue {snap.name} sends messages that fail {redrive.get('max_receive_count')} time(s) to {target}",
            dead_letter_target_arn=target,
        )
    if (err := needs(snap, "dead_letter_source_queues")) is not None:
        return err
    sources = snap.configuration["dead_letter_source_queues"]
    if not isinstance(sources, list):
        return errored(f"The dead-letter source queues of {snap.name} are not a list ({sources!r})")
    if sources:
        return None  # a dead-letter queue itself: the rule does not apply
    return failed(f"SQS queue {snap.name} has no dead-letter queue: failed messages are retried until they expire")


@check(
    id="sqs_queue_not_public",
    title="SQS queues are not open to everyone",
    description=(
        "No statement of the queue's access policy allows a wildcard principal without a condition that pins "
        "the caller or source to known accounts, organisations, ARNs, VPCs or address ranges; otherwise anyone "
        "could send, read or delete its messages."
    ),
    severity=Severity.HIGH,
    resource_type=QUEUE,
    service="sqs",
    remediation=(
        "Limit the queue policy to named principals, or add an aws:SourceArn / aws:PrincipalOrgID condition.\n"
        "CLI: aws sqs set-queue-attributes --queue-url QUEUE_URL --attributes file://policy-attributes.json\n"
        'Terraform: resource "aws_sqs_queue_policy" "jobs" { queue_url = aws_sqs_queue.jobs.id, '
        "policy = data.aws_iam_policy_document.jobs.json }"
    ),
    permissions=("sqs:GetQueueAttributes",),
)
def sqs_queue_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    document = policy_verdict_data(snap)
    if isinstance(document, Verdict):
        return document
    if document is None:
        return passed(f"SQS queue {snap.name} has no access policy, so only its account's principals can use it")
    public = public_statements(document)
    if public:
        return failed(f"SQS queue {snap.name} is open to everyone: " + "; ".join(public), statements=public)
    return passed(f"The access policy of SQS queue {snap.name} grants nothing to anonymous or unrestricted principals")


@check(
    id="sqs_queue_alarms",
    title="SQS queues have alarms on backlog and message age",
    description=(
        "CloudWatch alarms that notify someone (actions enabled, at least one alarm action) watch the queue's "
        "ApproximateAgeOfOldestMessage and ApproximateNumberOfMessagesVisible metrics, so a stalled consumer or "
        "a growing backlog is noticed before messages expire or processing falls behind its commitments."
    ),
    severity=Severity.LOW,
    resource_type=QUEUE,
    service="sqs",
    remediation=(
        "Create an alarm per metric on the queue.\n"
        "CLI: aws cloudwatch put-metric-alarm --alarm-name QUEUE-oldest-message --namespace AWS/SQS "
        "--metric-name ApproximateAgeOfOldestMessage --dimensions Name=QueueName,Value=QUEUE --statistic Maximum "
        "--period 300 --evaluation-periods 3 --threshold 900 --comparison-operator GreaterThanThreshold "
        "--alarm-actions SNS_TOPIC_ARN (and the same for ApproximateNumberOfMessagesVisible)\n"
        'Terraform: resource "aws_cloudwatch_metric_alarm" "queue_age" { namespace = "AWS/SQS", '
        'metric_name = "ApproximateAgeOfOldestMessage", dimensions = { QueueName = aws_sqs_queue.jobs.name }, '
        'statistic = "Maximum", period = 300, evaluation_periods = 3, threshold = 900, '
        'comparison_operator = "GreaterThanThreshold", alarm_actions = [aws_sns_topic.ops.arn] }'
    ),
    permissions=("cloudwatch:DescribeAlarms",),
    parameters={"required_metrics": ["ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"]},
)
def sqs_queue_alarms(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "alarms")) is not None:
        return err
    alarms = snap.configuration["alarms"]
    if not isinstance(alarms, list):
        return errored(f"The alarm data of SQS queue {snap.name} is not a list")
    required = [str(m) for m in params["required_metrics"]]
    watched: dict[str, list[str]] = {}
    disabled: dict[str, list[str]] = {}
    for alarm in alarms:
        if not isinstance(alarm, Mapping):
            continue
        live = alarm.get("actions_enabled") is True and bool(alarm.get("alarm_actions"))
        bucket = watched if live else disabled
        bucket.setdefault(str(alarm.get("metric")), []).append(str(alarm.get("name")))
    missing = [m for m in required if m not in watched]
    if missing:
        notes = [f"{m} (alarm {', '.join(disabled[m])} has no enabled action)" if m in disabled else m for m in missing]
        return failed(f"SQS queue {snap.name} has no active alarm on {', '.join(notes)}", missing=missing)
    summary = ", ".join(f"{m} by {', '.join(sorted(watched[m]))}" for m in required)
    return passed(f"SQS queue {snap.name} is watched on {summary}", alarms={m: sorted(watched[m]) for m in required})
