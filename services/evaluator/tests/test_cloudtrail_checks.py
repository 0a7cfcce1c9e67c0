"""Unit tests of the CloudTrail checks on configurations shaped like the CloudTrail collector's output."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

TRAIL = "AWS::CloudTrail::Trail"
NAME = "org-audit"
ARN = f"arn:aws:cloudtrail:us-east-1:123456789012:trail/{NAME}"
KEY = "arn:aws:kms:us-east-1:123456789012:key/2222"
GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:cloudtrail:*"
DENIED = "AccessDenied on GetTrailStatus: not authorised"


def good_trail() -> dict[str, Any]:
    return {
        "name": NAME,
        "arn": ARN,
        "home_region": "us-east-1",
        "is_multi_region": True,
        "is_organization_trail": False,
        "include_global_service_events": True,
        "log_file_validation": True,
        "kms_key_id": KEY,
        "cloudwatch_logs_log_group_arn": GROUP,
        "s3_bucket_name": "trail-logs",
        "s3_key_prefix": None,
        "is_logging": True,
        "management_events": {"read": True, "write": True},
        "tags": {},
        "bucket_exposure": {"is_public": False, "reasons": []},
    }


def run(check_id: str, configuration: dict[str, Any], resource_type: str = TRAIL) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    snap = Snapshot(
        resource_type=resource_type,
        arn=ARN if resource_type == TRAIL else "arn:aws:::123456789012:account",
        name=NAME if resource_type == TRAIL else "123456789012",
        account_id="123456789012",
        region="us-east-1" if resource_type == TRAIL else "global",
        tags={},
        configuration=configuration,
    )
    verdict = chk.fn(snap, chk.parameters)
    return None if verdict is None else (verdict.status, verdict.reason)


def verdict(check_id: str, configuration: dict[str, Any]) -> tuple[Status, str]:
    result = run(check_id, configuration)
    assert result is not None
    return result


def unreadable(configuration: dict[str, Any], field: str) -> dict[str, Any]:
    return {**configuration, field: None, "_errors": {field: DENIED}}


def without(configuration: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in configuration.items() if k != field}


# check id, field it reads, a value of that field that fails, a phrase of the failing reason
TRAIL_CHECKS = (
    ("cloudtrail_logging_enabled", "is_logging", False, "is not logging"),
    ("cloudtrail_log_file_validation", "log_file_validation", False, "log file validation disabled"),
    ("cloudtrail_kms_encryption", "kms_key_id", None, "does not encrypt"),
    ("cloudtrail_cloudwatch_logs", "cloudwatch_logs_log_group_arn", None, "does not deliver"),
    (
        "cloudtrail_bucket_not_public",
        "bucket_exposure",
        {"is_public": True, "reasons": ["the ACL of trail-logs grants AllUsers:READ and IgnorePublicAcls is off"]},
        "AllUsers:READ",
    ),
)


def test_checks_are_registered_with_the_agreed_metadata() -> None:
    expected = {
        "cloudtrail_logging_enabled": "high",
        "cloudtrail_log_file_validation": "medium",
        "cloudtrail_kms_encryption": "medium",
        "cloudtrail_cloudwatch_logs": "low",
        "cloudtrail_bucket_not_public": "critical",
    }
    for check_id, severity in expected.items():
        chk = REGISTRY.get(check_id)
        assert (chk.resource_type, chk.service, chk.severity.value) == (TRAIL, "cloudtrail", severity)
        assert "aws " in chk.remediation
    account = REGISTRY.get("cloudtrail_multi_region_enabled")
    assert (account.resource_type, account.service, account.severity.value) == (
        "AWS::::Account",
        "account",
        "critical",
    )


@pytest.mark.parametrize(("check_id", "field", "bad", "phrase"), TRAIL_CHECKS)
def test_good_trail_passes(check_id: str, field: str, bad: Any, phrase: str) -> None:
    status, reason = verdict(check_id, good_trail())
    assert status is Status.PASS, reason
    assert NAME in reason


@pytest.mark.parametrize(("check_id", "field", "bad", "phrase"), TRAIL_CHECKS)
def test_bad_trail_fails(check_id: str, field: str, bad: Any, phrase: str) -> None:
    status, reason = verdict(check_id, {**good_trail(), field: bad})
    assert status is Status.FAIL
    assert phrase in reason
    assert NAME in reason


@pytest.mark.parametrize(("check_id", "field", "bad", "phrase"), TRAIL_CHECKS)
def test_unreadable_field_is_error(check_id: str, field: str, bad: Any, phrase: str) -> None:
    status, reason = verdict(check_id, unreadable(good_trail(), field))
    assert status is Status.ERROR
    assert field in reason
    assert "AccessDenied" in reason


@pytest.mark.parametrize(("check_id", "field", "bad", "phrase"), TRAIL_CHECKS)
def test_missing_field_is_error(check_id: str, field: str, bad: Any, phrase: str) -> None:
    status, reason = verdict(check_id, without(good_trail(), field))
    assert status is Status.ERROR
    assert field in reason


@pytest.mark.parametrize(
    ("check_id", "field", "value"),
    [
        ("cloudtrail_logging_enabled", "is_logging", "yes"),
        ("cloudtrail_kms_encryption", "kms_key_id", 42),
        ("cloudtrail_bucket_not_public", "bucket_exposure", {"reasons": []}),
    ],
)
def test_malformed_value_is_error(check_id: str, field: str, value: Any) -> None:
    assert verdict(check_id, {**good_trail(), field: value})[0] is Status.ERROR


def test_empty_kms_key_fails() -> None:
    assert verdict("cloudtrail_kms_encryption", {**good_trail(), "kms_key_id": ""})[0] is Status.FAIL


def test_pass_reasons_name_key_and_group() -> None:
    assert KEY in verdict("cloudtrail_kms_encryption", good_trail())[1]
    assert GROUP in verdict("cloudtrail_cloudwatch_logs", good_trail())[1]


# --- multi-region coverage (global account snapshot) -----------------------------------------


def summary(name: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "arn": f"arn:aws:cloudtrail:us-east-1:123456789012:trail/{name}",
        "name": name,
        "home_region": "us-east-1",
        "is_multi_region": True,
        "is_organization_trail": False,
        "is_logging": True,
        "management_events": {"read": True, "write": True},
        "unreadable": [],
    }
    base.update(changes)
    return base


def multi(configuration: dict[str, Any]) -> tuple[Status, str] | None:
    return run("cloudtrail_multi_region_enabled", configuration, resource_type="AWS::::Account")


LISTING_FAILED = {"cloudtrail_trails": "trails could not be listed in 1 region(s): eu-west-1: AccessDenied"}


def test_multi_region_passes_with_one_qualifying_trail() -> None:
    result = multi({"scope": "account", "cloudtrail_trails": [summary("local", is_multi_region=False), summary("all")]})
    assert result is not None
    assert result[0] is Status.PASS
    assert "all" in result[1]


def test_multi_region_passes_even_if_another_region_failed_listing() -> None:
    result = multi({"scope": "account", "cloudtrail_trails": [summary("all")], "_errors": LISTING_FAILED})
    assert result is not None
    assert result[0] is Status.PASS


@pytest.mark.parametrize(
    ("trail", "phrase"),
    [
        (summary("local", is_multi_region=False), "single-region"),
        (summary("stopped", is_logging=False), "not logging"),
        (summary("writes", management_events={"read": False, "write": True}), "not recording read"),
        (summary("none", management_events={"read": False, "write": False}), "read and write"),
    ],
)
def test_multi_region_fails_naming_each_shortfall(trail: dict[str, Any], phrase: str) -> None:
    result = multi({"scope": "account", "cloudtrail_trails": [trail]})
    assert result is not None
    assert result[0] is Status.FAIL
    assert phrase in result[1]
    assert str(trail["name"]) in result[1]


def test_multi_region_fails_with_no_trail() -> None:
    result = multi({"scope": "account", "cloudtrail_trails": []})
    assert result is not None
    assert result == (Status.FAIL, "Account 123456789012 has no CloudTrail trail in any scanned region")


def test_multi_region_listing_failure_without_qualifying_trail_is_error() -> None:
    result = multi(
        {"scope": "account", "cloudtrail_trails": [summary("local", is_multi_region=False)], "_errors": LISTING_FAILED}
    )
    assert result is not None
    assert result[0] is Status.ERROR
    assert "eu-west-1" in result[1]


def test_multi_region_unknown_status_of_candidate_is_error() -> None:
    trail = summary("all", is_logging=None, unreadable=["is_logging"])
    result = multi({"scope": "account", "cloudtrail_trails": [trail]})
    assert result is not None
    assert result[0] is Status.ERROR
    assert "is_logging" in result[1]


def test_multi_region_known_shortfall_is_not_hidden_by_unknown_selectors() -> None:
    trail = summary("stopped", is_logging=False, management_events=None, unreadable=["management_events"])
    result = multi({"scope": "account", "cloudtrail_trails": [trail]})
    assert result is not None
    assert result[0] is Status.FAIL


def test_multi_region_missing_field_is_error() -> None:
    result = multi({"scope": "account"})
    assert result is not None
    assert result[0] is Status.ERROR


def test_multi_region_does_not_apply_to_regional_snapshots() -> None:
    assert multi({"scope": "region"}) is None
