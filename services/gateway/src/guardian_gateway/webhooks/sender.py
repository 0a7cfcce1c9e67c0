"""One HTTP attempt of one delivery: checked target, signed body, no redirects, a short deadline."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from guardian_gateway.webhooks.config import WebhookConfig
from guardian_gateway.webhooks.guard import Resolver, TargetRefused, check_target, system_resolver
from guardian_gateway.webhooks.signing import signed_headers

USER_AGENT = "Guardian-Webhooks/1"
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class AttemptResult:
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None = None
    refused: bool = False


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR_CHARS] if text else type(exc).__name__


class Sender:
    """Sends attempts over one HTTP client that never follows redirects and ignores proxy variables."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.resolver = resolver
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(config.timeout_seconds),
            trust_env=False,
            transport=transport,
            headers={"user-agent": USER_AGENT},
            # No connection reuse: connections are keyed by address, and two subscriptions whose names
            # resolve to one address must not share a TLS connection verified for only one of them.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, url: str, secret: str, message_id: str, body: str, at: datetime) -> AttemptResult:
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            target = await check_target(url, self.config, self.resolver)
        except TargetRefused as exc:
            return AttemptResult(False, None, f"target refused: {exc.detail}", elapsed(), refused=True)
        except Exception as exc:  # an invalid URL stored before a rule tightened
            return AttemptResult(False, None, f"target refused: {_describe(exc)}", elapsed(), refused=True)
        headers = {
            **signed_headers(secret, message_id, at, body),
            "content-type": "application/json",
            # The request goes to the address that was checked; the name stays in Host (and SNI).
            "host": urlsplit(url).netloc,
        }
        pinned = httpx.URL(url).copy_with(host=str(target.address))
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            status, excerpt = await asyncio.wait_for(
                self._post(pinned, headers, body, extensions), timeout=self.config.timeout_seconds
            )
        except (TimeoutError, httpx.TimeoutException):
            return AttemptResult(False, None, f"no answer within {self.config.timeout_seconds:g} s", elapsed())
        except Exception as exc:  # connection refused, reset, TLS: whatever goes wrong is this attempt's failure
            return AttemptResult(False, None, _describe(exc), elapsed())
        ok = 200 <= status < 300
        error = None
        if not ok:
            note = " (redirects are not followed)" if 300 <= status < 400 else ""
            error = f"the receiver answered HTTP {status}{note}"
        return AttemptResult(ok, status, error, elapsed(), excerpt)

    async def _post(
        self, url: httpx.URL, headers: dict[str, str], body: str, extensions: dict[str, str]
    ) -> tuple[int, str]:
        request = self.client.build_request("POST", url, headers=headers, content=body.encode(), extensions=extensions)
        response = await self.client.send(request, stream=True)
        try:
            kept = bytearray()
            async for chunk in response.aiter_bytes():
                kept.extend(chunk)
                if len(kept) >= self.config.excerpt_bytes:
                    break
        finally:
            await response.aclose()
        return response.status_code, bytes(kept[: self.config.excerpt_bytes]).decode("utf-8", "replace")
