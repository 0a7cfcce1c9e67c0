"""API-key authentication shared by every service.

A key is a signed, self-describing token (``gk1.<payload>.<signature>``, made with itsdangerous)
carrying an id, a role and an optional expiry; every service verifies it with the deployment's
secret, so no service reads another's tables to authenticate. Roles: admin > editor > auditor.

Behind the gateway, a service instead receives ``X-Guardian-Principal``: the principal the gateway
authenticated, as JSON signed with the internal secret and a timestamp, valid for a minute. With
``require_gateway`` a service accepts only that credential.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from guardian_common.errors import Forbidden, Unauthenticated

KEY_PREFIX = "gk1."
_SALT = "guardian.api-key.v1"
PRINCIPAL_HEADER = "X-Guardian-Principal"
PRINCIPAL_MAX_AGE_SECONDS = 60
_PRINCIPAL_SALT = "guardian.gateway-principal.v1"


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    AUDITOR = "auditor"

    @property
    def rank(self) -> int:
        return {"auditor": 0, "editor": 1, "admin": 2}[self.value]


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    name: str

    def can(self, needed: Role) -> bool:
        return self.role.rank >= needed.rank


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def mint_key(secret: str, role: Role, name: str, expires_at: datetime | None = None) -> tuple[str, str]:
    """Return (key id, key). The key is shown once; only its id is worth storing."""
    key_id = secrets.token_hex(8)
    payload: dict[str, Any] = {"id": key_id, "role": role.value, "name": name}
    if expires_at is not None:
        payload["exp"] = int(expires_at.timestamp())
    token = _serializer(secret).dumps(payload)
    return key_id, KEY_PREFIX + str(token)


def verify_key(secret: str, key: str, now: datetime | None = None) -> Principal:
    if not key.startswith(KEY_PREFIX):
        raise Unauthenticated("The API key is malformed.", code="invalid_api_key")
    try:
        payload = _serializer(secret).loads(key[len(KEY_PREFIX) :])
    except BadSignature as exc:
        raise Unauthenticated("The API key is not valid for this deployment.", code="invalid_api_key") from exc
    if (
        not isinstance(payload, dict)
        or payload.get("role") not in {r.value for r in Role}
        or not isinstance(payload.get("id"), str)
        or not isinstance(payload.get("exp", 0), int)
    ):
        raise Unauthenticated("The API key is malformed.", code="invalid_api_key")
    exp = payload.get("exp")
    current = now or datetime.now(UTC)
    if current.tzinfo is None:
        current = current.replace(tzinfo=UTC)
    if exp is not None and current.timestamp() >= exp:
        raise Unauthenticated("The API key has expired.", code="expired_api_key")
    return Principal(key_id=str(payload["id"]), role=Role(payload["role"]), name=str(payload.get("name", "")))


def _principal_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_PRINCIPAL_SALT)


def sign_principal(secret: str, principal: Principal) -> str:
    """The gateway's credential for one forwarded request: who it authenticated, signed and timestamped."""
    payload = {"id": principal.key_id, "role": principal.role.value, "name": principal.name}
    return str(_principal_serializer(secret).dumps(payload))


def verify_principal(secret: str, value: str, max_age: int = PRINCIPAL_MAX_AGE_SECONDS) -> Principal:
    try:
        payload = _principal_serializer(secret).loads(value, max_age=max_age)
    except SignatureExpired as exc:
        raise Unauthenticated("The gateway credential is too old.", code="expired_internal_credential") from exc
    except BadSignature as exc:
        raise Unauthenticated("The gateway credential is not valid.", code="invalid_internal_credential") from exc
    if (
        not isinstance(payload, dict)
        or payload.get("role") not in {r.value for r in Role}
        or not isinstance(payload.get("id"), str)
        or not isinstance(payload.get("name"), str)
    ):
        raise Unauthenticated("The gateway credential is malformed.", code="invalid_internal_credential")
    return Principal(key_id=payload["id"], role=Role(payload["role"]), name=payload["name"])


def _key_from_request(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def authenticate(request: Request) -> Principal:
    settings = request.app.state.settings
    forwarded = request.headers.get(PRINCIPAL_HEADER)
    if forwarded is not None:
        internal_secret: str | None = getattr(settings, "internal_secret", None)
        if not internal_secret:
            raise Unauthenticated(
                "This service has no internal secret, so it cannot accept a gateway credential.",
                code="invalid_internal_credential",
            )
        principal = verify_principal(internal_secret, forwarded)
        request.state.principal = principal
        return principal
    if getattr(settings, "require_gateway", False):
        raise Unauthenticated("This service is reached only through the gateway.", code="gateway_required")
    key = _key_from_request(request)
    if not key:
        raise Unauthenticated("An API key is required: send 'Authorization: Bearer <key>'.", code="missing_api_key")
    secret: str = settings.auth_secret
    principal = verify_key(secret, key)
    request.state.principal = principal
    return principal


def require(role: Role) -> Any:
    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.can(role):
            raise Forbidden(
                f"This action needs the {role.value} role; the key has the {principal.role.value} role.",
                code="insufficient_role",
            )
        return principal

    return Depends(dependency)


Reader = Annotated[Principal, Depends(authenticate)]
Editor = Annotated[Principal, require(Role.EDITOR)]
Admin = Annotated[Principal, require(Role.ADMIN)]
