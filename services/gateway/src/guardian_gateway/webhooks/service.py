"""Managing subscriptions and reading their deliveries; every change is audited in its transaction."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.errors import NotFound
from guardian_gateway.clock import Clock, utcnow
from guardian_gateway.database import OUTBOX
from guardian_gateway.webhooks.config import WebhookConfig
from guardian_gateway.webhooks.consumer import webhook_body
from guardian_gateway.webhooks.guard import Resolver, check_target, system_resolver
from guardian_gateway.webhooks.repository import DeliveryRepository, NewDelivery, SubscriptionRepository
from guardian_gateway.webhooks.schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from guardian_gateway.webhooks.signing import new_secret
from guardian_gateway.webhooks.views import audit_view, delivery_detail, delivery_out, subscription_out
from guardian_gateway.webhooks.worker import DeliveryWorker

PING_EVENT = "webhook.ping"


def _missing(subscription_id: str) -> NotFound:
    return NotFound(f"No webhook has the id {subscription_id!r}.", code="webhook_not_found")


@dataclass
class WebhookService:
    pool: asyncpg.Pool
    config: WebhookConfig
    worker: DeliveryWorker
    clock: Clock = utcnow
    resolver: Resolver = system_resolver

    async def _record(
        self, conn: asyncpg.Connection, by: Principal, action: str, target_id: str, before: Any, after: Any
    ) -> None:
        await audit.record(
            conn,
            OUTBOX,
            actor=by,
            action=action,
            target_type="webhook",
            target_id=target_id,
            before=before,
            after=after,
            at=self.clock(),
        )

    async def create(self, body: WebhookIn, by: Principal) -> WebhookCreated:
        await check_target(body.url, self.config, self.resolver)
        secret = new_secret()
        async with db.transaction(self.pool) as conn:
            row = await SubscriptionRepository(conn).insert(
                subscription_id=f"wh_{secrets.token_hex(8)}",
                url=body.url,
                event_types=body.event_types,
                secret=secret,
                description=body.description,
                enabled=body.enabled,
                created_by=by.name or by.key_id,
                at=self.clock(),
            )
            await self._record(conn, by, "webhook.created", row["id"], None, audit_view(row))
        return WebhookCreated(**subscription_out(row).model_dump(), secret=secret)

    async def all(self) -> list[WebhookOut]:
        async with self.pool.acquire() as conn:
            return [subscription_out(row) for row in await SubscriptionRepository(conn).all()]

    async def get(self, subscription_id: str) -> WebhookOut:
        async with self.pool.acquire() as conn:
            row = await SubscriptionRepository(conn).get(subscription_id)
        if row is None:
            raise _missing(subscription_id)
        return subscription_out(row)

    async def update(self, subscription_id: str, body: WebhookPatch, by: Principal) -> WebhookOut:
        values = body.model_dump(exclude_none=True)
        if "url" in values:
            await check_target(values["url"], self.config, self.resolver)
        async with db.transaction(self.pool) as conn:
            repo = SubscriptionRepository(conn)
            before = await repo.get(subscription_id, lock=True)
            if before is None:
                raise _missing(subscription_id)
            changed = {k: v for k, v in values.items() if v != (list(before[k]) if k == "event_types" else before[k])}
            if not changed:
                return subscription_out(before)
            after = await repo.update(subscription_id, changed, self.clock())
            assert after is not None
            await self._record(conn, by, "webhook.updated", subscription_id, audit_view(before), audit_view(after))
        return subscription_out(after)

    async def rotate_secret(self, subscription_id: str, by: Principal) -> WebhookCreated:
        secret = new_secret()
        async with db.transaction(self.pool) as conn:
            repo = SubscriptionRepository(conn)
            before = await repo.get(subscription_id, lock=True)
            if before is None:
                raise _missing(subscription_id)
            after = await repo.set_secret(subscription_id, secret, self.clock())
            assert after is not None
            await self._record(
                conn, by, "webhook.secret_rotated", subscription_id, audit_view(before), audit_view(after)
            )
        return WebhookCreated(**subscription_out(after).model_dump(), secret=secret)

    async def delete(self, subscription_id: str, by: Principal) -> None:
        async with db.transaction(self.pool) as conn:
            row = await SubscriptionRepository(conn).delete(subscription_id)
            if row is None:
                raise _missing(subscription_id)
            await self._record(conn, by, "webhook.deleted", subscription_id, audit_view(row), None)

    async def deliveries(self, subscription_id: str, status: DeliveryStatus | None, limit: int) -> list[DeliveryOut]:
        async with self.pool.acquire() as conn:
            if await SubscriptionRepository(conn).get(subscription_id) is None:
                raise _missing(subscription_id)
            rows = await DeliveryRepository(conn).of_subscription(subscription_id, status, limit)
        return [delivery_out(row) for row in rows]

    async def delivery(self, subscription_id: str, delivery_id: str) -> DeliveryDetail:
        async with self.pool.acquire() as conn:
            repo = DeliveryRepository(conn)
            row = await repo.get(subscription_id, delivery_id)
            if row is None:
                if await SubscriptionRepository(conn).get(subscription_id) is None:
                    raise _missing(subscription_id)
                raise NotFound(
                    f"Webhook {subscription_id!r} has no delivery {delivery_id!r}.", code="delivery_not_found"
                )
            return delivery_detail(row, await repo.attempts(delivery_id))

    async def ping(self, subscription_id: str, by: Principal) -> DeliveryDetail:
        """Send a ``webhook.ping`` now (once, no retries) and answer with the attempt's outcome."""
        now = self.clock()
        ping_id = f"ping_{uuid.uuid4().hex}"
        delivery_id = f"whd_{uuid.uuid4().hex}"
        async with db.transaction(self.pool) as conn:
            sub = await SubscriptionRepository(conn).get(subscription_id)
            if sub is None:
                raise _missing(subscription_id)
            body = webhook_body(ping_id, PING_EVENT, now, "gateway", {"webhook_id": subscription_id})
            new = NewDelivery(delivery_id, subscription_id, ping_id, PING_EVENT, "ping", body)
            await DeliveryRepository(conn).insert([new], now)
            await self._record(conn, by, "webhook.pinged", subscription_id, None, {"delivery_id": delivery_id})
        await self.worker.deliver_now(delivery_id)
        return await self.delivery(subscription_id, delivery_id)

    async def redeliver(self, subscription_id: str, delivery_id: str, by: Principal) -> DeliveryDetail:
        """Send a delivery again now, same webhook-id; if it fails, its retry schedule starts over."""
        before = await self.delivery(subscription_id, delivery_id)
        async with db.transaction(self.pool) as conn:
            await DeliveryRepository(conn).restart(delivery_id, self.clock())
            await self._record(
                conn,
                by,
                "webhook.redelivery_requested",
                subscription_id,
                {"delivery_id": delivery_id, "status": before.status, "attempts": before.attempts},
                {"delivery_id": delivery_id, "status": "pending"},
            )
        await self.worker.deliver_now(delivery_id)
        return await self.delivery(subscription_id, delivery_id)
