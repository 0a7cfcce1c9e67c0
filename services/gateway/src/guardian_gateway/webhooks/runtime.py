"""Starting and stopping the webhook machinery with the gateway."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from nats.js import JetStreamContext

from guardian_common import bus
from guardian_common.outbox import stop_task
from guardian_common.service import Runtime
from guardian_gateway.clock import Clock
from guardian_gateway.settings import GatewaySettings
from guardian_gateway.webhooks.config import WebhookConfig
from guardian_gateway.webhooks.consumer import DomainEvent, build_consumer
from guardian_gateway.webhooks.guard import Resolver, system_resolver
from guardian_gateway.webhooks.sender import Sender
from guardian_gateway.webhooks.service import WebhookService
from guardian_gateway.webhooks.worker import DeliveryWorker


@dataclass
class Webhooks:
    service: WebhookService
    worker: DeliveryWorker
    sender: Sender
    consumer: bus.Consumer[DomainEvent] | None = None
    task: asyncio.Task[None] | None = field(default=None)

    @classmethod
    def build(
        cls, pool: asyncpg.Pool, config: WebhookConfig, clock: Clock, resolver: Resolver = system_resolver
    ) -> Webhooks:
        sender = Sender(config, resolver=resolver)
        worker = DeliveryWorker(pool, config, sender, clock)
        service = WebhookService(pool, config, worker, clock, resolver)
        return cls(service=service, worker=worker, sender=sender)

    async def start(self, js: JetStreamContext, subjects: bus.Subjects) -> None:
        self.consumer = build_consumer(js, subjects, self.worker.pool, self.worker.config, self.worker.clock)
        await self.consumer.start()
        self.task = asyncio.create_task(self.worker.run_forever(), name="webhook-deliveries")

    async def stop(self) -> None:
        """Stop taking events and sending; a delivery cut off mid-attempt is sent again after its lease."""
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
        await stop_task(self.task)
        self.task = None
        await self.sender.close()


async def start_webhooks(runtime: Runtime, settings: GatewaySettings, clock: Clock) -> Webhooks:
    webhooks = Webhooks.build(runtime.require_pool(), WebhookConfig.from_settings(settings), clock)
    runtime.extras["webhooks"] = webhooks
    await webhooks.start(runtime.require_js(), runtime.subjects)
    return webhooks


async def stop_webhooks(runtime: Runtime) -> None:
    webhooks = runtime.extras.get("webhooks")
    if isinstance(webhooks, Webhooks):
        await webhooks.stop()
