"""Checks on CloudTrail trails (``AWS::CloudTrail::Trail``) and on the account's trail coverage.

A trail's configuration is the one the CloudTrail collector builds in the trail's home region:
``is_logging``, ``log_file_validation``, ``kms_key_id``, ``cloudwatch_logs_log_group_arn``,
``management_events`` (``read``/``write``) and ``bucket_exposure`` (``is_public``, ``reasons``).
The global ``AWS::::Account`` snapshot carries ``cloudtrail_trails``: one summary per trail of
every scanned region, and ``_errors["cloudtrail_trails"]`` when some region could not be listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable

TRAIL = "AWS::CloudTrail::Trail"
ACCOUNT = "AWS::::Account"
TRAILS_FIELD = "cloudtrail_trails"


def _missing(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR when a field the check reads is absent from the configuration altogether."""
    absent = [f for f in fields if f not in snap.configuration]
    if not absent:
        return None
    return errored(
        f"The configuration of trail {snap.name} has no {', '.join(absent)} data, so it cannot be evaluated",
        missing=absent,
    )


def _flag(snap: Snapshot, field: str) -> bool | Verdict:
    if (err := unreadable(snap, field)) is not None:
        return err
    if (err := _missing(snap, field)) is not None:
        return err
    value = snap.configuration[field]
    if not isinstance(value, bool):
        return errored(f"The {field} value of trail {snap.name} is not a boolean ({value!r})")
    return value


@check(
    id="cloudtrail_logging_enabled",
    title="CloudTrail trails are logging",
    description="The trail is turned on (GetTrailStatus IsLogging), so it delivers events to its bucket.",
    severity=Severity.HIGH,
    resource_type=TRAIL,
    service="cloudtrail",
    remediation="Start logging on the trail: aws cloudtrail start-logging --name TRAIL_ARN",
    permissions=("cloudtrail:GetTrailStatus",),
)
def cloudtrail_logging_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    logging = _flag(snap, "is_logging")
    if isinstance(logging, Verdict):
        return logging
    if not logging:
        return failed(f"Trail {snap.name} is not logging: it was stopped or never started")
    return passed(f"Trail {snap.name} is logging")


@check(
    id="cloudtrail_log_file_validation",
    title="CloudTrail trails have log file validation enabled",
    description=(
        "Log file integrity validation is on, so CloudTrail writes signed digest files and tampering "
        "with delivered logs can be detected."
    ),
    severity=Severity.MEDIUM,
    resource_type=TRAIL,
    service="cloudtrail",
    remediation=(
        "Enable log file validation on the trail: aws cloudtrail update-trail --name TRAIL_ARN "
        "--enable-log-file-validation"
    ),
    permissions=("cloudtrail:DescribeTrails",),
)
def cloudtrail_log_file_validation(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    validation = _flag(snap, "log_file_validation")
    if isinstance(validation, Verdict):
        return validation
    if not validation:
        return failed(f"Trail {snap.name} has log file validation disabled, so log tampering is undetectable")
    return passed(f"Trail {snap.name} has log file validation enabled")


def _optional_text(snap: Snapshot, field: str) -> str | Verdict | None:
    if (err := unreadable(snap, field)) is not None:
        return err
    if (err := _missing(snap, field)) is not None:
        return err
    value = snap.configuration[field]
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return errored(f"The {field} value of trail {snap.name} is not text ({value!r})")
    return value


@check(
    id="cloudtrail_kms_encryption",
    title="CloudTrail logs are encrypted with a KMS key",
    description=(
        "The trail encrypts its log files with a customer-managed KMS key (SSE-KMS), so reading them needs "
        "both S3 and KMS permissions."
    ),
    severity=Severity.MEDIUM,
    resource_type=TRAIL,
    service="cloudtrail",
    remediation=(
        "Give the trail a KMS key whose policy lets CloudTrail use it: aws cloudtrail update-trail "
        "--name TRAIL_ARN --kms-key-id KEY_ARN"
    ),
    permissions=("cloudtrail:DescribeTrails",),
)
def cloudtrail_kms_encryption(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    key = _optional_text(snap, "kms_key_id")
    if isinstance(key, Verdict):
        return key
    if key is None:
        return failed(f"Trail {snap.name} does not encrypt its log files with a KMS key")
    return passed(f"Trail {snap.name} encrypts its log files with KMS key {key}", kms_key_id=key)


@check(
    id="cloudtrail_cloudwatch_logs",
    title="CloudTrail trails send events to CloudWatch Logs",
    description=(
        "The trail delivers its events to a CloudWatch Logs log group, where metric filters and alarms can "
        "watch them in near real time."
    ),
    severity=Severity.LOW,
    resource_type=TRAIL,
    service="cloudtrail",
    remediation=(
        "Send the trail to a log group, with a role CloudTrail can assume: aws cloudtrail update-trail "
        "--name TRAIL_ARN --cloud-watch-logs-log-group-arn LOG_GROUP_ARN --cloud-watch-logs-role-arn ROLE_ARN"
    ),
    permissions=("cloudtrail:DescribeTrails",),
)
def cloudtrail_cloudwatch_logs(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    group = _optional_text(snap, "cloudwatch_logs_log_group_arn")
    if isinstance(group, Verdict):
        return group
    if group is None:
        return failed(f"Trail {snap.name} does not deliver its events to CloudWatch Logs")
    return passed(f"Trail {snap.name} delivers its events to CloudWatch Logs group {group}", log_group_arn=group)


@check(
    id="cloudtrail_bucket_not_public",
    title="The S3 bucket of each CloudTrail trail is not public",
    description=(
        "The bucket receiving the trail's logs grants no public access through its policy or ACL, or its "
        "public access block neutralises such grants."
    ),
    severity=Severity.CRITICAL,
    resource_type=TRAIL,
    service="cloudtrail",
    remediation=(
        "Remove public grants from the trail's bucket and block public access: aws s3api "
        "put-public-access-block --bucket BUCKET --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    ),
    permissions=("s3:GetBucketPolicyStatus", "s3:GetBucketAcl", "s3:GetBucketPublicAccessBlock"),
)
def cloudtrail_bucket_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "bucket_exposure")) is not None:
        return err
    if (err := _missing(snap, "bucket_exposure")) is not None:
        return err
    exposure = snap.configuration["bucket_exposure"]
    if not isinstance(exposure, Mapping) or not isinstance(exposure.get("is_public"), bool):
        return errored(f"The bucket exposure data of trail {snap.name} is not usable ({exposure!r})")
    bucket = snap.configuration.get("s3_bucket_name") or "its bucket"
    if exposure["is_public"]:
        reasons = [str(r) for r in exposure.get("reasons") or []]
        detail = "; ".join(reasons) if reasons else "S3 reports it as public"
        return failed(f"Trail {snap.name} delivers logs to a public bucket {bucket}: {detail}", reasons=reasons)
    return passed(f"Trail {snap.name} delivers logs to bucket {bucket}, which is not public", bucket=bucket)


def _qualifies(trail: Mapping[str, Any]) -> bool:
    events = trail.get("management_events")
    return (
        trail.get("is_multi_region") is True
        and trail.get("is_logging") is True
        and isinstance(events, Mapping)
        and events.get("read") is True
        and events.get("write") is True
    )


def _undetermined(trail: Mapping[str, Any]) -> bool:
    """A multi-region trail that might qualify, but whose status or selectors could not be read."""
    if trail.get("is_multi_region") is not True or trail.get("is_logging") is False:
        return False
    events = trail.get("management_events")
    if isinstance(events, Mapping) and (events.get("read") is False or events.get("write") is False):
        return False
    return not _qualifies(trail)


def _shortfall(trail: Mapping[str, Any]) -> str:
    gaps = []
    if trail.get("is_multi_region") is not True:
        gaps.append("single-region")
    if trail.get("is_logging") is False:
        gaps.append("not logging")
    events = trail.get("management_events")
    if isinstance(events, Mapping):
        missing = [kind for kind in ("read", "write") if events.get(kind) is not True]
        if missing:
            gaps.append(f"not recording {' and '.join(missing)} management events")
    return f"{trail.get('name')} ({', '.join(gaps) or 'unknown'})"


@check(
    id="cloudtrail_multi_region_enabled",
    title="A multi-region CloudTrail trail records all management events",
    description=(
        "At least one multi-region trail is logging and records both read and write management events, so "
        "API activity in every region, including regions nobody uses, is captured."
    ),
    severity=Severity.CRITICAL,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create a multi-region trail and start it (its default selectors record all management events): "
        "aws cloudtrail create-trail --name org-audit --s3-bucket-name BUCKET --is-multi-region-trail "
        "--enable-log-file-validation && aws cloudtrail start-logging --name org-audit"
    ),
    permissions=("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"),
)
def cloudtrail_multi_region_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if snap.configuration.get("scope") != "account":
        return None
    if TRAILS_FIELD not in snap.configuration:
        return errored(
            f"The account context of {snap.name} has no CloudTrail trail data (CloudTrail was not collected)"
        )
    trails = snap.configuration[TRAILS_FIELD]
    if trails is None and TRAILS_FIELD in snap.unreadable:
        trails = []
    if not isinstance(trails, list) or any(not isinstance(t, Mapping) for t in trails):
        return errored(f"The CloudTrail trail data of {snap.name} is not usable")

    # One qualifying trail is proof enough, even if some region could not be listed.
    good = [t for t in trails if _qualifies(t)]
    if good:
        names = ", ".join(sorted(str(t.get("name")) for t in good))
        return passed(
            f"Multi-region trail(s) {names} are logging and record read and write management events",
            trails=sorted(str(t.get("arn")) for t in good),
        )
    if (err := unreadable(snap, TRAILS_FIELD)) is not None:
        return err
    undetermined = [t for t in trails if _undetermined(t)]
    if undetermined:
        names = ", ".join(
            f"{t.get('name')} (could not read {', '.join(sorted(str(f) for f in t.get('unreadable') or []))})"
            for t in undetermined
        )
        return errored(f"Could not establish whether multi-region trail(s) qualify: {names}")
    if not trails:
        return failed(f"Account {snap.account_id} has no CloudTrail trail in any scanned region")
    return failed(
        f"Account {snap.account_id} has no multi-region trail that is logging and records read and write "
        f"management events; trails found: {'; '.join(_shortfall(t) for t in trails)}",
        trails=[str(t.get("arn")) for t in trails],
    )
