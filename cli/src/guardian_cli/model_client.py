"""Calls to the compliance service's model API: scopes and periods, controls, risk acceptances.

It wraps a ``GuardianClient`` (same key, same HTTP connection pool) rather than extending it, so the
scan-facing client stays small.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from guardian_cli.client import GuardianClient

IMPORT_MEDIA = {"csv": "text/csv; charset=utf-8", "yaml": "application/yaml; charset=utf-8"}


def _seg(value: str) -> str:
    """A path segment, escaped so an id can never reach another route."""
    return quote(value, safe="")


class ModelClient:
    def __init__(self, client: GuardianClient) -> None:
        self.client = client

    def _url(self, path: str) -> str:
        return f"{self.client.endpoints.compliance}/api/v1/{path}"

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, self._url(path), **kwargs)
        return response.json()

    # Scopes and audit periods -----------------------------------------------------------------

    async def scopes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._json("GET", "scopes")
        return result

    async def scope(self, scope_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"scopes/{_seg(scope_id)}")
        return result

    async def update_scope(self, scope_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("PATCH", f"scopes/{_seg(scope_id)}", json=changes)
        return result

    async def add_period(self, scope_id: str, name: str, start: str, end: str, kind: str) -> dict[str, Any]:
        body = {"name": name, "start_date": start, "end_date": end, "type": kind}
        result: dict[str, Any] = await self._json("POST", f"scopes/{_seg(scope_id)}/periods", json=body)
        return result

    async def lock_period(self, scope_id: str, period_id: str) -> dict[str, Any]:
        path = f"scopes/{_seg(scope_id)}/periods/{_seg(period_id)}/lock"
        result: dict[str, Any] = await self._json("POST", path)
        return result

    # Controls ---------------------------------------------------------------------------------

    async def controls(self, include_retired: bool) -> dict[str, Any]:
        params = {"include_retired": "true" if include_retired else "false"}
        result: dict[str, Any] = await self._json("GET", "controls", params=params)
        return result

    async def control(self, control_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"controls/{_seg(control_id)}")
        return result

    async def export_controls(self, fmt: str) -> str:
        response = await self.client.request("GET", self._url("controls/export"), params={"format": fmt})
        return response.text

    async def import_controls(self, fmt: str, text: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json(
            "POST",
            "controls/import",
            params={"format": fmt},
            content=text.encode("utf-8"),
            headers={"Content-Type": IMPORT_MEDIA[fmt]},
        )
        return result

    async def retire_control(self, control_id: str, note: str | None) -> dict[str, Any]:
        path = f"controls/{_seg(control_id)}/retire"
        result: dict[str, Any] = await self._json("POST", path, json={"note": note} if note else None)
        return result

    # Risk acceptances ("exceptions") --------------------------------------------------------

    async def acceptances(self, status: str | None) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", "acceptances", params={"status": status} if status else None)
        return result

    async def acceptance(self, acceptance_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"acceptances/{_seg(acceptance_id)}")
        return result

    async def request_acceptance(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("POST", "acceptances", json=body)
        return result

    async def decide(self, acceptance_id: str, approve: bool, note: str | None) -> dict[str, Any]:
        path = f"acceptances/{_seg(acceptance_id)}/{'approve' if approve else 'reject'}"
        result: dict[str, Any] = await self._json("POST", path, json={"note": note} if note else None)
        return result

    async def revoke(self, acceptance_id: str, reason: str) -> dict[str, Any]:
        path = f"acceptances/{_seg(acceptance_id)}/revoke"
        result: dict[str, Any] = await self._json("POST", path, json={"reason": reason})
        return result
