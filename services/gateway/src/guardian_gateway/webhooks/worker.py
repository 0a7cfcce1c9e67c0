"""The delivery worker: sends due deliveries, records every attempt, schedules retries.

At least once: a delivery is claimed with a lease before it is sent and settled after, in separate
transactions, so a worker that dies mid-attempt leaves it to be sent again when the lease ends; the
receiver recognises the repeat by its webhook-id. Failed attempts are retried on ``retry_delays``
(more than a day in all) with jitter; a subscription whose every attempt has failed for
``disable_after`` is switched off, which is audited and announced as a ``webhook.disabled`` event.
Every time comes from the injected clock, so tests run a day of retries in a moment.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from guardian_common import audit, db
from guardian_common.logging import get_logger
from guardian_gateway.clock import Clock, utcnow
from guardian_gateway.database import OUTBOX
from guardian_gateway.webhooks.config import WebhookConfig
from guardian_gateway.webhooks.metrics import WEBHOOK_DELIVERIES, WEBHOOK_FAILURES, WEBHOOKS_DISABLED
from guardian_gateway.webhooks.repository import DeliveryRepository, SubscriptionRepository
from guardian_gateway.webhooks.sender import AttemptResult, Sender
from guardian_gateway.webhooks.views import audit_view

log = get_logger("guardian.gateway.webhooks")

DISABLED_EVENT = "webhook.disabled"


@dataclass(frozen=True)
class Settled:
    delivery_id: str
    status: str
    result: AttemptResult
    disabled: bool = False


@dataclass
class DeliveryWorker:
    pool: asyncpg.Pool
    config: WebhookConfig
    sender: Sender
    clock: Clock = utcnow
    rng: random.Random = field(default_factory=random.Random)

    def retry_delay(self, round_attempts: int) -> timedelta | None:
        """The wait after the ``round_attempts``-th failed attempt, or None when none is left."""
        if round_attempts > len(self.config.retry_delays):
            return None
        base = self.config.retry_delays[round_attempts - 1]
        return base * (1 + self.rng.uniform(-self.config.jitter, self.config.jitter))

    async def run_once(self) -> int:
        """Send every delivery due now (up to a batch); how many were attempted."""
        now = self.clock()
        token = uuid.uuid4().hex
        async with db.transaction(self.pool) as conn:
            claimed = await DeliveryRepository(conn).claim_due(
                now, now + self.config.lease, self.config.batch_size, token
            )
        if not claimed:
            return 0
        limit = asyncio.Semaphore(self.config.concurrency)

        async def one(row: asyncpg.Record) -> None:
            async with limit:
                await self.attempt(row, token)

        await asyncio.gather(*(one(row) for row in claimed))
        return len(claimed)

    async def run_forever(self) -> None:
        swept_at: datetime | None = None
        while True:
            try:
                while await self.run_once() >= self.config.batch_size:
                    pass
                if swept_at is None or self.clock() - swept_at >= self.config.sweep_every:
                    swept_at = self.clock()
                    await self.sweep()
            except Exception as exc:
                log.warning("webhook_worker_failed", error=repr(exc))
            await asyncio.sleep(self.config.poll_seconds)

    async def sweep(self) -> int:
        """Forget settled deliveries older than the retention; any replica may do it, any number of times."""
        async with self.pool.acquire() as conn:
            return await DeliveryRepository(conn).forget_settled_before(self.clock() - self.config.retention)

    async def deliver_now(self, delivery_id: str) -> Settled | None:
        """Claim one delivery and attempt it at once (a ping, a manual redelivery); None if it is gone."""
        now = self.clock()
        token = uuid.uuid4().hex
        async with db.transaction(self.pool) as conn:
            row = await DeliveryRepository(conn).claim(delivery_id, now + self.config.lease, token)
        if row is None:
            return None
        return await self.attempt(row, token)

    async def attempt(self, claimed: asyncpg.Record, token: str) -> Settled | None:
        at = self.clock()
        result = await self.sender.send(claimed["url"], claimed["secret"], claimed["event_id"], claimed["body"], at)
        settled = await self._settle(claimed, token, at, result)
        if settled is not None:
            if not result.succeeded:
                WEBHOOK_FAILURES.inc()
            outcome = {"delivered": "delivered", "pending": "retrying"}.get(settled.status, "failed")
            WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
            if settled.disabled:
                WEBHOOKS_DISABLED.inc()
            log.info(
                "webhook_attempt",
                delivery=claimed["id"],
                webhook=claimed["subscription_id"],
                event_id=claimed["event_id"],
                status_code=result.status_code,
                outcome=outcome,
                error=result.error,
            )
        return settled

    async def _settle(self, claimed: asyncpg.Record, token: str, at: datetime, result: AttemptResult) -> Settled | None:
        async with db.transaction(self.pool) as conn:
            deliveries = DeliveryRepository(conn)
            current = await deliveries.lock(claimed["id"])
            if current is None:  # the subscription was deleted meanwhile
                return None
            attempts = current["attempts"] + 1
            await deliveries.add_attempt(
                delivery_id=current["id"],
                attempt=attempts,
                at=at,
                succeeded=result.succeeded,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
                response_excerpt=result.response_excerpt,
            )
            if current["lease_token"] != token:
                # Another claim (a manual redelivery, a worker after our lease ended) owns the state now.
                return Settled(current["id"], current["status"], result)
            round_attempts = current["round_attempts"] + 1
            next_at = at
            if result.succeeded:
                status = "delivered"
            else:
                delay = self.retry_delay(round_attempts) if current["kind"] == "event" else None
                status = "failed" if delay is None else "pending"
                next_at = at + (delay or timedelta(0))
            await deliveries.settle(
                current["id"],
                status=status,
                attempts=attempts,
                round_attempts=round_attempts,
                next_attempt_at=next_at,
                at=at,
                status_code=result.status_code,
                error=result.error,
            )
            disabled = False
            if current["kind"] == "event":  # pings say nothing about the subscription's health
                disabled = await self._track_health(conn, current["subscription_id"], at, result.succeeded)
        return Settled(current["id"], status, result, disabled)

    async def _track_health(self, conn: asyncpg.Connection, subscription_id: str, at: datetime, ok: bool) -> bool:
        subscriptions = SubscriptionRepository(conn)
        if ok:
            await subscriptions.succeeded(subscription_id)
            return False
        row = await subscriptions.failed(subscription_id, at)
        if row is None or not row["enabled"] or row["failing_since"] > at - self.config.disable_after:
            return False
        hours = (at - row["failing_since"]).total_seconds() / 3600
        reason = f"every attempt failed for {hours:.0f} hours ({row['consecutive_failures']} attempts in a row)"
        after = await subscriptions.disable(subscription_id, at, reason)
        if after is None:
            return False
        await audit.record(
            conn,
            OUTBOX,
            actor=None,
            action="webhook.disabled",
            target_type="webhook",
            target_id=subscription_id,
            before=audit_view(row),
            after=audit_view(after),
            at=at,
        )
        await OUTBOX.emit(
            conn,
            DISABLED_EVENT,
            f"webhook:{subscription_id}:disabled:{at.isoformat()}",
            {
                "webhook_id": subscription_id,
                "url": after["url"],
                "reason": reason,
                "failing_since": row["failing_since"].isoformat(),
                "consecutive_failures": row["consecutive_failures"],
                "disabled_at": at.isoformat(),
            },
            at,
        )
        log.warning("webhook_disabled", webhook=subscription_id, reason=reason)
        return True
