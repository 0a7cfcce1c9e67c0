"""AWS CloudTrail event history: the recent management write events of each region, for drift actors.

Each region emits one ``AWS::CloudTrail::ManagementEvents`` snapshot (not a resource of the
account: compliance keeps its events apart from the inventory) holding the write events
LookupEvents returns for the last ``LOOKBACK`` (a little more than a day, the usual scan interval;
compliance de-duplicates by event id): event id, name, time, source, the caller's ARN and the
names and ARNs of the resources it touched. Compliance attaches to each configuration change the
latest such event for the resource between the previous and the new observation.

CloudTrail's event history needs no trail and keeps 90 days. LookupEvents allows two calls a second
per region, so at most ``MAX_PAGES`` pages of 50 are read and ``truncated`` says when more existed.
A refusal (AccessDenied, throttling) is a fact, not a failure: the snapshot says ``readable: false``
with the error, the unit stays complete, and drift names the actor "unknown (CloudTrail not readable)".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from guardian_collector.collectors.base import Collector, Resource, UnitContext, register

SERVICE = "cloudtrail_events"
EVENTS_TYPE = "AWS::CloudTrail::ManagementEvents"
LOOKBACK = timedelta(hours=27)
MAX_PAGES = 20
PAGE_SIZE = 50


def actor_of(event: dict[str, Any]) -> str | None:
    """The caller's ARN from the raw CloudTrail record (``userIdentity.arn``; a role session's ARN
    for assumed roles), or the event's user name when the record has no ARN (an AWS service)."""
    raw = event.get("CloudTrailEvent")
    identity: dict[str, Any] = {}
    if isinstance(raw, str):
        try:
            record = json.loads(raw)
        except ValueError:
            record = {}
        if isinstance(record, dict) and isinstance(record.get("userIdentity"), dict):
            identity = record["userIdentity"]
    arn = identity.get("arn")
    if isinstance(arn, str) and arn:
        return arn
    invoked_by = identity.get("invokedBy")
    if isinstance(invoked_by, str) and invoked_by:
        return invoked_by
    name = event.get("Username")
    return str(name) if name else None


def event_summary(event: dict[str, Any]) -> dict[str, Any]:
    when = event.get("EventTime")
    if isinstance(when, datetime):
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return {
        "event_id": event.get("EventId"),
        "event_name": event.get("EventName"),
        "event_time": when,
        "event_source": event.get("EventSource"),
        "actor_arn": actor_of(event),
        "resources": sorted({str(r["ResourceName"]) for r in event.get("Resources") or [] if r.get("ResourceName")}),
    }


@register
class CloudTrailEventsCollector(Collector):
    service = SERVICE
    client_name = "cloudtrail"
    permissions = ("cloudtrail:LookupEvents",)
    resource_types = (EVENTS_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        client = await ctx.client("cloudtrail")
        until = datetime.now(UTC)
        since = until - LOOKBACK
        config: dict[str, Any] = {
            "readable": True,
            "window_start": since.isoformat(),
            "window_end": until.isoformat(),
            "truncated": False,
            "events": [],
        }
        token: str | None = None
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {
                "LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
                "StartTime": since,
                "EndTime": until,
                "MaxResults": PAGE_SIZE,
            }
            if token:
                kwargs["NextToken"] = token
            # Supplementary: an unreadable event history is recorded in the snapshot, not a failed unit.
            page = await ctx.read(client, "lookup_events", supplementary=True, **kwargs)
            if page.error is not None:
                config.update(readable=False, error=page.error.describe(), events=[])
                break
            config["events"].extend(event_summary(e) for e in page.value.get("Events") or [])
            token = page.value.get("NextToken")
            if not token:
                break
        else:
            config["truncated"] = bool(token)
        await ctx.emit(
            Resource(
                resource_type=EVENTS_TYPE,
                arn=ctx.arn("cloudtrail", "guardian/management-events", region=region),
                name="management-events",
                region=region,
                configuration=config,
            )
        )
