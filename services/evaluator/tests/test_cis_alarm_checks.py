"""Unit tests of the CloudWatch Logs filter-pattern evaluator and the CIS alarm chain checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.checks._filter_pattern import PatternError, matches, parse
from guardian_evaluator.checks.monitoring import CIS_EVENTS, covers
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT_ID = "123456789012"
FIELD = "cloudwatch_cis_monitoring"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:security-alerts"
GROUP_ARN = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:cloudtrail:*"
EVENTS = {e.key: e for e in CIS_EVENTS}
CIS_CHECK_IDS = [
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
CHECK_IDS = CIS_CHECK_IDS
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR


def chain(key: str, pattern: str | None = None, *, confirmed: int | None = 1) -> dict[str, Any]:
    """A filter on the trail's log group with one alarm notifying one topic."""
    return {
        "name": f"cis-{key}",
        "pattern": EVENTS[key].pattern if pattern is None else pattern,
        "metrics": [
            {
                "namespace": "CIS",
                "name": f"cis-{key}",
                "alarms_error": None,
                "alarms": [
                    {
                        "name": f"alarm-{key}",
                        "arn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:alarm-{key}",
                        "actions_enabled": True,
                        "sns_topics": [{"arn": TOPIC, "confirmed_subscriptions": confirmed, "error": None}],
                        "other_actions": [],
                    }
                ],
            }
        ],
    }


def trail(filters: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "arn": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/org",
        "name": "org",
        "home_region": "us-east-1",
        "is_multi_region": True,
        "is_organization_trail": False,
        "is_logging": True,
        "management_events": {"read": True, "write": True},
        "log_group_arn": GROUP_ARN,
        "log_group": {"arn": GROUP_ARN, "region": "us-east-1", "name": "cloudtrail", "filters": filters, "error": None},
        "unreadable": {},
    }
    base.update(overrides)
    return base


def context(trails: list[dict[str, Any]], errors: dict[str, str] | None = None, scope: str = "account") -> Snapshot:
    configuration: dict[str, Any] = {"scope": scope, FIELD: {"trails": trails}}
    if errors:
        configuration["_errors"] = errors
    return Snapshot(
        resource_type="AWS::::Account",
        arn=f"arn:aws:::{ACCOUNT_ID}:account",
        name=ACCOUNT_ID,
        account_id=ACCOUNT_ID,
        region="global",
        tags={},
        configuration=configuration,
    )


def run(check_id: str, snapshot: Snapshot) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, chk.parameters)
    return None if verdict is None else (verdict.status, verdict.reason)


def verdict(check_id: str, snapshot: Snapshot) -> tuple[Status, str]:
    result = run(check_id, snapshot)
    assert result is not None
    return result


# --- the pattern evaluator -------------------------------------------------------------------


@pytest.mark.parametrize("event", CIS_EVENTS, ids=[e.key for e in CIS_EVENTS])
def test_each_reference_pattern_covers_its_own_class_only_where_expected(event: Any) -> None:
    assert covers(event.pattern, event) is True
    overlapping = {other.key for other in CIS_EVENTS if other is not event and covers(event.pattern, other)}
    # Sign-in without MFA also matches failed sign-ins (the CIS pattern does): the only overlap.
    assert overlapping == ({"console_auth_failures"} if event.key == "console_signin_without_mfa" else set())


def test_whitespace_quoting_and_order_do_not_matter() -> None:
    event = EVENTS["cloudtrail_changes"]
    variants = [
        "{($.eventName=CreateTrail)||($.eventName=UpdateTrail)||($.eventName=DeleteTrail)||"
        "($.eventName=StartLogging)||($.eventName=StopLogging)}",
        '{ ($.eventName = "StopLogging") || ($.eventName = "StartLogging") || ($.eventName = "DeleteTrail") '
        '|| ($.eventName = "UpdateTrail") || ($.eventName = "CreateTrail") }',
        "{\n  $.eventName = CreateTrail ||\n  $.eventName = UpdateTrail || $.eventName = DeleteTrail ||"
        " $.eventName = StartLogging || $.eventName = StopLogging\n}",
        "{ $.eventSource = cloudtrail.amazonaws.com && ($.eventName = %^(Create|Update|Delete)Trail$% || "
        "$.eventName = *Logging) }",
    ]
    for pattern in variants:
        assert covers(pattern, event) is True, pattern


def test_a_missing_key_event_name_or_an_extra_condition_does_not_count() -> None:
    event = EVENTS["cloudtrail_changes"]
    assert (
        covers("{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) }", event)
        is False
    )
    narrowed = "{ (" + event.pattern[1:-1] + ") && $.userIdentity.type = Root }"
    assert covers(narrowed, event) is False
    assert covers('{ $.errorCode = "AccessDenied*" }', EVENTS["unauthorized_api_calls"]) is False


def test_unparseable_patterns_are_not_credited() -> None:
    event = EVENTS["root_usage"]
    for pattern in ("ConsoleLogin", '{ $.userIdentity.type = "Root" ', "{ $.a ~ 1 }", "{ $.a = }", None, 7):
        assert covers(pattern, event) is None, pattern
    with pytest.raises(PatternError, match="expected"):
        parse("{ ($.a = 1 }")


def test_comparison_semantics() -> None:
    event = {"a": {"b": [{"c": "value"}], "n": 5, "t": True, "z": None}, "s": "AccessDeniedException"}
    assert matches(parse("{ $.a.b[0].c = val* }"), event)
    assert matches(parse('{ $.s = "*Denied*" }'), event)
    assert not matches(parse('{ $.s = "Denied" }'), event)
    assert matches(parse("{ $.a.n >= 5 && $.a.n < 6 && $.a.n != 4 }"), event)
    assert matches(parse("{ $.a.t IS TRUE && $.a.z IS NULL && $.missing NOT EXISTS }"), event)
    assert not matches(parse('{ $.missing != "x" }'), event)  # a missing property never matches
    assert not matches(parse("{ $.a.n = many }"), event)
    assert matches(parse("{ $.s = %Denied% }"), event)
    assert not matches(parse("{ $.s != %Denied% }"), event)
    assert matches(parse("{ $.x = 1 || $.a.n = 5 && $.s = AccessDenied* }"), event)
    assert not matches(parse("{ ($.x = 1 || $.a.n = 5) && $.s = Nope }"), event)


# --- the chain -------------------------------------------------------------------------------


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_a_complete_chain_passes(check_id: str) -> None:
    key = check_id.removeprefix("cloudwatch_alarm_")
    status, reason = verdict(check_id, context([trail([chain(key)])]))
    assert status == PASS
    assert reason.endswith(f"-> alarm alarm-{key} -> SNS topic {TOPIC} (1 confirmed subscription(s))")


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_no_matching_filter_fails(check_id: str) -> None:
    key = check_id.removeprefix("cloudwatch_alarm_")
    other = "root_usage" if key != "root_usage" else "vpc_changes"
    status, reason = verdict(check_id, context([trail([chain(other)])]))
    assert status == FAIL
    assert "none of the 1 metric filter(s) on log group cloudtrail (trail org) matches every" in reason


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_unreadable_filters_are_errors(check_id: str) -> None:
    broken = trail([], log_group={"arn": GROUP_ARN, "name": "cloudtrail", "filters": None, "error": "AccessDenied"})
    status, reason = verdict(check_id, context([broken]))
    assert status == ERROR
    assert "metric filters of log group cloudtrail (AccessDenied)" in reason


def test_each_missing_link_is_named() -> None:
    check_id = "cloudwatch_alarm_root_usage"
    no_alarm = chain("root_usage")
    no_alarm["metrics"][0]["alarms"] = []
    assert verdict(check_id, context([trail([no_alarm])])) == (
        FAIL,
        "No complete alert chain for use of the root user: metric filter cis-root_usage (metric CIS/cis-root_usage) "
        "has no alarm",
    )
    disabled = chain("root_usage")
    disabled["metrics"][0]["alarms"][0]["actions_enabled"] = False
    assert "alarm alarm-root_usage has its actions disabled" in verdict(check_id, context([trail([disabled])]))[1]
    silent = chain("root_usage")
    silent["metrics"][0]["alarms"][0]["sns_topics"] = []
    assert "alarm alarm-root_usage notifies no SNS topic" in verdict(check_id, context([trail([silent])]))[1]
    unconfirmed = chain("root_usage", confirmed=0)
    assert (
        f"SNS topic {TOPIC} of alarm alarm-root_usage has no confirmed subscription"
        in (verdict(check_id, context([trail([unconfirmed])]))[1])
    )
    opaque = chain("root_usage", pattern="Root")
    assert "could not interpret the pattern of cis-root_usage" in verdict(check_id, context([trail([opaque])]))[1]


def test_the_trail_must_be_a_qualifying_source() -> None:
    check_id = "cloudwatch_alarm_root_usage"
    cases = {
        "trail org is single-region": {"is_multi_region": False},
        "trail org is not logging": {"is_logging": False},
        "trail org does not record both read and write management events": {
            "management_events": {"read": False, "write": True}
        },
        "multi-region trail org does not deliver its events to CloudWatch Logs": {"log_group_arn": None},
    }
    for reason, overrides in cases.items():
        assert verdict(check_id, context([trail([chain("root_usage")], **overrides)])) == (
            FAIL,
            f"No complete alert chain for use of the root user: {reason}",
        )
    assert verdict(check_id, context([])) == (
        FAIL,
        f"No alert on use of the root user: account {ACCOUNT_ID} has no CloudTrail trail in any scanned region",
    )


def test_unknown_links_are_errors_unless_another_chain_is_complete() -> None:
    check_id = "cloudwatch_alarm_root_usage"
    unknown_status = trail([chain("root_usage")], is_logging=None, unreadable={"is_logging": "AccessDenied"})
    status, reason = verdict(check_id, context([unknown_status]))
    assert status == ERROR
    assert "status or event selectors of trail org (is_logging: AccessDenied)" in reason

    unknown_topic = chain("root_usage", confirmed=None)
    unknown_topic["metrics"][0]["alarms"][0]["sns_topics"][0]["error"] = "AuthorizationError"
    assert verdict(check_id, context([trail([unknown_topic])]))[0] == ERROR
    unknown_alarms = chain("root_usage")
    unknown_alarms["metrics"][0].update(alarms=None, alarms_error="AccessDenied on describe_alarms")
    assert (
        "alarms on metric CIS/cis-root_usage (AccessDenied on describe_alarms)"
        in (verdict(check_id, context([trail([unknown_alarms])]))[1])
    )

    # One complete chain is proof, whatever else could not be read.
    good = trail([chain("root_usage")], arn="arn:aws:cloudtrail:us-east-1:123456789012:trail/good", name="good")
    assert verdict(check_id, context([unknown_status, good], {FIELD: "eu-west-1: AccessDenied"}))[0] == PASS
    # With no complete chain, a region whose trails could not be listed makes it an error.
    assert verdict(check_id, context([trail([])], {FIELD: "eu-west-1: AccessDenied"})) == (
        ERROR,
        f"Could not read {FIELD} ({FIELD}: eu-west-1: AccessDenied)",
    )


def test_missing_or_unusable_data_is_an_error_and_regional_snapshots_are_skipped() -> None:
    check_id = "cloudwatch_alarm_vpc_changes"
    regional = context([trail([chain("vpc_changes")])], scope="region")
    assert run(check_id, regional) is None
    bare = copy.deepcopy(context([]))
    assert isinstance(bare.configuration, dict)
    del bare.configuration[FIELD]
    assert verdict(check_id, bare)[0] == ERROR
    broken = context([])
    assert isinstance(broken.configuration, dict)
    broken.configuration[FIELD] = None
    assert verdict(check_id, broken) == (ERROR, f"The CloudWatch alerting data of {ACCOUNT_ID} is not usable")


def test_one_check_per_cis_event_with_these_ids() -> None:
    assert [f"cloudwatch_alarm_{e.key}" for e in CIS_EVENTS] == CIS_CHECK_IDS
    assert all(check_id in REGISTRY for check_id in CIS_CHECK_IDS)


def test_check_metadata_carries_cli_and_terraform() -> None:
    for check_id in CHECK_IDS:
        chk = REGISTRY.get(check_id)
        assert "CLI: aws logs put-metric-filter" in chk.remediation
        assert 'Terraform: resource "aws_cloudwatch_log_metric_filter"' in chk.remediation
        assert chk.service == "account"
