from __future__ import annotations

from typing import Any

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()


def snap(
    resource_type: str,
    configuration: dict[str, Any],
    *,
    name: str = "r1",
    region: str = "us-east-1",
    tags: dict[str, str] | None = None,
    arn: str | None = None,
) -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=arn or f"arn:aws:test:{region}:123456789012:{name}",
        name=name,
        account_id="123456789012",
        region=region,
        tags=tags or {},
        configuration=configuration,
    )


def run(check_id: str, snapshot: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)
