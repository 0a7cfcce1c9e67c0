"""The webhook API: who may do what, bad input refused with a code and nothing changed, every change
audited without the secret. The gateway's own authentication runs in front, as in production."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from webhooks_support import MovableClock, Receiver, verify_now

from guardian_common import db
from guardian_common.auth import Role
from guardian_common.bus import Subjects
from guardian_common.errors import install_error_handlers
from guardian_common.service import Runtime
from guardian_gateway.database import SCHEMA
from guardian_gateway.errors import install_gateway_error_handler
from guardian_gateway.keys.schemas import KeyIn
from guardian_gateway.keys.service import KeyService
from guardian_gateway.ratelimit import RateLimiter
from guardian_gateway.settings import GatewaySettings
from guardian_gateway.webhooks.config import WebhookConfig
from guardian_gateway.webhooks.router import router
from guardian_gateway.webhooks.runtime import Webhooks

LOOPBACK = WebhookConfig(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))


@pytest.fixture
async def wpool(gateway_database: str) -> AsyncIterator[asyncpg.Pool]:
    created = await db.create_pool(gateway_database, SCHEMA, max_size=5)
    try:
        async with created.acquire() as conn:
            await conn.execute("TRUNCATE webhook_subscriptions, outbox, api_keys, rate_limit_windows CASCADE")
        yield created
    finally:
        await created.close()


class Api:
    def __init__(self, http: httpx.AsyncClient, keys: dict[Role, str], hooks: Webhooks) -> None:
        self.http = http
        self.keys = keys
        self.hooks = hooks

    async def call(self, method: str, path: str, role: Role | None = Role.ADMIN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role is not None else {}
        return await self.http.request(method, f"/api/v1/webhooks{path}", headers=headers, **kwargs)


@pytest.fixture
async def api(wpool: asyncpg.Pool) -> AsyncIterator[Api]:
    clock = MovableClock()
    settings = GatewaySettings(internal_secret="test-internal-secret")
    hooks = Webhooks.build(wpool, LOOPBACK, clock)
    keys = KeyService(wpool, clock)
    app = FastAPI()
    install_error_handlers(app)
    install_gateway_error_handler(app)
    app.include_router(router)
    app.state.settings = settings
    app.state.runtime = Runtime(
        name="gateway",
        settings=settings,
        subjects=Subjects("webhookapi"),
        pool=wpool,
        extras={"keys": keys, "limiter": RateLimiter(wpool, 10_000, clock), "webhooks": hooks},
    )
    made = {role: (await keys.create(KeyIn(name=f"t-{role.value}", role=role), "test")).key for role in Role}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
            yield Api(http, made, hooks)
    finally:
        await hooks.sender.close()


def expect(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, response.text
    assert body["detail"]


async def audit_actions(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE event_type = 'audit.recorded' ORDER BY id")
    entries = [dict(r["payload"])["data"] for r in rows]
    return [e for e in entries if e["target"]["type"] == "webhook"]


async def test_admins_manage_subscriptions_and_auditors_read_them_without_secrets(
    api: Api, wpool: asyncpg.Pool
) -> None:
    created = await api.call(
        "POST", "", json={"url": "http://127.0.0.1:9/in", "event_types": ["scope.*", "finding.*", "scope.*"]}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["finding.*", "scope.*"]
    assert (body["enabled"], body["created_by"], body["consecutive_failures"]) == (True, "t-admin", 0)

    listed = await api.call("GET", "", role=Role.AUDITOR)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["id"] == body["id"]
    assert "secret" not in item
    one = await api.call("GET", f"/{body['id']}", role=Role.AUDITOR)
    assert one.status_code == 200
    assert "secret" not in one.json()
    deliveries = await api.call("GET", f"/{body['id']}/deliveries", role=Role.AUDITOR)
    assert deliveries.json() == {"items": []}

    changed = await api.call("PATCH", f"/{body['id']}", json={"description": "ops pager", "enabled": False})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["description"], changed.json()["enabled"]) == ("ops pager", False)
    assert changed.json()["disabled_reason"] == "disabled by an admin"
    rotated = await api.call("POST", f"/{body['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != body["secret"]
    removed = await api.call("DELETE", f"/{body['id']}")
    assert removed.status_code == 204
    expect(await api.call("GET", f"/{body['id']}", role=Role.AUDITOR), 404, "webhook_not_found")

    entries = await audit_actions(wpool)
    assert [e["action"] for e in entries] == [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]
    assert all(e["target"] == {"type": "webhook", "id": body["id"]} for e in entries)
    assert all(e["actor"]["name"] == "t-admin" for e in entries)
    assert entries[1]["before"]["description"] == ""
    assert entries[1]["after"]["description"] == "ops pager"
    assert entries[3]["after"] is None
    for entry in entries:
        text = str(entry)
        assert body["secret"] not in text
        assert rotated.json()["secret"] not in text
        assert "whsec_" not in text


async def test_only_admins_change_webhooks_and_every_call_needs_a_key(api: Api, wpool: asyncpg.Pool) -> None:
    hook = (await api.call("POST", "", json={"url": "http://127.0.0.1:9/in", "event_types": ["*"]})).json()
    changes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "", {"url": "http://127.0.0.1:9/x", "event_types": ["*"]}),
        ("PATCH", f"/{hook['id']}", {"description": "x"}),
        ("DELETE", f"/{hook['id']}", None),
        ("POST", f"/{hook['id']}/rotate-secret", None),
        ("POST", f"/{hook['id']}/ping", None),
        ("POST", f"/{hook['id']}/deliveries/whd_x/redeliver", None),
    ]
    for method, path, payload in changes:
        for role in (Role.EDITOR, Role.AUDITOR):
            expect(await api.call(method, path, role=role, json=payload), 403, "insufficient_role")
        expect(await api.call(method, path, role=None, json=payload), 401, "missing_api_key")
    for path in ("", f"/{hook['id']}", f"/{hook['id']}/deliveries", f"/{hook['id']}/deliveries/whd_x"):
        expect(await api.call("GET", path, role=None), 401, "missing_api_key")
    assert [e["action"] for e in await audit_actions(wpool)] == ["webhook.created"]
    assert (await api.call("GET", f"/{hook['id']}", role=Role.AUDITOR)).json()["description"] == ""


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"url": "http://127.0.0.1:9/in", "event_types": []}, 422, "invalid_request"),
        ({"url": "http://127.0.0.1:9/in", "event_types": ["Scope Changed"]}, 422, "invalid_request"),
        ({"url": "http://127.0.0.1:9/in"}, 422, "invalid_request"),
        ({"url": "http://127.0.0.1:9/in", "event_types": ["*"], "description": "x" * 501}, 422, "invalid_request"),
        ({"url": "ftp://127.0.0.1/in", "event_types": ["*"]}, 422, "invalid_webhook_url"),
        ({"url": "http://10.0.0.8/in", "event_types": ["*"]}, 422, "webhook_target_refused"),
        ({"url": "http://169.254.169.254/latest/meta-data", "event_types": ["*"]}, 422, "webhook_target_refused"),
        ({"url": "http://[::1]:9/in", "event_types": ["*"]}, 422, "webhook_target_refused"),
    ],
)
async def test_bad_subscriptions_are_refused_with_a_code_and_change_nothing(
    api: Api, wpool: asyncpg.Pool, payload: dict[str, Any], status: int, code: str
) -> None:
    expect(await api.call("POST", "", json=payload), status, code)
    assert (await api.call("GET", "")).json() == {"items": []}
    assert await audit_actions(wpool) == []


async def test_bad_changes_and_unknown_ids_are_refused(api: Api, wpool: asyncpg.Pool) -> None:
    hook = (await api.call("POST", "", json={"url": "http://127.0.0.1:9/in", "event_types": ["*"]})).json()
    expect(
        await api.call("PATCH", f"/{hook['id']}", json={"url": "http://192.168.1.1/"}), 422, "webhook_target_refused"
    )
    expect(await api.call("PATCH", f"/{hook['id']}", json={"event_types": ["a..b"]}), 422, "invalid_request")
    expect(await api.call("PATCH", "/wh_missing", json={"description": "x"}), 404, "webhook_not_found")
    expect(await api.call("DELETE", "/wh_missing"), 404, "webhook_not_found")
    expect(await api.call("POST", "/wh_missing/ping"), 404, "webhook_not_found")
    expect(await api.call("GET", "/wh_missing/deliveries"), 404, "webhook_not_found")
    expect(await api.call("GET", f"/{hook['id']}/deliveries/whd_missing"), 404, "delivery_not_found")
    expect(await api.call("POST", f"/{hook['id']}/deliveries/whd_missing/redeliver"), 404, "delivery_not_found")
    expect(await api.call("GET", f"/{hook['id']}/deliveries", params={"status": "lost"}), 422, "invalid_request")
    expect(await api.call("GET", f"/{hook['id']}/deliveries", params={"limit": 0}), 422, "invalid_request")
    unchanged = (await api.call("GET", f"/{hook['id']}")).json()
    assert (unchanged["url"], unchanged["event_types"]) == ("http://127.0.0.1:9/in", ["*"])
    assert [e["action"] for e in await audit_actions(wpool)] == ["webhook.created"]


async def test_ping_and_redelivery_through_the_api(api: Api) -> None:
    async with Receiver() as receiver:
        hook = (await api.call("POST", "", json={"url": f"{receiver.url}/in", "event_types": ["*"]})).json()
        ping = await api.call("POST", f"/{hook['id']}/ping")
        assert ping.status_code == 200, ping.text
        detail = ping.json()
        assert (detail["status"], detail["kind"], detail["payload"]["type"]) == ("delivered", "ping", "webhook.ping")
        assert [a["status_code"] for a in detail["attempt_log"]] == [204]
        assert verify_now(hook["secret"], receiver.received[0])["data"] == {"webhook_id": hook["id"]}

        again = await api.call("POST", f"/{hook['id']}/deliveries/{detail['id']}/redeliver")
        assert again.status_code == 200, again.text
        assert again.json()["attempts"] == 2
        assert [r.headers["webhook-id"] for r in receiver.received] == [detail["event_id"]] * 2
        log = await api.call("GET", f"/{hook['id']}/deliveries", role=Role.AUDITOR, params={"status": "delivered"})
        assert [d["id"] for d in log.json()["items"]] == [detail["id"]]
