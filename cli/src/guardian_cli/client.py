"""A small REST client over the services' public APIs, used by the CLI (and handy in tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass
class Endpoints:
    collector: str
    compliance: str
    evaluator: str
    # Through the gateway every service shares one address; compliance's scan view moves aside.
    via_gateway: bool = False

    @classmethod
    def gateway(cls, url: str) -> Endpoints:
        base = url.rstrip("/")
        return cls(collector=base, compliance=base, evaluator=base, via_gateway=True)


class GuardianClient:
    def __init__(self, endpoints: Endpoints, api_key: str, timeout: float = 30.0) -> None:
        self.endpoints = endpoints
        self._http = httpx.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> GuardianClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, url, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ApiError(response.status_code, str(body.get("error")), str(body.get("detail")))
            except ValueError:
                raise ApiError(response.status_code, "http_error", response.text[:300]) from None
        return response.json()

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One call with this client's key, answering the raw response (for CSV or YAML bodies).

        A 4xx or 5xx answer raises ``ApiError`` with the service's error code and detail.
        """
        response = await self._http.request(method, url, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ApiError(response.status_code, str(body.get("error")), str(body.get("detail")))
            except ValueError:
                raise ApiError(response.status_code, "http_error", response.text[:300]) from None
        return response

    async def start_scan(self, regions: list[str] | None, services: list[str] | None) -> dict[str, Any]:
        body = {"regions": regions or None, "services": services or None}
        result: dict[str, Any] = await self._call("POST", f"{self.endpoints.collector}/api/v1/scans", json=body)
        return result

    async def collection(self, scan_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"{self.endpoints.collector}/api/v1/scans/{scan_id}")
        return result

    async def evaluation(self, scan_id: str) -> dict[str, Any] | None:
        try:
            suffix = "/evaluation" if self.endpoints.via_gateway else ""
            url = f"{self.endpoints.compliance}/api/v1/scans/{scan_id}{suffix}"
            result: dict[str, Any] = await self._call("GET", url)
        except ApiError as exc:
            if exc.status == 404:
                return None  # compliance has not heard of the scan yet
            raise
        return result

    async def posture(self, framework: str) -> dict[str, Any]:
        """Readiness, criteria and controls from one computation in compliance."""
        url = f"{self.endpoints.compliance}/api/v1/frameworks/{framework}/posture"
        result: dict[str, Any] = await self._call("GET", url)
        return result

    async def controls(self, framework: str, status: str | None = None) -> dict[str, Any]:
        url = f"{self.endpoints.compliance}/api/v1/frameworks/{framework}/controls"
        result: dict[str, Any] = await self._call("GET", url, params={"status": status} if status else None)
        return result

    async def control(self, framework: str, control_id: str) -> dict[str, Any]:
        url = f"{self.endpoints.compliance}/api/v1/frameworks/{framework}/controls/{control_id}"
        result: dict[str, Any] = await self._call("GET", url)
        return result

    async def export(self, framework: str) -> dict[str, Any]:
        url = f"{self.endpoints.compliance}/api/v1/frameworks/{framework}/export"
        result: dict[str, Any] = await self._call("GET", url)
        return result

    async def subscribe(self, framework: str) -> dict[str, Any]:
        url = f"{self.endpoints.compliance}/api/v1/frameworks/{framework}/subscription"
        result: dict[str, Any] = await self._call("PUT", url)
        return result
