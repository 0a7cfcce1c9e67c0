"""Forwarding a request to the service that owns it, streaming both ways.

The client's credential never leaves the gateway: the service receives the authenticated principal
signed with the internal secret (``X-Guardian-Principal``) and the request id, and decides on roles
itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from guardian_common.auth import PRINCIPAL_HEADER, Principal, sign_principal
from guardian_common.service import runtime_of
from guardian_gateway.auth import authenticate
from guardian_gateway.errors import ClientGone, UpstreamTimeout, UpstreamUnavailable
from guardian_gateway.middleware import REQUEST_ID_HEADER, request_id_of
from guardian_gateway.routing.table import HTTP_METHODS, Match, RouteTable

# Headers that describe one connection, not the message (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Never passed on: the caller's credentials and anything that claims to come from the gateway.
_NOT_FORWARDED = frozenset({"host", "authorization", "x-api-key", PRINCIPAL_HEADER.lower(), REQUEST_ID_HEADER})
_NOT_RETURNED = frozenset({"date", "server", REQUEST_ID_HEADER})


def _connection_listed(headers: Mapping[str, str]) -> set[str]:
    listed = headers.get("connection", "")
    return {token.strip().lower() for token in listed.split(",") if token.strip()}


def upstream_headers(
    request: Request, principal: Principal, internal_secret: str, request_id: str
) -> list[tuple[str, str]]:
    drop = HOP_BY_HOP | _NOT_FORWARDED | {"content-length"} | _connection_listed(request.headers)
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in drop]
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit():
        headers.append(("content-length", length.strip()))
    client = request.client.host if request.client is not None else None
    forwarded_for = request.headers.get("x-forwarded-for")
    if client:
        headers = [(k, v) for k, v in headers if k.lower() != "x-forwarded-for"]
        headers.append(("x-forwarded-for", f"{forwarded_for}, {client}" if forwarded_for else client))
    headers.append((REQUEST_ID_HEADER, request_id))
    headers.append((PRINCIPAL_HEADER, sign_principal(internal_secret, principal)))
    return headers


def response_headers(upstream: httpx.Response) -> list[tuple[bytes, bytes]]:
    drop = HOP_BY_HOP | _NOT_RETURNED | _connection_listed(upstream.headers)
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in upstream.headers.multi_items()
        if name.lower() not in drop
    ]


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """The service's answer as it arrives; the connection is released even if the caller leaves early."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    finally:
        await upstream.aclose()


@dataclass
class Forwarder:
    client: httpx.AsyncClient
    table: RouteTable
    upstreams: Mapping[str, str]
    internal_secret: str

    async def forward(self, request: Request, match: Match, principal: Principal) -> Response:
        base = self.upstreams[match.route.service]
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = f"{base}{match.upstream_path}" + (f"?{query}" if query else "")
        content: AsyncIterator[bytes] | None = request.stream() if has_body(request) else None
        outgoing = self.client.build_request(
            request.method,
            url,
            headers=upstream_headers(request, principal, self.internal_secret, request_id_of(request.scope)),
            content=content,
        )
        try:
            upstream = await self.client.send(outgoing, stream=True)
        except ClientDisconnect as exc:
            # The caller went away while sending, or the body limit cut the body short (then the
            # body-limit middleware answers 413 in place of this).
            raise ClientGone("The request body ended before it was complete.") from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"The {match.route.service} service did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"The {match.route.service} service could not be reached.") from exc
        response = StreamingResponse(_relay(upstream), status_code=upstream.status_code)
        response.raw_headers = response_headers(upstream)
        return response


router = APIRouter()


@router.api_route("/{path:path}", methods=list(HTTP_METHODS), include_in_schema=False)
async def proxy(request: Request) -> Response:
    forwarder: Forwarder = runtime_of(request).extras["forwarder"]
    raw_path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    match = forwarder.table.match(request.method, raw_path.split("?", 1)[0])
    principal = await authenticate(request)
    return await forwarder.forward(request, match, principal)
