"""Amazon SQS: every queue of each region, with encryption, dead-letter setup, policy and alarms.

ListQueues is the primary listing. Per queue: GetQueueAttributes (All) for the encryption settings
(``SqsManagedSseEnabled``, ``KmsMasterKeyId``), the ``RedrivePolicy`` naming its dead-letter queue
and the access ``Policy``. Whether the queue is itself some other queue's dead-letter queue (its
dead-letter source queues) follows from those redrive policies: SQS requires a dead-letter queue to
be in the same account and region as the queues that use it, so the region's listing holds every
source. Only when some queue's redrive policy could not be read is ListDeadLetterSourceQueues asked,
per queue, as the sources are then not all known. The region's CloudWatch metric alarms
(DescribeAlarms, read once per region) are joined to the queues they watch through the ``AWS/SQS``
namespace and the ``QueueName`` dimension.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import parse_document, read_pages
from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Read,
    Resource,
    UnitContext,
    register,
)

QUEUE_TYPE = "AWS::SQS::Queue"
SQS_NAMESPACE = "AWS/SQS"


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def queue_alarms(alarms: list[Mapping[str, Any]], queue: str) -> list[dict[str, Any]]:
    """The metric alarms watching ``queue`` (directly, or as one metric of a metric-math alarm)."""
    found = []
    for alarm in alarms:
        metrics = []
        if alarm.get("Namespace") == SQS_NAMESPACE and alarm.get("MetricName"):
            metrics.append((str(alarm["MetricName"]), alarm.get("Dimensions") or []))
        for query in alarm.get("Metrics") or []:
            metric = (query.get("MetricStat") or {}).get("Metric") or {}
            if metric.get("Namespace") == SQS_NAMESPACE and metric.get("MetricName"):
                metrics.append((str(metric["MetricName"]), metric.get("Dimensions") or []))
        for name, dimensions in metrics:
            if any(d.get("Name") == "QueueName" and d.get("Value") == queue for d in dimensions):
                found.append(
                    {
                        "name": alarm.get("AlarmName"),
                        "metric": name,
                        "actions_enabled": bool(alarm.get("ActionsEnabled", True)),
                        "alarm_actions": [str(a) for a in alarm.get("AlarmActions") or []],
                    }
                )
    return found


def dead_letter_sources(urls: list[str], attributes: list[Read]) -> dict[str, list[str]] | None:
    """Queue ARN -> URLs of the queues whose redrive policy names it as their dead-letter queue, from
    the region's queues' attributes; ``None`` when a queue's redrive policy is unknown (its attributes
    unread, or the policy not valid JSON), since that queue may be any queue's source."""
    sources: dict[str, list[str]] = {}
    for url, read in zip(urls, attributes, strict=True):
        if read.error is not None:
            return None
        try:
            redrive = parse_document((read.value.get("Attributes") or {}).get("RedrivePolicy"))
        except (ValueError, TypeError):
            return None
        target = redrive.get("deadLetterTargetArn") if isinstance(redrive, Mapping) else None
        if target:
            sources.setdefault(str(target), []).append(url)
    return sources


@register
class SqsCollector(Collector):
    service = "sqs"
    permissions = (
        "sqs:ListQueues",
        "sqs:GetQueueAttributes",
        "sqs:ListDeadLetterSourceQueues",
        "cloudwatch:DescribeAlarms",
    )
    resource_types = (QUEUE_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("sqs")
        urls = [str(url) for url in await ctx.list_all(client, "list_queues", "QueueUrls")]
        if not urls:
            return
        cloudwatch = await ctx.client("cloudwatch")
        alarms = await read_pages(ctx, cloudwatch, "describe_alarms", "MetricAlarms", AlarmTypes=["MetricAlarm"])
        attributes = await asyncio.gather(
            *(
                ctx.read(
                    client,
                    "get_queue_attributes",
                    resource_arn=ctx.arn("sqs", queue_name(url)),
                    QueueUrl=url,
                    AttributeNames=["All"],
                )
                for url in urls
            )
        )
        sources = dead_letter_sources(urls, attributes)
        await asyncio.gather(
            *(self._queue(ctx, client, url, read, sources, alarms) for url, read in zip(urls, attributes, strict=True))
        )

    async def _queue(
        self,
        ctx: UnitContext,
        client: Any,
        url: str,
        attributes: Read,
        all_sources: dict[str, list[str]] | None,
        alarms: Read,
    ) -> None:
        name = queue_name(url)
        fallback_arn = ctx.arn("sqs", name)
        cfg = ConfigBuilder(name=name, url=url)
        arn = fallback_arn
        if attributes.error is not None:
            for field in ("sqs_managed_sse", "kms_master_key_id", "redrive_policy", "policy"):
                cfg.fail(field, attributes.error)
        else:
            values = attributes.value.get("Attributes") or {}
            arn = str(values.get("QueueArn") or fallback_arn)
            cfg.put("sqs_managed_sse", str(values.get("SqsManagedSseEnabled", "false")).lower() == "true")
            cfg.put("kms_master_key_id", values.get("KmsMasterKeyId") or None)
            cfg.put("fifo", str(values.get("FifoQueue", "false")).lower() == "true")
            for field, key in (("redrive_policy", "RedrivePolicy"), ("policy", "Policy")):
                try:
                    document = parse_document(values.get(key))
                except (ValueError, TypeError) as exc:
                    error = CallError("get_queue_attributes", f"Malformed{key}", str(exc), arn)
                    ctx.record(error)
                    cfg.fail(field, error)
                    continue
                if field == "redrive_policy" and document is not None:
                    document = {
                        "dead_letter_target_arn": document.get("deadLetterTargetArn"),
                        "max_receive_count": document.get("maxReceiveCount"),
                    }
                cfg.put(field, document)
        cfg.put("arn", arn)
        if all_sources is not None:
            sources = Read(value=all_sources.get(arn, []))
        else:
            sources = await read_pages(
                ctx, client, "list_dead_letter_source_queues", "queueUrls", resource_arn=fallback_arn, QueueUrl=url
            )
        cfg.from_read("dead_letter_source_queues", sources, lambda v: sorted(str(u) for u in v))
        cfg.from_read("alarms", alarms, lambda v: queue_alarms(list(v), name))
        await ctx.emit(
            Resource(resource_type=QUEUE_TYPE, arn=arn, name=name, region=ctx.unit_region, configuration=cfg.build())
        )
