"""Start a scan, follow it to its final state, and summarise the result."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from guardian_cli.client import GuardianClient

FINAL_STATES = {"final", "incomplete"}
COLLECTION_ENDED = {"completed", "failed", "abandoned"}


@dataclass
class ScanOutcome:
    scan_id: str
    collection: dict[str, Any]
    evaluation: dict[str, Any] | None
    readiness: dict[str, Any] | None = None
    failing_controls: list[dict[str, Any]] = field(default_factory=list)
    control_details: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def collection_failed(self) -> bool:
        return self.collection.get("state") in {"failed", "abandoned"}

    @property
    def final(self) -> bool:
        return self.evaluation is not None and self.evaluation.get("state") in FINAL_STATES

    @property
    def partial(self) -> bool:
        if self.evaluation is None:
            return True
        return bool(self.evaluation.get("partial")) or self.evaluation.get("state") != "final"

    @property
    def unread_units(self) -> list[dict[str, Any]]:
        units = (self.evaluation or {}).get("units") or self.collection.get("units") or []
        return [u for u in units if u.get("status") in {"failed", "partial"}]

    def exit_code(self) -> int:
        """0 final and complete; 1 final but partial; 3 could not run."""
        if self.collection_failed or not self.final:
            return 3
        return 1 if self.partial else 0


Progress = Callable[[dict[str, Any], dict[str, Any] | None], Awaitable[None] | None]


async def run_scan(
    client: GuardianClient,
    *,
    regions: list[str] | None,
    services: list[str] | None,
    framework: str = "soc2",
    on_progress: Progress | None = None,
    poll_seconds: float = 0.3,
    timeout_seconds: float = 3600.0,
    detail_limit: int = 50,
    detail_concurrency: int = 4,
) -> ScanOutcome:
    started = await client.start_scan(regions, services)
    scan_id: str = started["scan_id"]
    deadline = time.monotonic() + timeout_seconds
    collection = started
    evaluation: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        collection = await client.collection(scan_id)
        evaluation = await client.evaluation(scan_id)
        if on_progress is not None:
            maybe = on_progress(collection, evaluation)
            if maybe is not None:
                await maybe
        if evaluation is not None and evaluation.get("state") in FINAL_STATES:
            break
        if collection.get("state") in {"failed", "abandoned"}:
            break
        await asyncio.sleep(poll_seconds)
    outcome = ScanOutcome(scan_id=scan_id, collection=collection, evaluation=evaluation)
    if outcome.final:
        # One posture computation gives the readiness and the control list together (two calls could
        # straddle a write and disagree); the failing controls' details are fetched a few at a time,
        # so compliance works on one while the CLI reads another.
        posture = await client.posture(framework)
        outcome.readiness = {k: posture[k] for k in ("framework", "result", "readiness")}
        outcome.failing_controls = [c for c in posture["controls"] if c["status"] in {"FAIL", "ERROR"}]
        gate = asyncio.Semaphore(detail_concurrency)

        async def detail(control_id: str) -> tuple[str, dict[str, Any]]:
            async with gate:
                return control_id, await client.control(framework, control_id)

        wanted = [c["id"] for c in outcome.failing_controls[:detail_limit]]
        outcome.control_details = dict(await asyncio.gather(*(detail(c) for c in wanted)))
    return outcome
