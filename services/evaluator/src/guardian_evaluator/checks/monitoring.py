"""CIS-style CloudWatch alerting checks: one per class of sensitive CloudTrail event.

Each check reads ``cloudwatch_cis_monitoring`` from the global ``AWS::::Account`` snapshot (built by
the ``monitoring`` collector) and passes when one complete chain exists:

1. a multi-region trail that is logging and records read and write management events,
2. delivers them to a CloudWatch Logs log group,
3. on which a metric filter's pattern covers the event class,
4. whose metric is watched by an alarm with actions enabled,
5. that notifies an SNS topic with at least one confirmed subscription.

How "covers" is decided (honest matching): the pattern is parsed (``_filter_pattern``) and run
against sample CloudTrail events, one per key event name of the CIS AWS Foundations Benchmark's
pattern for that class (for IAM policy changes: one event each for DeleteGroupPolicy, PutRolePolicy,
AttachUserPolicy and the rest). The filter covers the class only if it matches every sample. This
normalises whitespace, quoting and term order for free, accepts broader filters (a filter matching
more events still alerts on these) and refuses one that misses a key event name or adds a
condition those events do not meet. A pattern that cannot be parsed does not count and is named.

When no chain is complete the reason names the first missing link of every candidate; when a link
could not be read (and so might have completed a chain) the verdict is ERROR, never PASS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._filter_pattern import Node, PatternError, matches, parse
from guardian_evaluator.checks._gd_shared import ACCOUNT, context_scope
from guardian_evaluator.registry import CheckFn, Snapshot, Verdict, check, errored, failed, passed, unreadable

FIELD = "cloudwatch_cis_monitoring"
ACCOUNT_ID = "123456789012"


def _event(
    name: str,
    source: str,
    *,
    identity: str = "IAMUser",
    event_type: str = "AwsApiCall",
    **extra: Any,
) -> dict[str, Any]:
    """A realistic CloudTrail record (the fields filter patterns commonly test)."""
    user: dict[str, Any] = {
        "type": identity,
        "principalId": "AIDAEXAMPLEPRINCIPAL",
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:{'root' if identity == 'Root' else 'user/alice'}",
        "accountId": ACCOUNT_ID,
    }
    if identity == "IAMUser":
        user["userName"] = "alice"
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": user,
        "eventTime": "2024-05-01T12:00:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {},
        "responseElements": None,
        "requestID": "5e1f6d0a-0000-4000-8000-000000000001",
        "eventID": "8c0f7b54-0000-4000-8000-000000000002",
        "readOnly": False,
        "eventType": event_type,
        "managementEvent": True,
        "recipientAccountId": ACCOUNT_ID,
        "eventCategory": "Management",
    }
    record.update(extra)
    return record


def _calls(source: str, *names: str) -> tuple[dict[str, Any], ...]:
    return tuple(_event(name, source) for name in names)


def _console_login(outcome: str, mfa: str, **extra: Any) -> dict[str, Any]:
    return _event(
        "ConsoleLogin",
        "signin.amazonaws.com",
        event_type="AwsConsoleSignIn",
        responseElements={"ConsoleLogin": outcome},
        additionalEventData={"LoginTo": "https://console.aws.amazon.com/", "MobileVersion": "No", "MFAUsed": mfa},
        **extra,
    )


@dataclass(frozen=True)
class CisEvent:
    key: str
    title: str
    reference: str
    pattern: str  # the pattern recommended in the remediation text
    samples: tuple[dict[str, Any], ...]
    severity: Severity
    why: str


def _or(source: str | None, names: tuple[str, ...]) -> str:
    alternatives = " || ".join(f"($.eventName = {n})" for n in names)
    if source is None:
        return f"{{ {alternatives} }}"
    return f"{{ ($.eventSource = {source}) && ({alternatives}) }}"


IAM_POLICY_EVENTS = (
    "DeleteGroupPolicy",
    "DeleteRolePolicy",
    "DeleteUserPolicy",
    "PutGroupPolicy",
    "PutRolePolicy",
    "PutUserPolicy",
    "CreatePolicy",
    "DeletePolicy",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
)
TRAIL_EVENTS = ("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging")
CMK_EVENTS = ("DisableKey", "ScheduleKeyDeletion")
BUCKET_POLICY_EVENTS = (
    "PutBucketAcl",
    "PutBucketPolicy",
    "PutBucketCors",
    "PutBucketLifecycle",
    "PutBucketReplication",
    "DeleteBucketPolicy",
    "DeleteBucketCors",
    "DeleteBucketLifecycle",
    "DeleteBucketReplication",
)
CONFIG_EVENTS = ("StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel", "PutConfigurationRecorder")
SECURITY_GROUP_EVENTS = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
)
NACL_EVENTS = (
    "CreateNetworkAcl",
    "CreateNetworkAclEntry",
    "DeleteNetworkAcl",
    "DeleteNetworkAclEntry",
    "ReplaceNetworkAclEntry",
    "ReplaceNetworkAclAssociation",
)
GATEWAY_EVENTS = (
    "CreateCustomerGateway",
    "DeleteCustomerGateway",
    "AttachInternetGateway",
    "CreateInternetGateway",
    "DeleteInternetGateway",
    "DetachInternetGateway",
)
ROUTE_TABLE_EVENTS = (
    "CreateRoute",
    "CreateRouteTable",
    "ReplaceRoute",
    "ReplaceRouteTableAssociation",
    "DeleteRouteTable",
    "DeleteRoute",
    "DisassociateRouteTable",
)
VPC_EVENTS = (
    "CreateVpc",
    "DeleteVpc",
    "ModifyVpcAttribute",
    "AcceptVpcPeeringConnection",
    "CreateVpcPeeringConnection",
    "DeleteVpcPeeringConnection",
    "RejectVpcPeeringConnection",
    "AttachClassicLinkVpc",
    "DetachClassicLinkVpc",
    "DisableVpcClassicLink",
    "EnableVpcClassicLink",
)
ORGANIZATIONS_EVENTS = (
    "AcceptHandshake",
    "AttachPolicy",
    "CreateAccount",
    "CreateOrganizationalUnit",
    "CreatePolicy",
    "DeclineHandshake",
    "DeleteOrganization",
    "DeleteOrganizationalUnit",
    "DeletePolicy",
    "DetachPolicy",
    "DisablePolicyType",
    "EnablePolicyType",
    "InviteAccountToOrganization",
    "LeaveOrganization",
    "MoveAccount",
    "RemoveAccountFromOrganization",
    "UpdatePolicy",
    "UpdateOrganizationalUnit",
)

CIS_EVENTS: tuple[CisEvent, ...] = (
    CisEvent(
        "unauthorized_api_calls",
        "unauthorised API calls",
        "CIS AWS Foundations 4.1",
        '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }',
        (
            _event("RunInstances", "ec2.amazonaws.com", errorCode="Client.UnauthorizedOperation"),
            _event("CreateUser", "iam.amazonaws.com", errorCode="AccessDenied"),
            _event("Decrypt", "kms.amazonaws.com", errorCode="AccessDeniedException"),
        ),
        Severity.MEDIUM,
        "A burst of denied calls is often the first sign of stolen credentials probing what they can do.",
    ),
    CisEvent(
        "console_signin_without_mfa",
        "console sign-in without MFA",
        "CIS AWS Foundations 4.2",
        '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }',
        (_console_login("Success", "No"),),
        Severity.MEDIUM,
        "A successful console sign-in without MFA means a password alone opened the account.",
    ),
    CisEvent(
        "root_usage",
        "use of the root user",
        "CIS AWS Foundations 4.3",
        '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }',
        (
            _event("CreateUser", "iam.amazonaws.com", identity="Root"),
            _event(
                "ConsoleLogin",
                "signin.amazonaws.com",
                identity="Root",
                event_type="AwsConsoleSignIn",
                responseElements={"ConsoleLogin": "Success"},
                additionalEventData={"MFAUsed": "Yes"},
            ),
        ),
        Severity.HIGH,
        "The root user bypasses every IAM restriction; any use of it should reach a person at once.",
    ),
    CisEvent(
        "iam_policy_changes",
        "IAM policy changes",
        "CIS AWS Foundations 4.4",
        _or(None, IAM_POLICY_EVENTS),
        _calls("iam.amazonaws.com", *IAM_POLICY_EVENTS),
        Severity.MEDIUM,
        "Policy changes grant or remove permissions; an unexpected one can be privilege escalation.",
    ),
    CisEvent(
        "cloudtrail_changes",
        "CloudTrail configuration changes",
        "CIS AWS Foundations 4.5",
        _or(None, TRAIL_EVENTS),
        _calls("cloudtrail.amazonaws.com", *TRAIL_EVENTS),
        Severity.MEDIUM,
        "Stopping or changing a trail is how an intruder blinds the audit record.",
    ),
    CisEvent(
        "console_auth_failures",
        "console authentication failures",
        "CIS AWS Foundations 4.6",
        '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }',
        (_console_login("Failure", "No", errorMessage="Failed authentication"),),
        Severity.LOW,
        "Repeated failed console sign-ins point to password guessing.",
    ),
    CisEvent(
        "cmk_disable_or_deletion",
        "disabling or scheduled deletion of customer-managed KMS keys",
        "CIS AWS Foundations 4.7",
        _or("kms.amazonaws.com", CMK_EVENTS),
        _calls("kms.amazonaws.com", *CMK_EVENTS),
        Severity.MEDIUM,
        "Data encrypted under a disabled or deleted key becomes unreadable; it can be sabotage.",
    ),
    CisEvent(
        "s3_bucket_policy_changes",
        "S3 bucket policy changes",
        "CIS AWS Foundations 4.8",
        _or("s3.amazonaws.com", BUCKET_POLICY_EVENTS),
        _calls("s3.amazonaws.com", *BUCKET_POLICY_EVENTS),
        Severity.MEDIUM,
        "Bucket policy and ACL changes can expose stored data outside the account.",
    ),
    CisEvent(
        "config_changes",
        "AWS Config configuration changes",
        "CIS AWS Foundations 4.9",
        _or("config.amazonaws.com", CONFIG_EVENTS),
        _calls("config.amazonaws.com", *CONFIG_EVENTS),
        Severity.MEDIUM,
        "Stopping the Config recorder removes the configuration history auditors rely on.",
    ),
    CisEvent(
        "security_group_changes",
        "security group changes",
        "CIS AWS Foundations 4.10",
        _or(None, SECURITY_GROUP_EVENTS),
        _calls("ec2.amazonaws.com", *SECURITY_GROUP_EVENTS),
        Severity.MEDIUM,
        "Security group changes can open instances to the internet.",
    ),
    CisEvent(
        "nacl_changes",
        "network ACL changes",
        "CIS AWS Foundations 4.11",
        _or(None, NACL_EVENTS),
        _calls("ec2.amazonaws.com", *NACL_EVENTS),
        Severity.MEDIUM,
        "Network ACL changes alter which traffic reaches whole subnets.",
    ),
    CisEvent(
        "network_gateway_changes",
        "network gateway changes",
        "CIS AWS Foundations 4.12",
        _or(None, GATEWAY_EVENTS),
        _calls("ec2.amazonaws.com", *GATEWAY_EVENTS),
        Severity.MEDIUM,
        "New or re-attached gateways create paths into or out of the network.",
    ),
    CisEvent(
        "route_table_changes",
        "route table changes",
        "CIS AWS Foundations 4.13",
        _or(None, ROUTE_TABLE_EVENTS),
        _calls("ec2.amazonaws.com", *ROUTE_TABLE_EVENTS),
        Severity.MEDIUM,
        "Route changes can send traffic through paths nobody reviewed.",
    ),
    CisEvent(
        "vpc_changes",
        "VPC changes",
        "CIS AWS Foundations 4.14",
        _or(None, VPC_EVENTS),
        _calls("ec2.amazonaws.com", *VPC_EVENTS),
        Severity.MEDIUM,
        "VPC and peering changes connect networks that were meant to stay apart.",
    ),
    CisEvent(
        "organizations_changes",
        "AWS Organizations changes",
        "CIS AWS Foundations 4.15",
        _or("organizations.amazonaws.com", ORGANIZATIONS_EVENTS),
        _calls("organizations.amazonaws.com", *ORGANIZATIONS_EVENTS),
        Severity.MEDIUM,
        "Organization changes move accounts or change the guardrail policies applied to them.",
    ),
)


def covers(pattern: Any, event: CisEvent) -> bool | None:
    """Whether a filter pattern matches every sample of the event class; ``None`` if unparseable."""
    if not isinstance(pattern, str):
        return None
    try:
        tree: Node = parse(pattern)
    except PatternError:
        return None
    return all(matches(tree, sample) for sample in event.samples)


@dataclass
class _Walk:
    gaps: list[str]
    unknown: list[str]


def _qualifies(trail: Mapping[str, Any], walk: _Walk) -> bool | None:
    """True when the trail is a qualifying source, False when it is known not to be, None if unknown."""
    name = trail.get("name")
    if trail.get("is_multi_region") is not True:
        walk.gaps.append(f"trail {name} is single-region")
        return False
    if trail.get("is_logging") is False:
        walk.gaps.append(f"trail {name} is not logging")
        return False
    events = trail.get("management_events")
    if isinstance(events, Mapping) and (events.get("read") is not True or events.get("write") is not True):
        walk.gaps.append(f"trail {name} does not record both read and write management events")
        return False
    if not trail.get("log_group_arn"):
        walk.gaps.append(f"multi-region trail {name} does not deliver its events to CloudWatch Logs")
        return False
    if trail.get("is_logging") is None or not isinstance(events, Mapping):
        problems = trail.get("unreadable") or {}
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(problems.items())) if isinstance(problems, Mapping) else ""
        walk.unknown.append(f"status or event selectors of trail {name} ({detail or 'not read'})")
        return None
    return True


def _walk_topics(alarm: Mapping[str, Any], walk: _Walk) -> Mapping[str, Any] | None:
    name = alarm.get("name")
    if alarm.get("actions_enabled") is not True:
        walk.gaps.append(f"alarm {name} has its actions disabled")
        return None
    topics = [t for t in alarm.get("sns_topics") or [] if isinstance(t, Mapping)]
    if not topics:
        walk.gaps.append(f"alarm {name} notifies no SNS topic")
        return None
    for topic in topics:
        confirmed = topic.get("confirmed_subscriptions")
        if confirmed is None:
            walk.unknown.append(f"subscriptions of topic {topic.get('arn')} ({topic.get('error') or 'not read'})")
        elif int(confirmed) > 0:
            return topic
        else:
            walk.gaps.append(f"SNS topic {topic.get('arn')} of alarm {name} has no confirmed subscription")
    return None


def _walk_group(trail: Mapping[str, Any], event: CisEvent, walk: _Walk, qualified: bool) -> dict[str, Any] | None:
    group = trail.get("log_group")
    if not isinstance(group, Mapping):
        walk.unknown.append(f"log group of trail {trail.get('name')} (not read)")
        return None
    label = group.get("name") or group.get("arn")
    if group.get("error") or not isinstance(group.get("filters"), list):
        walk.unknown.append(f"metric filters of log group {label} ({group.get('error') or 'not read'})")
        return None
    filters = [f for f in group["filters"] if isinstance(f, Mapping)]
    verdicts = [(f, covers(f.get("pattern"), event)) for f in filters]
    matching = [f for f, ok in verdicts if ok]
    if not matching:
        opaque = [str(f.get("name")) for f, ok in verdicts if ok is None]
        note = f"; could not interpret the pattern of {', '.join(opaque)}" if opaque else ""
        walk.gaps.append(
            f"none of the {len(filters)} metric filter(s) on log group {label} (trail {trail.get('name')}) "
            f"matches every {event.title} event{note}"
        )
        return None
    for item in matching:
        for metric in item.get("metrics") or []:
            if not isinstance(metric, Mapping):
                continue
            metric_name = f"{metric.get('namespace')}/{metric.get('name')}"
            alarms = metric.get("alarms")
            if alarms is None:
                walk.unknown.append(f"alarms on metric {metric_name} ({metric.get('alarms_error') or 'not read'})")
                continue
            if not alarms:
                walk.gaps.append(f"metric filter {item.get('name')} (metric {metric_name}) has no alarm")
                continue
            for alarm in alarms:
                if not isinstance(alarm, Mapping):
                    continue
                topic = _walk_topics(alarm, walk)
                if topic is not None and qualified:
                    return {
                        "trail": trail.get("arn"),
                        "log_group": group.get("arn"),
                        "metric_filter": item.get("name"),
                        "metric": metric_name,
                        "alarm": alarm.get("name"),
                        "sns_topic": topic.get("arn"),
                        "confirmed_subscriptions": topic.get("confirmed_subscriptions"),
                    }
    return None


def evaluate_event(snap: Snapshot, event: CisEvent) -> Verdict | None:
    if context_scope(snap) != "account":
        return None
    if FIELD not in snap.configuration:
        return errored(
            f"The account context of {snap.name} has no CloudWatch alerting data (the monitoring collector did not run)"
        )
    data = snap.configuration[FIELD]
    trails = data.get("trails") if isinstance(data, Mapping) else None
    if not isinstance(trails, list):
        if (err := unreadable(snap, FIELD)) is not None:
            return err
        return errored(f"The CloudWatch alerting data of {snap.name} is not usable")

    walk = _Walk(gaps=[], unknown=[])
    for trail in trails:
        if not isinstance(trail, Mapping):
            continue
        qualified = _qualifies(trail, walk)
        if qualified is False:
            continue
        chain = _walk_group(trail, event, walk, qualified is True)
        if chain is not None:
            return passed(
                f"Alerts on {event.title} reach a person: trail {trail.get('name')} -> log group "
                f"{chain['log_group']} -> metric filter {chain['metric_filter']} -> alarm {chain['alarm']} -> "
                f"SNS topic {chain['sns_topic']} ({chain['confirmed_subscriptions']} confirmed subscription(s))",
                **chain,
            )
    if (err := unreadable(snap, FIELD)) is not None:
        return err
    if walk.unknown:
        return errored(
            f"Could not establish whether alerts on {event.title} reach a person; unreadable: "
            + "; ".join(walk.unknown),
            unreadable=walk.unknown,
            gaps=walk.gaps,
        )
    if not trails:
        return failed(
            f"No alert on {event.title}: account {snap.account_id} has no CloudTrail trail in any scanned region"
        )
    return failed(f"No complete alert chain for {event.title}: " + "; ".join(walk.gaps), gaps=walk.gaps)


def _hcl(text: str) -> str:
    """A Terraform (HCL) string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_for(event: CisEvent) -> CheckFn:
    def run(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        return evaluate_event(snap, event)

    run.__name__ = f"cloudwatch_alarm_{event.key}"
    return run


PERMISSIONS = (
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "logs:DescribeMetricFilters",
    "cloudwatch:DescribeAlarms",
    "sns:ListSubscriptions",
)

for _cis in CIS_EVENTS:
    check(
        id=f"cloudwatch_alarm_{_cis.key}",
        title=f"A CloudWatch alarm notifies someone of {_cis.title}",
        description=(
            f"{_cis.reference}. {_cis.why} A metric filter on the log group of a multi-region trail matches "
            f"{_cis.title}, an alarm watches its metric, and the alarm notifies an SNS topic with at least one "
            "confirmed subscription. Patterns are judged by running them against sample CloudTrail events "
            "for each key event name of the CIS pattern."
        ),
        severity=_cis.severity,
        resource_type=ACCOUNT,
        service="account",
        remediation=(
            "Create a metric filter on the trail's log group, an alarm on its metric and a subscribed SNS topic.\n"
            f"CLI: aws logs put-metric-filter --log-group-name TRAIL_LOG_GROUP --filter-name cis-{_cis.key} "
            f"--filter-pattern '{_cis.pattern}' --metric-transformations "
            f"metricName=cis-{_cis.key},metricNamespace=CISBenchmark,metricValue=1 && "
            f"aws cloudwatch put-metric-alarm --alarm-name cis-{_cis.key} --metric-name cis-{_cis.key} "
            "--namespace CISBenchmark --statistic Sum --period 300 --evaluation-periods 1 --threshold 1 "
            "--comparison-operator GreaterThanOrEqualToThreshold --alarm-actions SNS_TOPIC_ARN && "
            "aws sns subscribe --topic-arn SNS_TOPIC_ARN --protocol email "
            "--notification-endpoint security@example.com\n"
            f'Terraform: resource "aws_cloudwatch_log_metric_filter" "cis_{_cis.key}" {{ log_group_name = '
            f'var.trail_log_group, name = "cis-{_cis.key}", pattern = {_hcl(_cis.pattern)}, metric_transformation '
            f'{{ name = "cis-{_cis.key}", namespace = "CISBenchmark", value = "1" }} }} plus an '
            "aws_cloudwatch_metric_alarm with alarm_actions = [aws_sns_topic.security.arn] and an "
            "aws_sns_topic_subscription"
        ),
        permissions=PERMISSIONS,
    )(_check_for(_cis))
