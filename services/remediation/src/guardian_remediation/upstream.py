"""Compliance and the collector, called on behalf of the user who asked.

Each request carries ``X-Guardian-Principal``: the user's principal signed with the deployment's
internal secret, as the gateway does, so compliance and the collector apply that user's role. Without
an internal secret (a development stack reached directly) the user's own API key is forwarded.
"""

from __future__ import annotations

from typing import Any

import httpx

from guardian_common.auth import PRINCIPAL_HEADER, Principal, sign_principal
from guardian_common.errors import GuardianError
from guardian_remediation.settings import RemediationSettings

PAGE = 5000
GET_ATTEMPTS = 3


class UpstreamError(GuardianError):
    code = "upstream_unavailable"
    status = 502


class Upstream:
    def __init__(self, settings: RemediationSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        # Idle connections are dropped before the services' own keep-alive ends (uvicorn: 5 s), so a
        # request never goes out on a connection the other side is closing.
        self.http = http or httpx.AsyncClient(
            timeout=settings.upstream_timeout_seconds, limits=httpx.Limits(keepalive_expiry=2.0)
        )

    async def close(self) -> None:
        await self.http.aclose()

    def headers(self, principal: Principal, authorization: str | None) -> dict[str, str]:
        if self.settings.internal_secret:
            return {PRINCIPAL_HEADER: sign_principal(self.settings.internal_secret, principal)}
        if authorization:
            return {"Authorization": authorization}
        raise UpstreamError(
            "This service has neither an internal secret nor the caller's key to reach compliance.",
            code="no_upstream_credential",
        )

    async def _call(
        self,
        method: str,
        url: str,
        principal: Principal,
        authorization: str | None,
        *,
        params: Any = None,
        json: Any = None,
    ) -> Any:
        attempts = GET_ATTEMPTS if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self.http.request(
                    method, url, params=params, json=json, headers=self.headers(principal, authorization)
                )
                break
            except httpx.TransportError as exc:
                # A read changes nothing, so it is tried again; a write is not.
                if attempt == attempts:
                    raise UpstreamError(f"Could not reach {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                code, detail = str(body.get("error", "upstream_error")), str(body.get("detail", response.text))
            except ValueError:
                code, detail = "upstream_error", response.text[:300]
            status = response.status_code if 400 <= response.status_code < 500 else 502
            raise GuardianError(f"{url} answered {response.status_code}: {detail}", code=code, status=status)
        return response.json()

    async def findings(
        self,
        principal: Principal,
        authorization: str | None,
        check_ids: list[str],
        *,
        status: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
        resource_type: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every current finding of ``check_ids`` (one status, account or region if given), all pages."""
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            params: list[tuple[str, str | int]] = [("check_id", c) for c in check_ids]
            params += [("limit", PAGE), ("offset", offset)]
            if status:
                params.append(("status", status))
            if account_id:
                params.append(("account_id", account_id))
            if region:
                params.append(("region", region))
            if resource_type:
                params.append(("resource_type", resource_type))
            page = await self._call(
                "GET", f"{self.settings.compliance_url}/api/v1/findings", principal, authorization, params=params
            )
            items = list(page.get("items", []))
            found.extend(items)
            offset += len(items)
            if not items or offset >= int(page.get("total", 0)):
                return found

    async def start_scan(
        self, principal: Principal, authorization: str | None, arns: list[str], services: list[str]
    ) -> dict[str, Any]:
        body = {"resource_arns": arns, "services": services}
        answer: dict[str, Any] = await self._call(
            "POST", f"{self.settings.collector_url}/api/v1/scans", principal, authorization, json=body
        )
        return answer

    async def evaluation(self, principal: Principal, authorization: str | None, scan_id: str) -> dict[str, Any]:
        """Compliance's view of a scan: whether it is finalised, and whether completely."""
        answer: dict[str, Any] = await self._call(
            "GET", f"{self.settings.compliance_url}/api/v1/scans/{scan_id}", principal, authorization
        )
        return answer

    async def scan(self, principal: Principal, authorization: str | None, scan_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._call(
            "GET", f"{self.settings.collector_url}/api/v1/scans/{scan_id}", principal, authorization
        )
        return answer
