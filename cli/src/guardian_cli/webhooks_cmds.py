"""``guardian webhooks``: subscriptions to Guardian's events, their delivery log, redelivery and pings.

Webhooks live in the gateway, so these commands need a running deployment: GUARDIAN_URL (the
gateway) and GUARDIAN_API_KEY (an admin key to change anything; an auditor key may list). Every
command prints a table, or the API's JSON with ``--json``. Exit statuses: 0 success; 2 bad usage or
the API refused the request (its error code and detail are printed); 3 the gateway could not be
reached or failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.table import Table

from guardian_cli.client import ApiError, Endpoints, GuardianClient

EXIT_USAGE, EXIT_CANNOT_RUN = 2, 3
STATUSES = ("pending", "delivered", "failed")

T = TypeVar("T")

webhooks_app = typer.Typer(
    help="Webhooks: signed HTTP callbacks for Guardian's events (needs GUARDIAN_URL).", no_args_is_help=True
)

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table")]
WebhookId = Annotated[str, typer.Argument(help="Webhook id (wh_...)")]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _path(*segments: str) -> str:
    """``/api/v1/webhooks/...`` with each id escaped, so an id can never reach another route."""
    return "/api/v1/webhooks" + "".join(f"/{quote(s, safe='')}" for s in segments)


class WebhookClient:
    def __init__(self, client: GuardianClient) -> None:
        self.client = client

    async def call(self, method: str, *segments: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, self.client.endpoints.collector + _path(*segments), **kwargs)
        return response.json() if response.content else None


def _run(work: Callable[[WebhookClient], Awaitable[T]]) -> T:
    gateway = os.environ.get("GUARDIAN_URL")
    key = os.environ.get("GUARDIAN_API_KEY")
    if not gateway or not key:
        raise _fail(
            "webhooks live in the gateway: set GUARDIAN_URL to its address and GUARDIAN_API_KEY to a key", EXIT_USAGE
        )

    async def main() -> T:
        async with GuardianClient(Endpoints.gateway(gateway), key) as client:
            try:
                return await work(WebhookClient(client))
            except ApiError as exc:
                code = EXIT_USAGE if 400 <= exc.status < 500 else EXIT_CANNOT_RUN
                raise _fail(f"{exc.code} ({exc.status}): {exc.detail}", code) from exc
            except httpx.HTTPError as exc:
                raise _fail(f"could not reach the gateway at {gateway}: {exc}", EXIT_CANNOT_RUN) from exc

    return asyncio.run(main())


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _state(hook: dict[str, Any]) -> str:
    if hook["enabled"]:
        failing = hook.get("consecutive_failures") or 0
        return f"enabled, {failing} failed in a row" if failing else "enabled"
    return f"disabled: {hook.get('disabled_reason') or 'by an admin'}"


def _show_delivery(delivery: dict[str, Any]) -> None:
    out.print(
        f"delivery {delivery['id']} ({delivery['event_type']}, webhook-id {delivery['event_id']}): "
        f"{delivery['status']} after {delivery['attempts']} attempt(s)",
        markup=False,
    )
    rows = [
        [
            str(a["attempt"]),
            a["attempted_at"],
            "—" if a["status_code"] is None else str(a["status_code"]),
            "ok" if a["succeeded"] else (a["error"] or "failed"),
            f"{a['duration_ms']} ms",
        ]
        for a in delivery.get("attempt_log", [])
    ]
    if rows:
        _table("Attempts", ["#", "at", "HTTP", "outcome", "took"], rows)


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Where events are POSTed (https in production)")],
    events: Annotated[
        list[str],
        typer.Option("--event", "-e", help="Event type to receive: scope.changed, finding.* or * (repeat for more)"),
    ],
    description: Annotated[str, typer.Option(help="What the subscription is for")] = "",
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off")] = False,
    as_json: AsJson = False,
) -> None:
    """Subscribe a URL to events; the signing secret is printed once."""
    body = {"url": url, "event_types": events, "description": description, "enabled": not disabled}
    created = _run(lambda w: w.call("POST", json=body))
    if as_json:
        _print_json(created)
        return
    out.print(f"Webhook {created['id']} -> {created['url']} for {', '.join(created['event_types'])}", markup=False)
    out.print(f"signing secret (shown once): {created['secret']}", markup=False)


@webhooks_app.command("list")
def webhooks_list(as_json: AsJson = False) -> None:
    """List the subscriptions (never their secrets)."""
    hooks = _run(lambda w: w.call("GET"))["items"]
    if as_json:
        _print_json(hooks)
        return
    rows = [[h["id"], h["url"], ", ".join(h["event_types"]), _state(h), h["description"]] for h in hooks]
    _table("Webhooks", ["id", "url", "events", "state", "description"], rows)


@webhooks_app.command("remove")
def webhooks_remove(webhook_id: WebhookId) -> None:
    """Delete a subscription and its delivery log."""
    _run(lambda w: w.call("DELETE", webhook_id))
    out.print(f"Webhook {webhook_id} removed.", markup=False)


def _switch(webhook_id: str, enabled: bool, as_json: bool) -> None:
    hook = _run(lambda w: w.call("PATCH", webhook_id, json={"enabled": enabled}))
    if as_json:
        _print_json(hook)
    else:
        out.print(f"Webhook {hook['id']}: {_state(hook)}", markup=False)


@webhooks_app.command("enable")
def webhooks_enable(webhook_id: WebhookId, as_json: AsJson = False) -> None:
    """Switch a subscription on again (after it was disabled for failing); pending deliveries resume."""
    _switch(webhook_id, True, as_json)


@webhooks_app.command("disable")
def webhooks_disable(webhook_id: WebhookId, as_json: AsJson = False) -> None:
    """Switch a subscription off; its pending deliveries wait until it is enabled."""
    _switch(webhook_id, False, as_json)


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    webhook_id: WebhookId,
    status: Annotated[str | None, typer.Option(help="Only pending, delivered or failed deliveries")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first (1-500)")] = 50,
    as_json: AsJson = False,
) -> None:
    """The delivery log of a subscription, newest first."""
    if status is not None and status not in STATUSES:
        raise _fail(f"--status must be one of {', '.join(STATUSES)}, not {status!r}", EXIT_USAGE)
    if not 1 <= limit <= 500:
        raise _fail("--limit must be between 1 and 500", EXIT_USAGE)
    params: dict[str, str | int] = {"limit": limit} | ({"status": status} if status else {})
    items = _run(lambda w: w.call("GET", webhook_id, "deliveries", params=params))["items"]
    if as_json:
        _print_json(items)
        return
    rows = [
        [
            d["id"],
            d["event_type"],
            d["event_id"],
            d["status"],
            str(d["attempts"]),
            "—" if d["last_status_code"] is None else str(d["last_status_code"]),
            d["last_error"] or "",
            d["next_attempt_at"] or "",
        ]
        for d in items
    ]
    _table(
        f"Deliveries of {webhook_id}",
        ["delivery", "event", "webhook-id", "status", "attempts", "HTTP", "last error", "next attempt"],
        rows,
    )


@webhooks_app.command("redeliver")
def webhooks_redeliver(
    webhook_id: WebhookId,
    delivery_id: Annotated[str, typer.Argument(help="Delivery id (whd_...)")],
    as_json: AsJson = False,
) -> None:
    """Send a delivery again now, with the same webhook-id."""
    delivery = _run(lambda w: w.call("POST", webhook_id, "deliveries", delivery_id, "redeliver"))
    if as_json:
        _print_json(delivery)
    else:
        _show_delivery(delivery)


@webhooks_app.command("ping")
def webhooks_ping(webhook_id: WebhookId, as_json: AsJson = False) -> None:
    """Send a signed webhook.ping now and show how the receiver answered."""
    delivery = _run(lambda w: w.call("POST", webhook_id, "ping"))
    if as_json:
        _print_json(delivery)
    else:
        _show_delivery(delivery)
