"""``/api/v1/webhooks``: admins manage subscriptions; auditors may read them (never their secrets)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from guardian_common.auth import Principal, Role
from guardian_common.service import runtime_of
from guardian_gateway.auth import GatewayAdmin, require
from guardian_gateway.webhooks.runtime import Webhooks
from guardian_gateway.webhooks.schemas import (
    DeliveryDetail,
    DeliveryList,
    DeliveryStatus,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)
from guardian_gateway.webhooks.service import WebhookService

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
Reader = Annotated[Principal, require(Role.AUDITOR)]


def _service(request: Request) -> WebhookService:
    webhooks: Webhooks = runtime_of(request).extras["webhooks"]
    return webhooks.service


@router.post("", response_model=WebhookCreated, status_code=201, summary="Subscribe a URL to events (secret once)")
async def create_webhook(request: Request, body: WebhookIn, principal: GatewayAdmin) -> WebhookCreated:
    return await _service(request).create(body, principal)


@router.get("", response_model=WebhookList, summary="Webhook subscriptions, without their secrets")
async def list_webhooks(request: Request, _: Reader) -> WebhookList:
    return WebhookList(items=await _service(request).all())


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook subscription")
async def get_webhook(request: Request, webhook_id: str, _: Reader) -> WebhookOut:
    return await _service(request).get(webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookOut, summary="Change a subscription; enabled=true re-enables it")
async def update_webhook(request: Request, webhook_id: str, body: WebhookPatch, principal: GatewayAdmin) -> WebhookOut:
    return await _service(request).update(webhook_id, body, principal)


@router.delete("/{webhook_id}", status_code=204, summary="Delete a subscription and its delivery log")
async def delete_webhook(request: Request, webhook_id: str, principal: GatewayAdmin) -> Response:
    await _service(request).delete(webhook_id, principal)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret", response_model=WebhookCreated, summary="Replace the signing secret (shown once)"
)
async def rotate_webhook_secret(request: Request, webhook_id: str, principal: GatewayAdmin) -> WebhookCreated:
    return await _service(request).rotate_secret(webhook_id, principal)


@router.post("/{webhook_id}/ping", response_model=DeliveryDetail, summary="Send a webhook.ping now and report it")
async def ping_webhook(request: Request, webhook_id: str, principal: GatewayAdmin) -> DeliveryDetail:
    return await _service(request).ping(webhook_id, principal)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList, summary="The delivery log, newest first")
async def list_deliveries(
    request: Request,
    webhook_id: str,
    _: Reader,
    status: Annotated[DeliveryStatus | None, Query(description="Only deliveries in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryList:
    return DeliveryList(items=await _service(request).deliveries(webhook_id, status, limit))


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryDetail, summary="One delivery with every attempt"
)
async def get_delivery(request: Request, webhook_id: str, delivery_id: str, _: Reader) -> DeliveryDetail:
    return await _service(request).delivery(webhook_id, delivery_id)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryDetail,
    summary="Send a delivery again now (same webhook-id)",
)
async def redeliver(request: Request, webhook_id: str, delivery_id: str, principal: GatewayAdmin) -> DeliveryDetail:
    return await _service(request).redeliver(webhook_id, delivery_id, principal)
