"""Who is calling: the gateway's own API keys, looked up in its database."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from guardian_common.auth import Principal, Role
from guardian_common.errors import Forbidden, Unauthenticated
from guardian_common.service import runtime_of
from guardian_gateway.keys.service import KeyService
from guardian_gateway.ratelimit import RateLimiter


def key_from_request(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def authenticate(request: Request) -> Principal:
    key = key_from_request(request)
    if not key:
        raise Unauthenticated("An API key is required: send 'Authorization: Bearer <key>'.", code="missing_api_key")
    extras = runtime_of(request).extras
    keys: KeyService = extras["keys"]
    limiter: RateLimiter = extras["limiter"]
    principal = await keys.authenticate(key)
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
