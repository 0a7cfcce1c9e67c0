"""Domain events in, deliveries out: the webhook fan-out.

A durable consumer reads every domain event (``<prefix>.domain.>``). For each event and each enabled
subscription whose patterns match it, one delivery row is inserted; the (subscription, event id)
unique key makes a redelivered message a no-op, and the message is acked only after the commit.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from guardian_common import bus, db
from guardian_gateway.clock import Clock
from guardian_gateway.webhooks.config import WebhookConfig
from guardian_gateway.webhooks.patterns import any_matches
from guardian_gateway.webhooks.repository import DeliveryRepository, NewDelivery, SubscriptionRepository

# An event is not sent to a subscription created after it (a consumer replaying the stream must not
# flood a new subscriber with weeks of history); the margin absorbs clock differences between services.
CLOCK_MARGIN = timedelta(minutes=5)


class DomainEvent(BaseModel):
    """What every outbox relays (guardian_common.outbox); unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    event_id: str = Field(min_length=1, max_length=300)
    event_type: str = Field(min_length=1, max_length=200)
    schema_version: int = 1
    source: str = ""
    occurred_at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)


def webhook_body(event_id: str, event_type: str, occurred_at: datetime, source: str, data: dict[str, Any]) -> str:
    """The JSON a receiver gets: Standard Webhooks' type, timestamp and data, plus the id and source."""
    return json.dumps(
        {"type": event_type, "timestamp": occurred_at.isoformat(), "id": event_id, "source": source, "data": data},
        separators=(",", ":"),
        default=str,
    )


def deliveries_for(events: list[DomainEvent], subscriptions: list[asyncpg.Record]) -> list[NewDelivery]:
    planned: list[NewDelivery] = []
    for event in events:
        body = webhook_body(event.event_id, event.event_type, event.occurred_at, event.source, event.data)
        for sub in subscriptions:
            if event.occurred_at < sub["created_at"] - CLOCK_MARGIN:
                continue
            if any_matches(sub["event_types"], event.event_type):
                planned.append(
                    NewDelivery(
                        id=f"whd_{uuid.uuid4().hex}",
                        subscription_id=sub["id"],
                        event_id=event.event_id,
                        event_type=event.event_type,
                        kind="event",
                        body=body,
                    )
                )
    return planned


async def fan_out(conn: asyncpg.Connection, events: list[DomainEvent], now: datetime) -> int:
    """Insert the deliveries of ``events`` in the caller's transaction; how many were new."""
    subscriptions = await SubscriptionRepository(conn).enabled()
    if not subscriptions:
        return 0
    return await DeliveryRepository(conn).insert(deliveries_for(events, subscriptions), now)


def build_consumer(
    js: JetStreamContext, subjects: bus.Subjects, pool: asyncpg.Pool, config: WebhookConfig, clock: Clock
) -> bus.Consumer[DomainEvent]:
    async def on_events(batch: list[bus.Delivery[DomainEvent]]) -> None:
        async with db.transaction(pool) as conn:
            await fan_out(conn, [d.event for d in batch], clock())

    return bus.Consumer(
        js=js,
        subjects=subjects,
        stream="DOMAIN",
        durable=config.durable,
        filter_subject=subjects.domain_all,
        model=DomainEvent,
        handler=on_events,
        batch_size=config.consumer_batch_size,
    )
