"""Small helpers shared by the compute, network and edge collectors (EC2 fleet, DLM, Auto Scaling,
ELB, ELBv2, ACM, CloudFront, API Gateway, Route 53).

Not a collector module: the leading underscore keeps it out of discovery.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from guardian_collector.collectors.base import CallError, UnitContext, UnitFailed

T = TypeVar("T")


def iso(value: Any) -> str | None:
    """A timestamp as ISO-8601 text (UTC when AWS gave no zone); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.isoformat()
    return str(value)


def batched(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def read_all(ctx: UnitContext, client: Any, operation: str, key: str, **kwargs: Any) -> list[Any] | CallError:
    """Every page of a listing that is *not* the unit's primary one.

    A failure is recorded (the unit turns PARTIAL) and returned, so the caller can mark the fields
    that depended on it as unreadable instead of failing the whole unit.
    """
    items: list[Any] = []
    try:
        async for page in ctx.pages(client, operation, **kwargs):
            items.extend(page.get(key, []) or [])
    except UnitFailed as exc:
        return exc.error
    return items


def on_off(value: Any) -> bool | None:
    """An AWS attribute value ('true', 'false', True, False) as a bool; anything else is ``None``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def sorted_strings(values: Iterable[Any] | None) -> list[str]:
    return sorted({str(v) for v in values or [] if v is not None and str(v) != ""})


def items_of(container: Mapping[str, Any] | None) -> list[Any]:
    """CloudFront's ``{"Quantity": n, "Items": [...]}`` lists, tolerant of a missing ``Items``."""
    if not container:
        return []
    return list(container.get("Items") or [])
