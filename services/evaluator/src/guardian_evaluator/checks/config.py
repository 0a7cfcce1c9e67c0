"""AWS Config checks on the account context.

Regional ``AWS::::Account`` snapshots carry ``config_recording``: ``{"recorders": [{"name",
"all_supported", "include_global_resource_types", "recording_strategy", "resource_types",
"excluded_resource_types", "recording", "last_status", "last_error"}], "delivery_channels": [...]}``.
The global snapshot carries ``config_aggregators`` (every aggregator this account owns in a scanned
region) and ``config_scanned_regions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import ACCOUNT, context_scope, needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable


def _recorder_problems(recorder: Mapping[str, Any]) -> list[str]:
    name = recorder.get("name")
    problems = []
    if recorder.get("recording") is not True:
        problems.append(f"recorder {name} is not recording")
    if recorder.get("all_supported") is not True:
        detail = recorder.get("recording_strategy") or "a selected list of resource types"
        count = len(recorder.get("resource_types") or []) or len(recorder.get("excluded_resource_types") or [])
        problems.append(f"recorder {name} records only some resource types ({detail}, {count} type(s) listed)")
    if str(recorder.get("last_status") or "").upper() == "FAILURE":
        problems.append(f"recorder {name}'s last recording attempt failed ({recorder.get('last_error') or 'no code'})")
    return problems


@check(
    id="config_recorder_enabled",
    title="AWS Config records every supported resource in each region",
    description=(
        "In every scanned region a configuration recorder is recording all supported resource types and a "
        "delivery channel exists, so every configuration change is kept as history for change review and audits."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create a recorder for all supported resources, a delivery channel, and start recording in each region.\n"
        "CLI: aws configservice put-configuration-recorder --configuration-recorder name=default,roleARN=ROLE_ARN "
        "--recording-group allSupported=true,includeGlobalResourceTypes=true && aws configservice "
        "put-delivery-channel --delivery-channel name=default,s3BucketName=BUCKET && aws configservice "
        "start-configuration-recorder --configuration-recorder-name default\n"
        'Terraform: resource "aws_config_configuration_recorder" "main" { role_arn = aws_iam_role.config.arn, '
        "recording_group { all_supported = true } } plus aws_config_delivery_channel and "
        "aws_config_configuration_recorder_status { is_enabled = true }"
    ),
    permissions=(
        "config:DescribeConfigurationRecorders",
        "config:DescribeConfigurationRecorderStatus",
        "config:DescribeDeliveryChannels",
    ),
)
def config_recorder_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    if (err := needs(snap, "config_recording")) is not None:
        return err
    data = snap.configuration["config_recording"]
    if not isinstance(data, Mapping) or not isinstance(data.get("recorders"), list):
        return errored(f"The AWS Config data of {snap.region} is not usable ({data!r})")
    recorders = [r for r in data["recorders"] if isinstance(r, Mapping)]
    channels = [str(c) for c in data.get("delivery_channels") or []]
    if not recorders:
        return failed(f"AWS Config has no configuration recorder in {snap.region}")
    problems: list[str] = []
    for recorder in recorders:
        mine = _recorder_problems(recorder)
        if not mine and channels:
            return passed(
                f"AWS Config recorder {recorder.get('name')} records all supported resources in {snap.region} "
                f"and delivers to {', '.join(channels)}",
                recorder=recorder.get("name"),
                delivery_channels=channels,
            )
        problems.extend(mine)
    if not channels:
        problems.append("no delivery channel exists, so recorded changes are not delivered anywhere")
    return failed(f"AWS Config is not fully recording in {snap.region}: " + "; ".join(problems), problems=problems)


def _covers(source: Mapping[str, Any], scanned: list[str]) -> bool:
    if source.get("all_regions") is True:
        return True
    regions = {str(r) for r in source.get("regions") or []}
    return bool(scanned) and set(scanned) <= regions


@check(
    id="config_aggregator_all_regions",
    title="An AWS Config aggregator gathers this account's configuration from every region",
    description=(
        "A configuration aggregator owned by this account collects this account's (or the organisation's) "
        "Config data from all regions, so one place shows configuration and compliance across regions. An "
        "aggregator kept in the organisation's management or delegated administrator account is not visible "
        "from a member account; accept the finding there with that aggregator as evidence."
    ),
    severity=Severity.LOW,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create an aggregator covering all regions (organisation-wide from the management or delegated "
        "administrator account).\n"
        "CLI: aws configservice put-configuration-aggregator --configuration-aggregator-name all-regions "
        "--account-aggregation-sources AccountIds=ACCOUNT_ID,AllAwsRegions=true\n"
        'Terraform: resource "aws_config_configuration_aggregator" "all" { name = "all-regions" '
        "account_aggregation_source { account_ids = [data.aws_caller_identity.current.account_id], "
        "all_regions = true } }"
    ),
    permissions=("config:DescribeConfigurationAggregators",),
)
def config_aggregator_all_regions(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "account":
        return None
    if "config_aggregators" not in snap.configuration:
        return errored(f"The account context of {snap.name} has no AWS Config data (Config was not collected)")
    aggregators = snap.configuration["config_aggregators"]
    if not isinstance(aggregators, list):
        return unreadable(snap, "config_aggregators") or errored(f"The aggregator data of {snap.name} is not a list")
    scanned = [str(r) for r in snap.configuration.get("config_scanned_regions") or []]
    seen: list[str] = []
    for aggregator in aggregators:
        if not isinstance(aggregator, Mapping):
            continue
        name = str(aggregator.get("name"))
        organisation = aggregator.get("organization")
        if isinstance(organisation, Mapping) and _covers(organisation, scanned):
            return passed(
                f"AWS Config aggregator {name} gathers the whole organisation from every region", aggregator=name
            )
        for source in aggregator.get("account_sources") or []:
            mine = isinstance(source, Mapping) and snap.account_id in (source.get("account_ids") or [])
            if mine and _covers(source, scanned):
                return passed(
                    f"AWS Config aggregator {name} gathers account {snap.account_id} from every region",
                    aggregator=name,
                )
        seen.append(name)
    if (err := unreadable(snap, "config_aggregators")) is not None:
        return err
    if seen:
        return failed(
            f"No AWS Config aggregator gathers account {snap.account_id} from every region; aggregators found: "
            f"{', '.join(seen)} (they cover other accounts or only some regions)",
            aggregators=seen,
        )
    return failed(
        f"Account {snap.account_id} owns no AWS Config aggregator (an organisation aggregator in another account "
        "is not visible from here)"
    )
