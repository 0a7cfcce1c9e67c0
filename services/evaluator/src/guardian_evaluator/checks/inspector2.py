"""Amazon Inspector checks on each region's account context.

``inspector2``: ``{"status", "resource_state": {"ec2": "ENABLED", "ecr": ..., "lambda": ...}}``;
``inspector2_critical_findings``: ``{"findings": [{"arn", "title", "first_observed", "resources"}],
"truncated"}`` (ACTIVE, CRITICAL, oldest first).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import ACCOUNT, context_scope, needs, now, parse_time
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed


def _state(snap: Snapshot) -> Mapping[str, Any] | Verdict:
    if (err := needs(snap, "inspector2")) is not None:
        return err
    data = snap.configuration["inspector2"]
    state = data.get("resource_state") if isinstance(data, Mapping) else None
    if not isinstance(state, Mapping):
        return errored(f"The Inspector status of {snap.region} is not usable ({data!r})")
    return state


@check(
    id="inspector_enabled",
    title="Amazon Inspector scans EC2 instances and ECR images in each region",
    description=(
        "Inspector's scanning is ENABLED in every scanned region for each required resource type (EC2 and ECR "
        "by default), so known software vulnerabilities in instances and container images are found as they "
        "are published."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Enable Inspector for EC2 and ECR in each region.\n"
        "CLI: aws inspector2 enable --resource-types EC2 ECR --region REGION\n"
        'Terraform: resource "aws_inspector2_enabler" "main" { '
        'account_ids = [data.aws_caller_identity.current.account_id], resource_types = ["EC2", "ECR"] }'
    ),
    permissions=("inspector2:BatchGetAccountStatus",),
    parameters={"resource_types": ["ec2", "ecr"]},
)
def inspector_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    state = _state(snap)
    if isinstance(state, Verdict):
        return state
    required = [str(t).lower() for t in params["resource_types"]]
    off = [f"{kind} ({state.get(kind) or 'not reported'})" for kind in required if state.get(kind) != "ENABLED"]
    if off:
        return failed(f"Inspector does not scan {', '.join(off)} in {snap.region}", disabled=off)
    return passed(f"Inspector scans {', '.join(required)} in {snap.region}")


@check(
    id="inspector_critical_findings_remediated",
    title="No critical Inspector finding stays open beyond the fix deadline",
    description=(
        "No ACTIVE Inspector finding of CRITICAL severity was first observed more than max_age_days (15 by "
        "default) ago: critical vulnerabilities are fixed, or the resource retired, within the deadline."
    ),
    severity=Severity.HIGH,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Patch or rebuild the affected instances and images (or suppress a finding that is accepted).\n"
        "CLI: aws inspector2 list-findings --filter-criteria "
        '\'{"severity":[{"comparison":"EQUALS","value":"CRITICAL"}],"findingStatus":[{"comparison":'
        '"EQUALS","value":"ACTIVE"}]}\' then aws ssm send-command --document-name AWS-RunPatchBaseline '
        "--targets Key=InstanceIds,Values=INSTANCE_ID --parameters Operation=Install\n"
        'Terraform: resource "aws_ssm_association" "patch" { name = "AWS-RunPatchBaseline", '
        'parameters = { Operation = "Install" }, targets { key = "tag:Patch", values = ["true"] } }'
    ),
    permissions=("inspector2:BatchGetAccountStatus", "inspector2:ListFindings"),
    parameters={"max_age_days": 15},
)
def inspector_critical_findings_remediated(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    state = _state(snap)
    if isinstance(state, Verdict):
        return state
    if not any(v == "ENABLED" for v in state.values()):
        return None  # nothing is scanned; inspector_enabled reports the region
    if (err := needs(snap, "inspector2_critical_findings")) is not None:
        return err
    data = snap.configuration["inspector2_critical_findings"]
    if not isinstance(data, Mapping) or not isinstance(data.get("findings"), list):
        return errored(f"The Inspector findings of {snap.region} are not usable")
    limit = int(params["max_age_days"])
    cutoff = now() - timedelta(days=limit)
    overdue = []
    for finding in data["findings"]:
        if not isinstance(finding, Mapping):
            continue
        seen = parse_time(finding.get("first_observed"))
        if seen is None:
            return errored(f"Inspector finding {finding.get('arn')} in {snap.region} has no first-observed date")
        if seen < cutoff:
            overdue.append(finding)
    total = len(data["findings"])
    if overdue:
        more = " (the list was truncated; there may be more)" if data.get("truncated") else ""
        shown = "; ".join(
            f"{f.get('title')} on {', '.join(f.get('resources') or []) or 'unknown resource'} since "
            f"{str(f.get('first_observed'))[:10]}"
            for f in overdue[:5]
        )
        return failed(
            f"{len(overdue)} critical Inspector finding(s) in {snap.region} are open for more than {limit} days"
            f"{more}: {shown}",
            overdue=[f.get("arn") for f in overdue],
        )
    return passed(
        f"No critical Inspector finding in {snap.region} is open for more than {limit} days ({total} critical open)",
        open_critical=total,
    )
