"""Amazon SNS: every topic of each region, with its encryption key and access policy.

ListTopics is the primary listing; GetTopicAttributes gives ``KmsMasterKeyId`` (absent when the
topic is not encrypted) and ``Policy`` (the topic's access policy, parsed here so the checks see a
document).
"""

from __future__ import annotations

import asyncio
from typing import Any

from guardian_collector.collectors._gd_shared import parse_document
from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
)

TOPIC_TYPE = "AWS::SNS::Topic"


@register
class SnsCollector(Collector):
    service = "sns"
    permissions = ("sns:ListTopics", "sns:GetTopicAttributes")
    resource_types = (TOPIC_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("sns")
        topics = await ctx.list_all(client, "list_topics", "Topics")
        await asyncio.gather(*(self._topic(ctx, client, str(t["TopicArn"])) for t in topics))

    async def _topic(self, ctx: UnitContext, client: Any, arn: str) -> None:
        name = arn.rsplit(":", 1)[-1]
        cfg = ConfigBuilder(name=name, arn=arn)
        read = await ctx.read(client, "get_topic_attributes", resource_arn=arn, TopicArn=arn)
        if read.error is not None:
            cfg.fail("kms_master_key_id", read.error)
            cfg.fail("policy", read.error)
        else:
            attributes = read.value.get("Attributes") or {}
            cfg.put("kms_master_key_id", attributes.get("KmsMasterKeyId") or None)
            cfg.put("display_name", attributes.get("DisplayName") or None)
            cfg.put("fifo", str(attributes.get("FifoTopic", "false")).lower() == "true")
            try:
                cfg.put("policy", parse_document(attributes.get("Policy")))
            except (ValueError, TypeError) as exc:
                error = CallError("get_topic_attributes", "MalformedPolicy", str(exc), arn)
                ctx.record(error)
                cfg.fail("policy", error)
        await ctx.emit(
            Resource(resource_type=TOPIC_TYPE, arn=arn, name=name, region=ctx.unit_region, configuration=cfg.build())
        )
