"""Errors only the gateway raises; some carry response headers (Allow, Retry-After)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from guardian_common.errors import GuardianError


class GatewayError(GuardianError):
    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail, code=code, status=status)
        self.headers = dict(headers or {})


class RouteNotFound(GatewayError):
    code = "route_not_found"
    status = 404


class MethodNotAllowed(GatewayError):
    code = "method_not_allowed"
    status = 405


class BodyTooLarge(GatewayError):
    code = "body_too_large"
    status = 413


class ClientGone(GatewayError):
    code = "incomplete_request"
    status = 400


class RateLimited(GatewayError):
    code = "rate_limited"
    status = 429


class UpstreamUnavailable(GatewayError):
    code = "upstream_unavailable"
    status = 502


class UpstreamTimeout(GatewayError):
    code = "upstream_timeout"
    status = 504


def error_response(exc: GuardianError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=dict(headers or {}) or None
    )


def install_gateway_error_handler(app: FastAPI) -> None:
    """Render GatewayError like every GuardianError, plus the headers it carries."""

    async def gateway_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        return error_response(exc, exc.headers)

    app.add_exception_handler(GatewayError, gateway_error)
