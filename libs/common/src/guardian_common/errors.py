"""One error hierarchy, rendered by one handler as ``{"error": code, "detail": sentence}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    error: str
    detail: str


class GuardianError(Exception):
    code = "internal_error"
    status = 500

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFound(GuardianError):
    code = "not_found"
    status = 404


class Conflict(GuardianError):
    code = "conflict"
    status = 409


class BadRequest(GuardianError):
    code = "bad_request"
    status = 422


class Unauthenticated(GuardianError):
    code = "unauthenticated"
    status = 401


class Forbidden(GuardianError):
    code = "forbidden"
    status = 403


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, malformed or expired API key"},
    403: {"model": ErrorBody, "description": "The key's role may not do this"},
    404: {"model": ErrorBody, "description": "No such object"},
    409: {"model": ErrorBody, "description": "Conflicts with the current state"},
    422: {"model": ErrorBody, "description": "Invalid input"},
}


def install_error_handlers(app: FastAPI) -> None:
    async def guardian_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GuardianError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
        return JSONResponse(
            {"error": "invalid_request", "detail": "Invalid request: " + "; ".join(parts)},
            status_code=422,
        )

    async def framework_error(_: Request, exc: Exception) -> JSONResponse:
        # What the framework raises itself (no route matched, a body it could not even decode) is
        # rendered like every other error. A body that cannot be decoded is invalid input, like a
        # malformed one: 422, not the framework's bare 400.
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            return JSONResponse(
                {"error": "invalid_request", "detail": f"Invalid request: {exc.detail}."}, status_code=422
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    app.add_exception_handler(GuardianError, guardian_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, framework_error)
