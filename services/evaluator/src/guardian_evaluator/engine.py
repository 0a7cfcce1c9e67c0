"""Run every applicable check against one snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import CheckResult, ResourceSnapshot, Status
from guardian_evaluator.registry import REGISTRY, Registry, Snapshot


def view(snapshot: ResourceSnapshot) -> Snapshot:
    return Snapshot(
        resource_type=snapshot.resource_type,
        arn=snapshot.arn,
        name=snapshot.name,
        account_id=snapshot.account_id,
        region=snapshot.region,
        tags=snapshot.tags,
        configuration=snapshot.configuration,
    )


def evaluate(
    snapshot: ResourceSnapshot,
    *,
    registry: Registry = REGISTRY,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[CheckResult]:
    snap = view(snapshot)
    results: list[CheckResult] = []
    for chk in registry.for_type(snapshot.resource_type):
        params = {**chk.parameters, **((overrides or {}).get(chk.id, {}))}
        try:
            verdict = chk.fn(snap, params)
        except Exception as exc:
            # A check that crashes on odd data has not shown the resource is compliant.
            results.append(
                CheckResult(
                    check_id=chk.id,
                    check_version=chk.version,
                    status=Status.ERROR,
                    severity=chk.severity,
                    reason=f"The check could not evaluate this resource: {type(exc).__name__}: {exc}",
                )
            )
            continue
        if verdict is None:
            continue
        results.append(
            CheckResult(
                check_id=chk.id,
                check_version=chk.version,
                status=verdict.status,
                severity=chk.severity,
                reason=verdict.reason,
                evidence=dict(verdict.evidence),
            )
        )
    return results
