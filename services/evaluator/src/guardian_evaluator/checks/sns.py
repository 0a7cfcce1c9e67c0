"""Checks on SNS topics (``AWS::SNS::Topic``): encryption at rest and a non-public access policy.

The sns collector's configuration: ``kms_master_key_id`` (``None`` when unencrypted) and ``policy``
(the parsed access policy, ``None`` when the topic has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import needs, policy_verdict_data, public_statements
from guardian_evaluator.registry import Snapshot, Verdict, check, failed, passed

TOPIC = "AWS::SNS::Topic"


@check(
    id="sns_topic_encrypted_kms",
    title="SNS topics are encrypted with KMS",
    description=(
        "Server-side encryption with a KMS key is on for the topic, so messages waiting for delivery are "
        "stored encrypted."
    ),
    severity=Severity.MEDIUM,
    resource_type=TOPIC,
    service="sns",
    remediation=(
        "Turn on server-side encryption for the topic.\n"
        "CLI: aws sns set-topic-attributes --topic-arn TOPIC_ARN --attribute-name KmsMasterKeyId "
        "--attribute-value alias/aws/sns\n"
        'Terraform: resource "aws_sns_topic" "alerts" { name = "alerts", kms_master_key_id = "alias/aws/sns" }'
    ),
    permissions=("sns:GetTopicAttributes",),
)
def sns_topic_encrypted_kms(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "kms_master_key_id")) is not None:
        return err
    key = snap.configuration["kms_master_key_id"]
    if not key:
        return failed(f"SNS topic {snap.name} does not encrypt messages at rest (no KMS key)")
    return passed(f"SNS topic {snap.name} encrypts messages with KMS key {key}", kms_master_key_id=key)


@check(
    id="sns_topic_not_public",
    title="SNS topics are not open to everyone",
    description=(
        "No statement of the topic's access policy allows a wildcard principal without a condition that pins "
        "the caller or source to known accounts, organisations, ARNs, VPCs or address ranges; otherwise anyone "
        "could publish to or subscribe to the topic."
    ),
    severity=Severity.HIGH,
    resource_type=TOPIC,
    service="sns",
    remediation=(
        "Restrict the topic policy to named principals or add an aws:SourceAccount / aws:PrincipalOrgID condition.\n"
        "CLI: aws sns set-topic-attributes --topic-arn TOPIC_ARN --attribute-name Policy --attribute-value file://policy.json\n"
        'Terraform: resource "aws_sns_topic_policy" "alerts" { arn = aws_sns_topic.alerts.arn, '
        "policy = data.aws_iam_policy_document.alerts.json }"
    ),
    permissions=("sns:GetTopicAttributes",),
)
def sns_topic_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    document = policy_verdict_data(snap)
    if isinstance(document, Verdict):
        return document
    if document is None:
        return passed(f"SNS topic {snap.name} has no access policy, so only its owner can use it")
    public = public_statements(document)
    if public:
        return failed(f"SNS topic {snap.name} is open to everyone: " + "; ".join(public), statements=public)
    return passed(f"The access policy of SNS topic {snap.name} grants nothing to anonymous or unrestricted principals")
