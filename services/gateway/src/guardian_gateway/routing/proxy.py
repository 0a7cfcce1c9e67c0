"""Forwarding a request to the service that owns it, streaming both ways.

The client's credential never leaves the gateway: the service receives the authenticated principal
signed with the internal secret (``X-Guardian-Principal``) and the request id, and decides on roles
itself. Besides ``/api/...``, the dashboard pages (``/dashboard``, ``/dashboard/...``) go to the
reporting service at the same path, and its ``/static/...`` files without any credential; a browser
without a session asking for a page is sent to the sign-in page instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import unquote, urlencode

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from guardian_common.auth import PRINCIPAL_HEADER, Principal, sign_principal
from guardian_common.errors import Unauthenticated
from guardian_common.service import runtime_of
from guardian_gateway.auth import authenticate, key_from_request
from guardian_gateway.errors import ClientGone, MethodNotAllowed, RouteNotFound, UpstreamTimeout, UpstreamUnavailable
from guardian_gateway.middleware import REQUEST_ID_HEADER, request_id_of
from guardian_gateway.routing.table import HTTP_METHODS, Match, RouteTable
from guardian_gateway.sessions.cookies import CSRF_HEADER, SESSION_COOKIE

# Idle connections to a service are dropped well before uvicorn's keep-alive timeout (5 s) closes
# them: reusing one the server is closing at that moment fails the request with "disconnected".
UPSTREAM_LIMITS = httpx.Limits(max_keepalive_connections=20, keepalive_expiry=2.0)
# Reads whose connection broke before any answer are sent once more on a new connection.
_RETRIED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

DASHBOARD_SERVICE = "reporting"
DASHBOARD_PATH = "/dashboard"
STATIC_PREFIX = "/static/"

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
_NOT_FORWARDED = frozenset(
    {"host", "authorization", "x-api-key", PRINCIPAL_HEADER.lower(), REQUEST_ID_HEADER, CSRF_HEADER.lower()}
)
_NOT_RETURNED = frozenset({"date", "server", REQUEST_ID_HEADER})


def _connection_listed(headers: Mapping[str, str]) -> set[str]:
    listed = headers.get("connection", "")
    return {token.strip().lower() for token in listed.split(",") if token.strip()}


def without_session_cookie(cookie_header: str) -> str | None:
    """The Cookie header minus the session cookie (a credential that never leaves the gateway)."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None  # unparseable: forward none of it rather than risk passing the session on
    kept = [f"{name}={morsel.coded_value}" for name, morsel in jar.items() if name != SESSION_COOKIE]
    return "; ".join(kept) or None


def upstream_headers(
    request: Request, principal: Principal | None, internal_secret: str, request_id: str
) -> list[tuple[str, str]]:
    drop = HOP_BY_HOP | _NOT_FORWARDED | {"content-length", "cookie"} | _connection_listed(request.headers)
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in drop]
    cookies = [
        kept for k, v in request.headers.items() if k.lower() == "cookie" and (kept := without_session_cookie(v))
    ]
    if cookies:
        headers.append(("cookie", "; ".join(cookies)))
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit():
        headers.append(("content-length", length.strip()))
    client = request.client.host if request.client is not None else None
    forwarded_for = request.headers.get("x-forwarded-for")
    if client:
        headers = [(k, v) for k, v in headers if k.lower() != "x-forwarded-for"]
        headers.append(("x-forwarded-for", f"{forwarded_for}, {client}" if forwarded_for else client))
    headers.append((REQUEST_ID_HEADER, request_id))
    if principal is not None:
        headers.append((PRINCIPAL_HEADER, sign_principal(internal_secret, principal)))
    return headers


def _sets_session_cookie(name: str, value: str) -> bool:
    return name.lower() == "set-cookie" and value.split("=", 1)[0].strip() == SESSION_COOKIE


def response_headers(upstream: httpx.Response) -> list[tuple[bytes, bytes]]:
    drop = HOP_BY_HOP | _NOT_RETURNED | _connection_listed(upstream.headers)
    # Only the gateway sets the session cookie; a service cannot plant or replace one.
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in upstream.headers.multi_items()
        if name.lower() not in drop and not _sets_session_cookie(name, value)
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
        return await self.send_to(request, match.route.service, match.upstream_path, principal)

    async def send_to(
        self, request: Request, service: str, upstream_path: str, principal: Principal | None
    ) -> Response:
        """Forward to ``service`` at ``upstream_path``; without a principal the service gets no credential."""
        base = self.upstreams[service]
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = f"{base}{upstream_path}" + (f"?{query}" if query else "")
        content: AsyncIterator[bytes] | None = request.stream() if has_body(request) else None
        outgoing = self.client.build_request(
            request.method,
            url,
            headers=upstream_headers(request, principal, self.internal_secret, request_id_of(request.scope)),
            content=content,
        )
        try:
            try:
                upstream = await self.client.send(outgoing, stream=True)
            except (httpx.RemoteProtocolError, httpx.ConnectError):
                if content is not None or request.method.upper() not in _RETRIED_METHODS:
                    raise
                upstream = await self.client.send(outgoing, stream=True)
        except ClientDisconnect as exc:
            # The caller went away while sending, or the body limit cut the body short (then the
            # body-limit middleware answers 413 in place of this).
            raise ClientGone("The request body ended before it was complete.") from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"The {service} service did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"The {service} service could not be reached.") from exc
        response = StreamingResponse(_relay(upstream), status_code=upstream.status_code)
        response.raw_headers = response_headers(upstream)
        return response


router = APIRouter()


def is_dashboard(path: str) -> bool:
    return path == DASHBOARD_PATH or path.startswith(DASHBOARD_PATH + "/")


def _refuse_dot_segments(raw_path: str) -> None:
    """``/static/../dashboard`` must not reach a page without a credential, however it is spelled."""
    if any(unquote(part) in (".", "..") for part in raw_path.split("/")):
        raise RouteNotFound(f"No service answers {raw_path!r}.")


def sign_in_redirect(request: Request, raw_path: str) -> RedirectResponse:
    query = request.scope.get("query_string", b"").decode("latin-1")
    wanted = raw_path + (f"?{query}" if query else "")
    return RedirectResponse("/login?" + urlencode({"next": wanted}), status_code=303)


async def dashboard(request: Request, forwarder: Forwarder, raw_path: str) -> Response:
    if DASHBOARD_SERVICE not in forwarder.upstreams:
        raise RouteNotFound("This deployment has no dashboard.")
    try:
        principal = await authenticate(request)
    except Unauthenticated:
        # A person opening a page is sent to sign in; a program (it sent a key) or a change gets the 401.
        if request.method.upper() in ("GET", "HEAD") and key_from_request(request) is None:
            return sign_in_redirect(request, raw_path)
        raise
    return await forwarder.send_to(request, DASHBOARD_SERVICE, raw_path, principal)


async def static_file(request: Request, forwarder: Forwarder, raw_path: str) -> Response:
    """The dashboard's static files: public (styles, scripts, images), so read without a credential."""
    if DASHBOARD_SERVICE not in forwarder.upstreams:
        raise RouteNotFound(f"No service answers {raw_path!r}.")
    if request.method.upper() not in ("GET", "HEAD"):
        raise MethodNotAllowed("Static files are only read.", headers={"Allow": "GET, HEAD"})
    return await forwarder.send_to(request, DASHBOARD_SERVICE, raw_path, None)


@router.api_route("/{path:path}", methods=list(HTTP_METHODS), include_in_schema=False)
async def proxy(request: Request) -> Response:
    forwarder: Forwarder = runtime_of(request).extras["forwarder"]
    raw_path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    if is_dashboard(raw_path) or raw_path.startswith(STATIC_PREFIX):
        _refuse_dot_segments(raw_path)
    if is_dashboard(raw_path):
        return await dashboard(request, forwarder, raw_path)
    if raw_path.startswith(STATIC_PREFIX):
        return await static_file(request, forwarder, raw_path)
    match = forwarder.table.match(request.method, raw_path)
    principal = await authenticate(request)
    return await forwarder.forward(request, match, principal)
