"""Judging EventBridge finding routes (shared by the GuardDuty and Security Hub checks).

A route is a rule of the default event bus whose pattern matches the service's findings
(``{"name", "arn", "state", "pattern", "targets"}``, built by the collectors). Findings are routed
when at least one such rule is ENABLED and has a target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_evaluator.registry import Snapshot, Verdict, errored, failed, passed


def judge_routes(
    snap: Snapshot,
    label: str,
    routes: Any,
    administrator: Mapping[str, Any] | None,
    accept_administrator: bool,
) -> Verdict:
    if not isinstance(routes, list):
        return errored(f"The {label} finding routes of {snap.region} are not a list ({routes!r})")
    gaps = []
    for route in routes:
        if not isinstance(route, Mapping):
            continue
        name = route.get("name")
        targets = [str(t) for t in route.get("targets") or []]
        if str(route.get("state") or "").upper() != "ENABLED":
            gaps.append(f"rule {name} is {route.get('state') or 'not enabled'}")
        elif not targets:
            gaps.append(f"rule {name} has no target")
        else:
            return passed(
                f"{label} findings in {snap.region} are routed by EventBridge rule {name} to {', '.join(targets)}",
                rule=name,
                targets=targets,
            )
    if administrator is not None and accept_administrator:
        return passed(
            f"{label} findings in {snap.region} go to administrator account {administrator.get('account_id')}; "
            "their routing there is checked in that account",
            administrator=administrator.get("account_id"),
        )
    detail = "; ".join(gaps) if gaps else "no EventBridge rule of the default bus matches them"
    note = (
        f" (the account is a member of administrator {administrator.get('account_id')}, whose routing is not "
        "visible here)"
        if administrator is not None
        else ""
    )
    return failed(f"{label} findings in {snap.region} reach nobody: {detail}{note}", gaps=gaps)


def active_administrator(value: Any) -> dict[str, Any] | None:
    """The administrator relationship when it is in force (Enabled / Associated), else ``None``."""
    if not isinstance(value, Mapping) or not value.get("account_id"):
        return None
    if str(value.get("relationship_status") or "").lower() not in ("enabled", "associated"):
        return None
    return dict(value)
