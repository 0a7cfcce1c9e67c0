"""Request ids and the body limit, on a small app behind the two middlewares (no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from guardian_common.errors import install_error_handlers
from guardian_gateway.errors import install_gateway_error_handler
from guardian_gateway.middleware import BodyLimitMiddleware, RequestIdMiddleware, request_id_of

LIMIT = 1000


def small_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_gateway_error_handler(app)

    @app.post("/echo")
    async def echo(request: Request) -> JSONResponse:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return JSONResponse({"size": size, "request_id": request_id_of(request.scope)})

    @app.post("/json")
    async def parsed(body: dict[str, str]) -> dict[str, int]:
        return {"keys": len(body)}

    app.add_middleware(BodyLimitMiddleware, max_bytes=LIMIT)
    app.add_middleware(RequestIdMiddleware)
    return app


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=small_app()), base_url="http://gw")


async def chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b"x" * part


async def test_a_body_at_the_limit_passes_whole() -> None:
    async with client() as http:
        response = await http.post("/echo", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json()["size"] == LIMIT


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async with client() as http:
        response = await http.post("/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


async def test_a_streamed_body_is_cut_off_when_it_passes_the_limit() -> None:
    async with client() as http:
        ok = await http.post("/echo", content=chunks(LIMIT))
        refused = await http.post("/echo", content=chunks(LIMIT + 1))
    assert ok.json()["size"] == LIMIT
    assert refused.status_code == 413
    assert refused.json()["error"] == "body_too_large"


async def test_a_streamed_body_over_the_limit_is_413_even_where_the_framework_parses_it() -> None:
    async with client() as http:
        refused = await http.post("/json", content=chunks(LIMIT * 3), headers={"content-type": "application/json"})
    assert refused.status_code == 413


async def test_the_callers_request_id_is_kept_and_returned() -> None:
    async with client() as http:
        response = await http.post("/echo", content=b"", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["request_id"] == "abc-123"


async def test_a_missing_or_unreasonable_request_id_is_replaced() -> None:
    async with client() as http:
        made = await http.post("/echo", content=b"")
        long = await http.post("/echo", content=b"", headers={"X-Request-Id": "a" * 200})
    assert len(made.headers["x-request-id"]) == 32
    assert made.json()["request_id"] == made.headers["x-request-id"]
    assert long.headers["x-request-id"] != "a" * 200


async def test_error_answers_carry_the_request_id_too() -> None:
    async with client() as http:
        response = await http.post("/echo", content=b"x" * (LIMIT + 1), headers={"X-Request-Id": "big-1"})
    assert response.status_code == 413
    assert response.headers["x-request-id"] == "big-1"
