"""Webhooks across services: a scope change made in compliance leaves through compliance's outbox, the
gateway's dispatcher turns it into a signed delivery, and a loopback receiver verifies it with the
Standard Webhooks library. Loopback targets are allowed here by configuration, as a deployment would."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import Running
from typer.testing import CliRunner
from webhooks_support import Receiver, verify_now

from guardian_cli.main import app as cli
from guardian_gateway.keys.service import bootstrap_key

WAIT_SECONDS = 60.0


@dataclass
class Result:
    code: int | None
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def guardian(gateway_url: str | None, key: str, *args: str) -> Result:
    """``guardian webhooks ...`` as a user runs it, pointed at the gateway (in a thread: it runs its own loop)."""
    env = {"GUARDIAN_API_KEY": key, "GUARDIAN_URL": gateway_url, "COLUMNS": "250"}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["webhooks", *args], env=env)
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the stack starts: the gateway reads it into its settings."""
    monkeypatch.setenv("GUARDIAN_WEBHOOK_ALLOWED_NETWORKS", json.dumps(["127.0.0.0/8"]))
    monkeypatch.setenv("GUARDIAN_WEBHOOK_POLL_SECONDS", "0.1")


async def test_a_scope_change_in_compliance_reaches_a_subscriber_signed(
    loopback_webhooks: None, running: Running
) -> None:
    key = (await bootstrap_key(running.database_url, "webhook-e2e")).key
    root = {"Authorization": f"Bearer {key}"}
    async with (
        Receiver() as receiver,
        httpx.AsyncClient(base_url=running.stack.url("gateway"), headers=root, timeout=30) as gateway,
    ):
        refused = await gateway.post("/api/v1/webhooks", json={"url": "http://10.1.1.1/in", "event_types": ["*"]})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "webhook_target_refused"

        created = await gateway.post(
            "/api/v1/webhooks", json={"url": f"{receiver.url}/guardian", "event_types": ["scope.*"]}
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        scope = await gateway.post("/api/v1/scopes", json={"id": "web", "name": "Web shop"})
        assert scope.status_code == 201, scope.text
        edited = await gateway.patch("/api/v1/scopes/web", json={"name": "Web shop and API"})
        assert edited.status_code == 200, edited.text

        async def scope_change() -> dict[str, str]:
            while True:
                for request in receiver.received:
                    if json.loads(request.body)["data"].get("scope_id") == "web":
                        return request.headers | {"body": request.body}
                await asyncio.sleep(0.1)

        headers = await asyncio.wait_for(scope_change(), WAIT_SECONDS)
        [request] = [r for r in receiver.received if r.headers["webhook-id"] == headers["webhook-id"]]
        payload = verify_now(hook["secret"], request)
        assert payload["type"] == "scope.changed"
        assert payload["source"] == "compliance"
        assert payload["data"]["scope_id"] == "web"
        assert request.headers["webhook-id"].startswith("compliance:outbox:")
        assert request.path == "/guardian"

        async def logged() -> list[dict[str, object]]:
            while True:
                log = await gateway.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"status": "delivered"})
                items: list[dict[str, object]] = log.json()["items"]
                if items:
                    return items
                await asyncio.sleep(0.1)

        [delivery] = await asyncio.wait_for(logged(), WAIT_SECONDS)
        assert (delivery["event_id"], delivery["event_type"]) == (request.headers["webhook-id"], "scope.changed")
        assert delivery["last_status_code"] == 204

        # The same subscription through the CLI.
        url = running.stack.url("gateway")
        listed = await guardian(url, key, "list", "--json")
        assert listed.code == 0, listed.err
        assert [h["id"] for h in listed.json()] == [hook["id"]]
        assert "secret" not in listed.out
        table = await guardian(url, key, "list")
        assert hook["id"] in table.out
        ping = await guardian(url, key, "ping", hook["id"], "--json")
        assert ping.code == 0, ping.err
        assert (ping.json()["status"], ping.json()["kind"]) == ("delivered", "ping")
        shown = await guardian(url, key, "deliveries", hook["id"], "--status", "delivered", "--json")
        assert shown.code == 0, shown.err
        assert str(delivery["id"]) in {d["id"] for d in shown.json()}
        again = await guardian(url, key, "redeliver", hook["id"], str(delivery["id"]))
        assert again.code == 0, again.err
        assert "delivered after 2 attempt(s)" in again.out
        sent_again = [r for r in receiver.received if r.headers["webhook-id"] == request.headers["webhook-id"]]
        assert len(sent_again) == 2

        refused_cli = await guardian(url, key, "add", "http://10.0.0.1/in", "--event", "*")
        assert refused_cli.code == 2
        assert "webhook_target_refused" in refused_cli.err
        assert (await guardian(url, key, "deliveries", hook["id"], "--status", "lost")).code == 2
        nowhere = await guardian(None, key, "list")
        assert nowhere.code == 2
        assert "GUARDIAN_URL" in nowhere.err

        added = await guardian(url, key, "add", f"{receiver.url}/second", "-e", "control.*", "-e", "scope.changed")
        assert added.code == 0, added.err
        assert "signing secret (shown once): whsec_" in added.out
        second_id = added.out.split()[1]
        removed = await guardian(url, key, "remove", second_id)
        assert removed.code == 0, removed.err
        remaining = await guardian(url, key, "list", "--json")
        assert [h["id"] for h in remaining.json()] == [hook["id"]]
