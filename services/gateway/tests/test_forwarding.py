"""What the gateway sends to a service and what it returns, with the service replaced by a recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.types import Message

from guardian_common.auth import PRINCIPAL_HEADER, Principal, Role, verify_principal
from guardian_gateway.errors import UpstreamUnavailable
from guardian_gateway.middleware import REQUEST_ID_SCOPE_KEY
from guardian_gateway.routing.proxy import Forwarder
from guardian_gateway.routing.table import build_route_table

SECRET = "internal-secret-for-forwarding-tests"
PRINCIPAL = Principal(key_id="0123456789abcdef", role=Role.EDITOR, name="ci")
SPECS: dict[str, Any] = {
    "collector": {"paths": {"/api/v1/scans": {"post": {}}, "/api/v1/scans/{scan_id}": {"get": {}}}},
    "compliance": {"paths": {"/api/v1/scans/{scan_id}": {"get": {}}}},
}


class Streamed(httpx.AsyncByteStream):
    """A response body delivered in pieces, as from a real connection (a mock's ready body cannot be streamed)."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part


def incoming(method: str, path: str, headers: dict[str, str], body: bytes = b"", query: bytes = b"") -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("10.1.2.3", 5555),
        REQUEST_ID_SCOPE_KEY: "req-7",
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def run(response: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)

    await response({"type": "http", "method": "GET"}, receive, send)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], list(start["headers"]), body


async def forward(request: Request, handler: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    table = build_route_table(SPECS)
    upstreams = {"collector": "http://collector:8081", "compliance": "http://compliance:8083"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        forwarder = Forwarder(client, table, upstreams, SECRET)
        match = table.match(request.method, request.scope["raw_path"].decode())
        return await run(await forwarder.forward(request, match, PRINCIPAL))


async def test_the_service_gets_the_body_the_principal_and_the_request_id_but_not_the_key() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["headers"] = request.headers
        seen["body"] = request.content
        return httpx.Response(
            202,
            stream=Streamed(b'{"scan_id":', b'"scan-1"}'),
            headers={"Connection": "close", "X-Custom": "kept", "Content-Type": "application/json"},
        )

    request = incoming(
        "POST",
        "/api/v1/scans",
        {
            "authorization": "Bearer gdk_secret",
            "x-api-key": "gdk_other",
            PRINCIPAL_HEADER: "forged-by-the-caller",
            "content-type": "application/json",
            "content-length": "2",
            "connection": "keep-alive, x-hop",
            "x-hop": "drop me",
            "x-request-id": "caller-value",
        },
        body=b"{}",
        query=b"dry=1",
    )
    status, headers, body = await forward(request, handler)

    assert seen["url"] == "http://collector:8081/api/v1/scans?dry=1"
    assert seen["body"] == b"{}"
    sent = seen["headers"]
    assert "authorization" not in sent
    assert "x-api-key" not in sent
    assert "x-hop" not in sent
    assert sent["x-request-id"] == "req-7"
    assert sent["x-forwarded-for"] == "10.1.2.3"
    assert verify_principal(SECRET, sent[PRINCIPAL_HEADER]) == PRINCIPAL
    assert status == 202
    assert body == b'{"scan_id":"scan-1"}'
    names = {name for name, _ in headers}
    assert b"x-custom" in names
    assert b"connection" not in names


async def test_the_compliance_view_of_a_scan_is_fetched_at_its_own_path() -> None:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, stream=Streamed(b"{}"))

    await forward(incoming("GET", "/api/v1/scans/scan-9/evaluation", {}), handler)
    await forward(incoming("GET", "/api/v1/scans/scan-9", {}), handler)
    assert urls == ["http://compliance:8083/api/v1/scans/scan-9", "http://collector:8081/api/v1/scans/scan-9"]


async def test_a_service_that_cannot_be_reached_is_a_502() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(UpstreamUnavailable) as info:
        await forward(incoming("GET", "/api/v1/scans/scan-1", {}), handler)
    assert info.value.status == 502
    assert "collector" in info.value.detail
