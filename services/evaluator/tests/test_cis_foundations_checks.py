"""Unit tests of the CIS Foundations gap checks on configurations shaped like the collectors' output,
and of the CloudTrail collector's reading of S3 data event selectors."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_collector.collectors.cloudtrail import bucket_logging, s3_data_events
from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "AWS::::Account"
NOW = "2026-06-01T00:00:00+00:00"


def judge(
    check_id: str,
    resource_type: str,
    configuration: dict[str, Any],
    unreadable: dict[str, str] | None = None,
    **params: Any,
) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    assert chk.resource_type == resource_type
    config = dict(configuration)
    if unreadable:
        config["_errors"] = unreadable
    snap = Snapshot(
        resource_type=resource_type,
        arn="arn:aws:test::123456789012:thing",
        name="thing",
        account_id="123456789012",
        region="global" if resource_type == ACCOUNT else "us-east-1",
        tags={},
        configuration=config,
    )
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, resource_type: str, configuration: dict[str, Any], **kw: Any) -> Status | None:
    result = judge(check_id, resource_type, configuration, **kw)
    return None if result is None else result[0]


# -- CIS 1.13 -------------------------------------------------------------------------------------


def key(key_id: str, state: str) -> dict[str, Any]:
    return {"id": key_id, "status": state, "created": "2026-01-01T00:00:00+00:00"}


def test_single_active_key() -> None:
    user = "AWS::IAM::User"
    one = {"access_keys": [key("AKIA1", "Active"), key("AKIA2", "Inactive")]}
    two = {"access_keys": [key("AKIA1", "Active"), key("AKIA2", "Active")]}
    assert status("iam_user_single_active_key", user, one) is Status.PASS
    verdict = judge("iam_user_single_active_key", user, two)
    assert verdict is not None
    assert verdict[0] is Status.FAIL
    assert "AKIA1, AKIA2" in verdict[1]
    assert judge("iam_user_single_active_key", user, {"access_keys": [key("AKIA1", "Inactive")]}) is None
    assert status("iam_user_single_active_key", user, {}) is Status.ERROR
    denied = {"access_keys": None}
    assert (
        status("iam_user_single_active_key", user, denied, unreadable={"access_keys": "AccessDenied"}) is Status.ERROR
    )
    assert status("iam_user_single_active_key", user, {"access_keys": [{"id": "x"}]}) is Status.ERROR


# -- CIS 1.19 -------------------------------------------------------------------------------------


def test_server_certificate_expiry() -> None:
    cert = "AWS::IAM::ServerCertificate"
    check_id = "iam_server_certificate_not_expired"
    assert status(check_id, cert, {"expiration": "2026-07-01T00:00:00+00:00"}, now=NOW) is Status.PASS
    verdict = judge(check_id, cert, {"expiration": "2026-05-01T00:00:00+00:00"}, now=NOW)
    assert verdict is not None
    assert verdict[0] is Status.FAIL
    assert "expired on 2026-05-01" in verdict[1]
    # Expiring at the very moment counts as expired.
    assert status(check_id, cert, {"expiration": NOW}, now=NOW) is Status.FAIL
    assert status(check_id, cert, {"expiration": "soon"}, now=NOW) is Status.ERROR
    assert status(check_id, cert, {}, now=NOW) is Status.ERROR


# -- CIS 1.22 -------------------------------------------------------------------------------------


def test_cloudshell_full_access() -> None:
    check_id = "iam_cloudshell_full_access_restricted"
    nobody = {"scope": "account", "iam_cloudshell_full_access": {"users": [], "groups": [], "roles": []}}
    assert status(check_id, ACCOUNT, nobody) is Status.PASS
    held = {"scope": "account", "iam_cloudshell_full_access": {"users": ["dave"], "groups": [], "roles": ["ops"]}}
    verdict = judge(check_id, ACCOUNT, held)
    assert verdict is not None
    assert verdict[0] is Status.FAIL
    assert "user dave" in verdict[1]
    assert "role ops" in verdict[1]
    denied = {"scope": "account", "iam_cloudshell_full_access": None}
    assert status(check_id, ACCOUNT, denied, unreadable={"iam_cloudshell_full_access": "AccessDenied"}) is Status.ERROR
    assert status(check_id, ACCOUNT, {"scope": "account"}) is Status.ERROR
    assert judge(check_id, ACCOUNT, {"scope": "region"}) is None


# -- CIS 2.1.2 ------------------------------------------------------------------------------------


def test_mfa_delete() -> None:
    bucket = "AWS::S3::Bucket"
    check_id = "s3_bucket_mfa_delete"
    assert status(check_id, bucket, {"versioning": {"status": "Enabled", "mfa_delete": True}}) is Status.PASS
    assert status(check_id, bucket, {"versioning": {"status": "Enabled", "mfa_delete": False}}) is Status.FAIL
    assert status(check_id, bucket, {"versioning": {"status": "Disabled", "mfa_delete": False}}) is Status.FAIL
    assert status(check_id, bucket, {"versioning": {"status": "Suspended", "mfa_delete": True}}) is Status.FAIL
    denied = {"versioning": None}
    assert status(check_id, bucket, denied, unreadable={"versioning": "AccessDenied"}) is Status.ERROR
    assert status(check_id, bucket, {"versioning": {"status": "Enabled"}}) is Status.ERROR


# -- CIS 3.4 --------------------------------------------------------------------------------------


def test_trail_bucket_access_logging() -> None:
    trail = "AWS::CloudTrail::Trail"
    check_id = "cloudtrail_bucket_access_logging"
    on = {"s3_bucket_name": "trail-logs", "bucket_logging": {"enabled": True, "target_bucket": "access-logs"}}
    off = {"s3_bucket_name": "trail-logs", "bucket_logging": {"enabled": False, "target_bucket": None}}
    assert status(check_id, trail, on) is Status.PASS
    assert status(check_id, trail, off) is Status.FAIL
    foreign = {"s3_bucket_name": "central-logs", "bucket_logging": None}
    assert status(check_id, trail, foreign, unreadable={"bucket_logging": "AccessDenied on GetBucketLogging"}) is (
        Status.ERROR
    )
    assert status(check_id, trail, {"s3_bucket_name": "trail-logs"}) is Status.ERROR


def test_bucket_logging_reads_the_answer() -> None:
    assert bucket_logging({}) == {"enabled": False, "target_bucket": None}
    answer = {"LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": "ct/"}}
    assert bucket_logging(answer) == {"enabled": True, "target_bucket": "access-logs"}


# -- CIS 3.8 / 3.9 --------------------------------------------------------------------------------


def summary(
    name: str, events: dict[str, bool] | None, *, multi: bool = True, logging: bool | None = True
) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:cloudtrail:us-east-1:123456789012:trail/{name}",
        "name": name,
        "is_multi_region": multi,
        "is_logging": logging,
        "management_events": {"read": True, "write": True},
        "s3_data_events": events,
        "unreadable": [] if events is not None else ["s3_data_events"],
    }


@pytest.mark.parametrize(
    ("check_id", "kind"), [("cloudtrail_s3_write_data_events", "write"), ("cloudtrail_s3_read_data_events", "read")]
)
def test_s3_data_events(check_id: str, kind: str) -> None:
    both = {"read": True, "write": True}
    none = {"read": False, "write": False}
    only = {"read": kind == "read", "write": kind == "write"}
    other = {"read": kind != "read", "write": kind != "write"}

    def ctx(*trails: dict[str, Any], unreadable: dict[str, str] | None = None) -> Status | None:
        config = {"scope": "account", "cloudtrail_trails": list(trails)}
        return status(check_id, ACCOUNT, config, unreadable=unreadable)

    assert ctx(summary("all", both)) is Status.PASS
    assert ctx(summary("one", only)) is Status.PASS
    assert ctx(summary("other", other)) is Status.FAIL
    assert ctx(summary("plain", none)) is Status.FAIL
    assert ctx() is Status.FAIL
    # A single-region trail does not cover buckets of other regions; a stopped trail records nothing.
    assert ctx(summary("local", both, multi=False)) is Status.FAIL
    assert ctx(summary("stopped", both, logging=False)) is Status.FAIL
    # Unknown selectors or an unlisted region never pass.
    assert ctx(summary("unknown", None)) is Status.ERROR
    assert ctx(summary("plain", none), unreadable={"cloudtrail_trails": "eu-west-1: AccessDenied"}) is Status.ERROR
    assert status(check_id, ACCOUNT, {"scope": "account"}) is Status.ERROR
    # One qualifying trail is proof even when another region could not be listed.
    assert ctx(summary("all", both), unreadable={"cloudtrail_trails": "eu-west-1: AccessDenied"}) is Status.PASS


def test_classic_selectors_count_only_all_buckets() -> None:
    def classic(values: list[str], kind: str = "All") -> dict[str, Any]:
        return {
            "EventSelectors": [
                {"ReadWriteType": kind, "DataResources": [{"Type": "AWS::S3::Object", "Values": values}]}
            ]
        }

    assert s3_data_events(classic(["arn:aws:s3"])) == {"read": True, "write": True}
    assert s3_data_events(classic(["arn:aws:s3:::"], "WriteOnly")) == {"read": False, "write": True}
    assert s3_data_events(classic(["arn:aws:s3:::one-bucket/"])) == {"read": False, "write": False}
    assert s3_data_events({"EventSelectors": [{"ReadWriteType": "All"}]}) == {"read": False, "write": False}
    assert s3_data_events({}) == {"read": False, "write": False}


def test_advanced_selectors() -> None:
    def advanced(*extra: dict[str, Any]) -> dict[str, Any]:
        fields = [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            *extra,
        ]
        return {"AdvancedEventSelectors": [{"Name": "s3", "FieldSelectors": fields}]}

    assert s3_data_events(advanced()) == {"read": True, "write": True}
    assert s3_data_events(advanced({"Field": "readOnly", "Equals": ["true"]})) == {"read": True, "write": False}
    assert s3_data_events(advanced({"Field": "readOnly", "Equals": ["false"]})) == {"read": False, "write": True}
    narrowed = advanced({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::one-bucket/"]})
    assert s3_data_events(narrowed) == {"read": False, "write": False}
    management = {
        "AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]
    }
    assert s3_data_events(management) == {"read": False, "write": False}


# -- CIS 1.18 -------------------------------------------------------------------------------------


def test_instances_use_an_instance_role() -> None:
    instance = "AWS::EC2::Instance"
    check_id = "ec2_instance_iam_role"
    profile = "arn:aws:iam::123456789012:instance-profile/app"
    assert status(check_id, instance, {"state": "running", "iam_instance_profile": profile}) is Status.PASS
    assert status(check_id, instance, {"state": "stopped", "iam_instance_profile": None}) is Status.FAIL
    assert judge(check_id, instance, {"state": "terminated", "iam_instance_profile": None}) is None
    assert status(check_id, instance, {"state": "running"}) is Status.ERROR
    assert status(check_id, instance, {"state": "running", "iam_instance_profile": 7}) is Status.ERROR


# -- CIS 1.11 -------------------------------------------------------------------------------------


def test_console_users_hold_no_never_used_key() -> None:
    user = "AWS::IAM::User"
    check_id = "iam_user_no_unused_key_at_console_setup"
    used = {**key("AKIA1", "Active"), "last_used": "2026-05-01T00:00:00+00:00"}
    fresh = {**key("AKIA2", "Active"), "last_used": None}
    idle = {**key("AKIA3", "Inactive"), "last_used": None}
    assert status(check_id, user, {"console_access": True, "access_keys": [used, idle]}) is Status.PASS
    assert status(check_id, user, {"console_access": True, "access_keys": []}) is Status.PASS
    verdict = judge(check_id, user, {"console_access": True, "access_keys": [used, fresh]})
    assert verdict is not None
    assert verdict[0] is Status.FAIL
    assert "AKIA2" in verdict[1]
    assert judge(check_id, user, {"console_access": False, "access_keys": [fresh]}) is None
    # A key whose last use could not be read is never taken as used or unused.
    unknown = {"console_access": True, "access_keys": [{**fresh, "last_used": None}]}
    assert status(check_id, user, unknown, unreadable={"access_key_last_used": "AccessDenied"}) is Status.ERROR
    assert status(check_id, user, {"access_keys": [used]}) is Status.ERROR
    assert status(check_id, user, {"console_access": True}) is Status.ERROR


# -- CIS 1.2 --------------------------------------------------------------------------------------


def test_security_contact() -> None:
    check_id = "account_security_contact_registered"
    contact = {"name": "Security team", "title": "Security", "email": "security@example.com"}
    assert status(check_id, ACCOUNT, {"scope": "account", "account_security_contact": contact}) is Status.PASS
    assert status(check_id, ACCOUNT, {"scope": "account", "account_security_contact": None}) is Status.FAIL
    no_email = {**contact, "email": None}
    assert status(check_id, ACCOUNT, {"scope": "account", "account_security_contact": no_email}) is Status.FAIL
    denied = {"scope": "account", "account_security_contact": None}
    assert status(check_id, ACCOUNT, denied, unreadable={"account_security_contact": "AccessDenied"}) is Status.ERROR
    assert status(check_id, ACCOUNT, {"scope": "account"}) is Status.ERROR
    assert judge(check_id, ACCOUNT, {"scope": "region"}) is None
