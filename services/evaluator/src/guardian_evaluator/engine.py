"""Run every applicable check against one snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from guardian_common.events import CheckResult, ResourceSnapshot, Status
from guardian_evaluator.registry import REGISTRY, Check, Registry, Snapshot


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


ACCOUNT_TYPE = "AWS::::Account"
# Set by the collector on account context snapshots: the services this scan collected.
COLLECTED_SERVICES = "_collected_services"


@cache
def feeding_services(permissions: tuple[str, ...]) -> frozenset[str]:
    """The collectors whose declared API calls supply the data a check reads."""
    from guardian_collector.collectors import all_collectors
    from guardian_collector.collectors.base import COLLECTORS

    all_collectors()
    wanted = set(permissions)
    # The collector declaring every call the check needs is its source; several collectors may
    # share a call (DescribeVolumes, say), so mere overlap is only the fallback.
    whole = frozenset(name for name, c in COLLECTORS.items() if wanted <= set(c.permissions))
    return whole or frozenset(name for name, c in COLLECTORS.items() if wanted & set(c.permissions))


def fed_by_this_scan(chk: Check, snap: Snapshot) -> bool:
    """An account-context check whose services this scan did not collect has nothing to judge.

    A scan of S3 alone must not turn the root-MFA finding into ERROR (or PASS): the check is
    simply not run, and the finding keeps what the last scan of IAM established.
    """
    if snap.resource_type != ACCOUNT_TYPE:
        return True
    collected = snap.configuration.get(COLLECTED_SERVICES)
    if not isinstance(collected, list):
        return True
    feeding = feeding_services(chk.permissions)
    return not feeding or not feeding.isdisjoint(collected)


def evaluate(
    snapshot: ResourceSnapshot,
    *,
    registry: Registry = REGISTRY,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[CheckResult]:
    snap = view(snapshot)
    results: list[CheckResult] = []
    for chk in registry.for_type(snapshot.resource_type):
        if not fed_by_this_scan(chk, snap):
            continue
        override = overrides.get(chk.id) if overrides else None
        params = {**chk.parameters, **override} if override else chk.parameters
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
