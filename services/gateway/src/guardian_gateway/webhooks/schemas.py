from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from guardian_gateway.webhooks.patterns import pattern_problem

MAX_EVENT_TYPES = 50
DeliveryStatus = Literal["pending", "delivered", "failed"]


def _clean_patterns(values: list[str]) -> list[str]:
    problems = [p for p in (pattern_problem(v) for v in values) if p is not None]
    if problems:
        raise ValueError("; ".join(problems))
    return sorted(set(values))


class WebhookIn(BaseModel):
    url: str = Field(min_length=1, max_length=2048, description="Where events are POSTed (https in production)")
    event_types: list[str] = Field(
        min_length=1,
        max_length=MAX_EVENT_TYPES,
        description="Event types to receive: exact (scope.changed), a prefix (finding.*) or * for all."
        " audit.recorded is sent only to subscriptions that name it.",
    )
    description: str = Field(default="", max_length=500)
    enabled: bool = True

    @field_validator("event_types")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        return _clean_patterns(values)


class WebhookPatch(BaseModel):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=MAX_EVENT_TYPES)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, description="true switches a disabled subscription on again")

    @field_validator("event_types")
    @classmethod
    def _patterns(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _clean_patterns(values)


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None = Field(description="Since when every attempt has failed; null after a success")
    consecutive_failures: int


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (Standard Webhooks whsec_ form). Shown only in this response.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str = Field(description="Sent as webhook-id on every attempt")
    event_type: str
    kind: Literal["event", "ping"]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next attempt is due; null unless pending")
    created_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any] = Field(description="The body sent, as JSON")
    attempt_log: list[AttemptOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
