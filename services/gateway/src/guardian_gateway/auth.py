"""Who is calling: the gateway's own API keys, looked up in its database, or a browser session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from guardian_common.auth import Principal, Role
from guardian_common.errors import Forbidden, Unauthenticated
from guardian_common.service import runtime_of
from guardian_gateway.keys.service import KeyService
from guardian_gateway.ratelimit import RateLimiter
from guardian_gateway.sessions.cookies import SESSION_COOKIE
from guardian_gateway.sessions.csrf import UNSAFE_METHODS, verify_csrf
from guardian_gateway.sessions.service import SessionService


def key_from_request(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def authenticate(request: Request) -> Principal:
    """The caller: by API key when one is sent, else by the browser's session cookie.

    A key wins over a cookie and needs no CSRF token (no other site can make a browser send it); a
    cookie-authenticated change must carry the session's CSRF token.
    """
    key = key_from_request(request)
    extras = runtime_of(request).extras
    limiter: RateLimiter = extras["limiter"]
    session_id = request.cookies.get(SESSION_COOKIE)
    if key:
        keys: KeyService = extras["keys"]
        principal = await keys.authenticate(key)
    elif session_id:
        sessions: SessionService = extras["sessions"]
        principal = await sessions.resolve(session_id)
        if request.method.upper() in UNSAFE_METHODS:
            await verify_csrf(request, sessions.csrf_token(session_id))
    else:
        raise Unauthenticated("An API key is required: send 'Authorization: Bearer <key>'.", code="missing_api_key")
    # Every authenticated request counts against its key's limit, the gateway's own endpoints included.
    await limiter.check(principal.key_id)
    request.state.principal = principal
    return principal


def require(role: Role) -> Any:
    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.can(role):
            raise Forbidden(
                f"This action needs the {role.value} role; the key has the {principal.role.value} role.",
                code="insufficient_role",
            )
        return principal

    return Depends(dependency)


GatewayAdmin = Annotated[Principal, require(Role.ADMIN)]
