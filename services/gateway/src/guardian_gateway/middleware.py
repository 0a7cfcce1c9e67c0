"""ASGI middleware of the gateway: request ids and the request body limit.

Both are plain ASGI so they see every response, streamed ones included, and the body limit counts
bytes as they arrive instead of buffering the request.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guardian_gateway.errors import BodyTooLarge, error_response

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_SCOPE_KEY = "guardian.request_id"
# A caller's id is kept when it is a reasonable token; anything else is replaced, never echoed.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id_of(scope: Scope) -> str:
    value = scope.get(REQUEST_ID_SCOPE_KEY)
    return value if isinstance(value, str) else ""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class RequestIdMiddleware:
    """Accept the caller's X-Request-Id or make one; keep it in the scope and return it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = given if given is not None and _ACCEPTABLE_ID.match(given) else uuid.uuid4().hex
        scope[REQUEST_ID_SCOPE_KEY] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER.encode()]
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes``: by Content-Length up front, else while counting.

    When the count passes the limit mid-stream, the application is told the client went away (an
    ``http.disconnect``), so it stops reading and forwarding; whatever it answers or raises then is
    replaced by the 413, as long as no response had started.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self) -> BodyTooLarge:
        return BodyTooLarge(f"The request body is larger than the {self.max_bytes} bytes this API accepts.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await error_response(self._refusal())(scope, receive, send)
            return

        received = 0
        exceeded = False
        started = False
        replaced = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if message["type"] == "http.response.start":
                if exceeded and not started:
                    await error_response(self._refusal())(scope, receive, send)
                    started = replaced = True
                    return
                started = True
            elif replaced:
                return  # the rest of the answer the 413 replaced
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
            await error_response(self._refusal())(scope, receive, send)
