"""CloudWatch alerting on CloudTrail events: trail -> log group -> metric filter -> alarm -> SNS topic.

This collector emits no resource: it builds, for the global ``AWS::::Account`` snapshot, the chain
the CIS "monitoring" recommendations (metric filters with alarms for root use, IAM policy changes
and so on) are judged on. Each regional unit takes the trails homed in its region (and, in the
first scanned region, multi-region trails homed in a region the scan does not cover), reads each
trail's status and event selectors, then follows its CloudWatch Logs log group:

* DescribeMetricFilters on that log group (in the log group's region);
* DescribeAlarms (metric alarms) of that region, kept when they watch a filter's metric;
* ListSubscriptions of each SNS topic's region, to count the confirmed subscriptions of the topics
  the alarms notify (a subscription still ``PendingConfirmation`` reaches nobody).

The chain is kept as data (``cloudwatch_cis_monitoring``); which filter pattern covers which event
is the checks' business. A read that fails is recorded at the link where it happened, so a check
can still pass on another complete chain and otherwise says which link is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import read_pages
from guardian_collector.collectors.base import Collector, Facts, Read, UnitContext, register
from guardian_collector.collectors.cloudtrail import management_events

SERVICE = "monitoring"
TRAILS_FACT = "trails"
REGIONS_FACT = "regions"
FIELD = "cloudwatch_cis_monitoring"


def log_group_of(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of a log group ARN (``arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]``)."""
    parts = arn.split(":", 6)
    if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
        return None
    name = parts[6][:-2] if parts[6].endswith(":*") else parts[6]
    return parts[3], parts[4], name


def topic_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) >= 6 and parts[2] == "sns" else None


def alarm_metrics(alarm: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(namespace, metric name) pairs an alarm watches, directly or through metric math."""
    found: list[tuple[str, str]] = []
    if alarm.get("MetricName") and alarm.get("Namespace"):
        found.append((str(alarm["Namespace"]), str(alarm["MetricName"])))
    for query in alarm.get("Metrics") or []:
        metric = (query.get("MetricStat") or {}).get("Metric") or {}
        if metric.get("MetricName") and metric.get("Namespace"):
            found.append((str(metric["Namespace"]), str(metric["MetricName"])))
    return found


class _Reads:
    """Per-unit memo of the region-wide listings, so each is read at most once per region."""

    def __init__(self, ctx: UnitContext) -> None:
        self.ctx = ctx
        self.alarms: dict[str, Read] = {}
        self.subscriptions: dict[str, Read] = {}

    async def alarms_of(self, region: str) -> Read:
        if region not in self.alarms:
            client = await self.ctx.client("cloudwatch", region=region)
            self.alarms[region] = await read_pages(
                self.ctx, client, "describe_alarms", "MetricAlarms", AlarmTypes=["MetricAlarm"]
            )
        return self.alarms[region]

    async def subscriptions_of(self, region: str) -> Read:
        if region not in self.subscriptions:
            client = await self.ctx.client("sns", region=region)
            self.subscriptions[region] = await read_pages(self.ctx, client, "list_subscriptions", "Subscriptions")
        return self.subscriptions[region]


@register
class MonitoringCollector(Collector):
    service = SERVICE
    client_name = "cloudwatch"
    permissions = (
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "logs:DescribeMetricFilters",
        "cloudwatch:DescribeAlarms",
        "sns:ListSubscriptions",
    )
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        ctx.facts.put(SERVICE, REGIONS_FACT, list(ctx.regions))
        client = await ctx.client("cloudtrail")
        listed = await ctx.read(client, "describe_trails", includeShadowTrails=True)
        if listed.error is not None:
            ctx.facts.put_error(SERVICE, TRAILS_FACT, listed.error.describe(), region=region)
            return
        first = sorted(ctx.regions)[0] if ctx.regions else region
        mine = []
        for trail in listed.value.get("trailList") or []:
            home = str(trail.get("HomeRegion") or region)
            if home == region or (home not in ctx.regions and region == first):
                mine.append(trail)
        reads = _Reads(ctx)
        summaries = [await self._trail(ctx, reads, trail) for trail in mine]
        ctx.facts.put(SERVICE, TRAILS_FACT, summaries, region=region)

    async def _trail(self, ctx: UnitContext, reads: _Reads, trail: Mapping[str, Any]) -> dict[str, Any]:
        arn = str(trail["TrailARN"])
        home = str(trail.get("HomeRegion") or ctx.unit_region)
        client = await ctx.client("cloudtrail", region=home)
        status = await ctx.read(client, "get_trail_status", resource_arn=arn, Name=arn)
        selectors = await ctx.read(client, "get_event_selectors", resource_arn=arn, TrailName=arn)
        unreadable: dict[str, str] = {}
        if status.error is not None:
            unreadable["is_logging"] = status.error.describe()
        if selectors.error is not None:
            unreadable["management_events"] = selectors.error.describe()
        group_arn = trail.get("CloudWatchLogsLogGroupArn") or None
        summary: dict[str, Any] = {
            "arn": arn,
            "name": str(trail.get("Name") or arn.rsplit("/", 1)[-1]),
            "home_region": home,
            "is_multi_region": bool(trail.get("IsMultiRegionTrail", False)),
            "is_organization_trail": bool(trail.get("IsOrganizationTrail", False)),
            "is_logging": None if status.error else bool(status.value.get("IsLogging", False)),
            "management_events": None if selectors.error else management_events(selectors.value),
            "log_group_arn": group_arn,
            "log_group": None,
            "unreadable": unreadable,
        }
        if group_arn:
            summary["log_group"] = await self._log_group(ctx, reads, str(group_arn))
        return summary

    async def _log_group(self, ctx: UnitContext, reads: _Reads, arn: str) -> dict[str, Any]:
        where = log_group_of(arn)
        if where is None:
            return {"arn": arn, "region": None, "name": arn, "filters": None, "error": "not a log group ARN"}
        region, account, name = where
        group: dict[str, Any] = {"arn": arn, "region": region, "name": name, "filters": None, "error": None}
        if account and account != ctx.account_id:
            # An organisation trail of the management account: its log group lives there.
            group["error"] = f"the log group belongs to account {account}; its metric filters are not visible from here"
            return group
        logs = await ctx.client("logs", region=region)
        filters = await read_pages(
            ctx,
            logs,
            "describe_metric_filters",
            "metricFilters",
            token_in="nextToken",
            token_out="nextToken",
            logGroupName=name,
        )
        if filters.error is not None:
            group["error"] = filters.error.describe()
            return group
        # DescribeMetricFilters' logGroupName is an exact match, but keep only this group's filters anyway.
        mine = [f for f in filters.value or [] if str(f.get("logGroupName", name)) == name]
        alarms = await reads.alarms_of(region) if mine else Read(value=[])
        entries = []
        for item in mine:
            metrics = []
            for transformation in item.get("metricTransformations") or []:
                key = (str(transformation.get("metricNamespace")), str(transformation.get("metricName")))
                metrics.append(
                    {
                        "namespace": key[0],
                        "name": key[1],
                        "alarms": None if alarms.error else await self._alarms(reads, alarms.value or [], key),
                        "alarms_error": alarms.error.describe() if alarms.error else None,
                    }
                )
            entries.append({"name": item.get("filterName"), "pattern": item.get("filterPattern"), "metrics": metrics})
        group["filters"] = entries
        return group

    async def _alarms(self, reads: _Reads, alarms: list[Any], metric: tuple[str, str]) -> list[dict[str, Any]]:
        out = []
        for alarm in alarms:
            if metric not in alarm_metrics(alarm):
                continue
            actions = [str(a) for a in alarm.get("AlarmActions") or []]
            topics = []
            for topic in (a for a in actions if a.startswith("arn:") and a.split(":")[2:3] == ["sns"]):
                topics.append(await self._topic(reads, topic))
            out.append(
                {
                    "name": alarm.get("AlarmName"),
                    "arn": alarm.get("AlarmArn"),
                    "actions_enabled": bool(alarm.get("ActionsEnabled", True)),
                    "sns_topics": topics,
                    "other_actions": [a for a in actions if a.split(":")[2:3] != ["sns"]],
                }
            )
        return out

    async def _topic(self, reads: _Reads, arn: str) -> dict[str, Any]:
        region = topic_region(arn)
        if region is None:
            return {"arn": arn, "confirmed_subscriptions": None, "error": "not an SNS topic ARN"}
        subscriptions = await reads.subscriptions_of(region)
        if subscriptions.error is not None:
            return {"arn": arn, "confirmed_subscriptions": None, "error": subscriptions.error.describe()}
        confirmed = [
            s
            for s in subscriptions.value or []
            if s.get("TopicArn") == arn and str(s.get("SubscriptionArn", "")).startswith("arn:")
        ]
        return {"arn": arn, "confirmed_subscriptions": len(confirmed), "error": None}

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != "global":
            return {}, {}
        listed = facts.regions_of(SERVICE, TRAILS_FACT)
        failed = facts.errors_of(SERVICE, TRAILS_FACT)
        scanned = facts.get(SERVICE, REGIONS_FACT)
        problems = dict(failed)
        for missing in sorted(set(scanned or []) - set(listed) - set(failed)):
            problems[missing] = "not recorded (the collection of this region did not finish)"
        if scanned is None and not listed:
            problems["all regions"] = "the monitoring collection did not run"
        trails: dict[str, dict[str, Any]] = {}
        for reg in sorted(listed):
            for summary in listed[reg] or []:
                trails.setdefault(str(summary["arn"]), summary)
        fields: dict[str, Any] = {FIELD: {"trails": [trails[arn] for arn in sorted(trails)]}}
        if not problems:
            return fields, {}
        detail = "; ".join(f"{r}: {why}" for r, why in sorted(problems.items()))
        return fields, {FIELD: f"trails could not be listed in {len(problems)} region(s): {detail}"[:1000]}
