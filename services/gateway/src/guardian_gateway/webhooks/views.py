"""Rows to API models (and the audit log's view of a subscription, which never holds its secret)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from guardian_gateway.webhooks.schemas import AttemptOut, DeliveryDetail, DeliveryOut, WebhookOut


def subscription_out(row: asyncpg.Record) -> WebhookOut:
    return WebhookOut(
        id=row["id"],
        url=row["url"],
        event_types=list(row["event_types"]),
        description=row["description"],
        enabled=row["enabled"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        consecutive_failures=row["consecutive_failures"],
    )


def audit_view(row: asyncpg.Record) -> dict[str, Any]:
    view: dict[str, Any] = subscription_out(row).model_dump(mode="json")
    return view


def delivery_out(row: asyncpg.Record) -> DeliveryOut:
    return DeliveryOut(
        id=row["id"],
        webhook_id=row["subscription_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        kind=row["kind"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
        created_at=row["created_at"],
        last_attempt_at=row["last_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
    )


def delivery_detail(row: asyncpg.Record, attempts: list[asyncpg.Record]) -> DeliveryDetail:
    payload = json.loads(row["body"])
    return DeliveryDetail(
        **delivery_out(row).model_dump(),
        payload=payload if isinstance(payload, dict) else {"body": payload},
        attempt_log=[AttemptOut(**dict(a)) for a in attempts],
    )
