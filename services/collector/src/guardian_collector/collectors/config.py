"""AWS Config: whether each region records configuration changes, and the account's aggregators.

No resource is emitted; the findings live in the account context:

* each region's ``AWS::::Account`` snapshot gets ``config_recording``: the region's recorders (what
  they record, whether they are recording, the last status) and delivery channels;
* the global snapshot gets ``config_aggregators``: the configuration aggregators found in any
  scanned region, with the accounts and regions they cover.

An aggregator in the organisation's management or delegated-administrator account that collects
this account's data is not visible from here: DescribeConfigurationAggregators lists only the
aggregators this account owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import read_pages
from guardian_collector.collectors.base import Collector, Facts, UnitContext, register
from guardian_collector.collectors.iam import iso

SERVICE = "config"
RECORDING_FACT = "recording"
AGGREGATORS_FACT = "aggregators"
REGIONS_FACT = "regions"


def recorder_summary(recorder: Mapping[str, Any], status: Mapping[str, Any] | None) -> dict[str, Any]:
    group = recorder.get("recordingGroup") or {}
    strategy = (group.get("recordingStrategy") or {}).get("useOnly")
    exclusions = (group.get("exclusionByResourceTypes") or {}).get("resourceTypes") or []
    all_supported = bool(group.get("allSupported", False)) if group else True
    # Without a recording group AWS records all supported types (the console's default).
    if strategy == "ALL_SUPPORTED_RESOURCE_TYPES":
        all_supported = True
    elif strategy in ("INCLUSION_BY_RESOURCE_TYPES", "EXCLUSION_BY_RESOURCE_TYPES"):
        all_supported = False
    return {
        "name": recorder.get("name"),
        "all_supported": all_supported,
        "include_global_resource_types": bool(group.get("includeGlobalResourceTypes", False)),
        "recording_strategy": strategy,
        "resource_types": sorted(str(t) for t in group.get("resourceTypes") or []),
        "excluded_resource_types": sorted(str(t) for t in exclusions),
        "recording": None if status is None else bool(status.get("recording", False)),
        "last_status": None if status is None else status.get("lastStatus"),
        "last_error": None if status is None else (status.get("lastErrorCode") or None),
    }


@register
class ConfigCollector(Collector):
    service = SERVICE
    permissions = (
        "config:DescribeConfigurationRecorders",
        "config:DescribeConfigurationRecorderStatus",
        "config:DescribeDeliveryChannels",
        "config:DescribeConfigurationAggregators",
    )
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        ctx.facts.put(SERVICE, REGIONS_FACT, list(ctx.regions))
        client = await ctx.client("config")
        recorders = await ctx.read(client, "describe_configuration_recorders")
        statuses = await ctx.read(client, "describe_configuration_recorder_status")
        channels = await ctx.read(client, "describe_delivery_channels")
        aggregators = await read_pages(ctx, client, "describe_configuration_aggregators", "ConfigurationAggregators")

        failure = next((r.error for r in (recorders, statuses, channels) if r.error is not None), None)
        if failure is not None:
            ctx.facts.put_error(SERVICE, RECORDING_FACT, failure.describe(), region=region)
        else:
            by_name = {s.get("name"): s for s in statuses.value.get("ConfigurationRecordersStatus") or []}
            ctx.facts.put(
                SERVICE,
                RECORDING_FACT,
                {
                    "recorders": [
                        recorder_summary(r, by_name.get(r.get("name")))
                        for r in recorders.value.get("ConfigurationRecorders") or []
                    ],
                    "delivery_channels": sorted(
                        str(c.get("name")) for c in channels.value.get("DeliveryChannels") or []
                    ),
                },
                region=region,
            )
        if aggregators.error is not None:
            ctx.facts.put_error(SERVICE, AGGREGATORS_FACT, aggregators.error.describe(), region=region)
        else:
            ctx.facts.put(
                SERVICE,
                AGGREGATORS_FACT,
                [self._aggregator(a, region) for a in aggregators.value or []],
                region=region,
            )

    @staticmethod
    def _aggregator(aggregator: Mapping[str, Any], region: str) -> dict[str, Any]:
        accounts = aggregator.get("AccountAggregationSources") or []
        organisation = aggregator.get("OrganizationAggregationSource")
        sources = [
            {
                "account_ids": sorted(str(a) for a in source.get("AccountIds") or []),
                "all_regions": bool(source.get("AllAwsRegions", False)),
                "regions": sorted(str(r) for r in source.get("AwsRegions") or []),
            }
            for source in accounts
        ]
        return {
            "name": aggregator.get("ConfigurationAggregatorName"),
            "arn": aggregator.get("ConfigurationAggregatorArn"),
            "region": region,
            "account_sources": sources,
            "organization": None
            if not organisation
            else {
                "all_regions": bool(organisation.get("AllAwsRegions", False)),
                "regions": sorted(str(r) for r in organisation.get("AwsRegions") or []),
            },
            "created": iso(aggregator.get("CreationTime")),
        }

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != "global":
            missing = object()
            value = facts.get(SERVICE, RECORDING_FACT, missing, region=region)
            error = facts.error(SERVICE, RECORDING_FACT, region=region)
            if error is not None or value is missing:
                return {"config_recording": None}, {
                    "config_recording": error or "the Config collection of this region did not finish"
                }
            return {"config_recording": value}, {}
        listed = facts.regions_of(SERVICE, AGGREGATORS_FACT)
        failed = facts.errors_of(SERVICE, AGGREGATORS_FACT)
        scanned = facts.get(SERVICE, REGIONS_FACT) or []
        problems = dict(failed)
        for missing_region in sorted(set(scanned) - set(listed) - set(failed)):
            problems[missing_region] = "not recorded (the collection of this region did not finish)"
        if not scanned and not listed:
            problems["all regions"] = "the Config collection did not run"
        found = [a for reg in sorted(listed) for a in listed[reg] or []]
        fields: dict[str, Any] = {"config_aggregators": found, "config_scanned_regions": sorted(scanned)}
        if not problems:
            return fields, {}
        detail = "; ".join(f"{r}: {why}" for r, why in sorted(problems.items()))
        return fields, {"config_aggregators": f"aggregators could not be listed in: {detail}"[:1000]}
