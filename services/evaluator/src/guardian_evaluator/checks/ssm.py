"""Systems Manager checks on each region's account context.

``ssm_instances``: ``{"running": [{"id", "name"}], "managed": {instance id: ping status},
"patch": {instance id: {"status", "non_compliant", "severity"}}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import ACCOUNT, context_scope, needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed


def _instances(snap: Snapshot) -> Mapping[str, Any] | Verdict:
    if (err := needs(snap, "ssm_instances")) is not None:
        return err
    data = snap.configuration["ssm_instances"]
    if (
        not isinstance(data, Mapping)
        or not isinstance(data.get("running"), list)
        or not isinstance(data.get("managed"), Mapping)
        or not isinstance(data.get("patch"), Mapping)
    ):
        return errored(f"The Systems Manager data of {snap.region} is not usable")
    return data


def _label(instance: Mapping[str, Any]) -> str:
    name = instance.get("name")
    return f"{instance.get('id')} ({name})" if name else str(instance.get("id"))


@check(
    id="ssm_instances_managed",
    title="Running EC2 instances are managed by Systems Manager",
    description=(
        "Every running EC2 instance in the region is registered with Systems Manager and its agent is online, "
        "so it can be inventoried, patched and reached without opening SSH or RDP."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Give instances a profile with AmazonSSMManagedInstanceCore and run the SSM agent (or enable Default "
        "Host Management).\n"
        "CLI: aws ec2 associate-iam-instance-profile --instance-id INSTANCE_ID --iam-instance-profile Name=SSMProfile\n"
        'Terraform: resource "aws_iam_role_policy_attachment" "ssm" { role = aws_iam_role.ec2.name, policy_arn = '
        '"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }'
    ),
    permissions=("ec2:DescribeInstances", "ssm:DescribeInstanceInformation"),
)
def ssm_instances_managed(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    data = _instances(snap)
    if isinstance(data, Verdict):
        return data
    running = [i for i in data["running"] if isinstance(i, Mapping)]
    if not running:
        return None  # no running instance in the region
    managed = data["managed"]
    problems = []
    for instance in running:
        status = managed.get(str(instance.get("id")))
        if status is None:
            problems.append(f"{_label(instance)} is not managed")
        elif status != "Online":
            problems.append(f"{_label(instance)} has agent status {status}")
    if problems:
        return failed(
            f"{len(problems)} of {len(running)} running instance(s) in {snap.region} are not managed by Systems "
            "Manager: " + "; ".join(problems),
            problems=problems,
        )
    return passed(f"All {len(running)} running instance(s) in {snap.region} are managed by Systems Manager")


@check(
    id="ssm_patch_compliance",
    title="Managed instances are compliant with their patch baseline",
    description=(
        "Every running instance that Systems Manager manages reports COMPLIANT for the Patch compliance type, "
        "so approved security patches are installed. A managed instance with no patch compliance data has never "
        "been scanned and fails."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Scan and install patches with Patch Manager on a schedule.\n"
        "CLI: aws ssm send-command --document-name AWS-RunPatchBaseline --targets Key=InstanceIds,Values=INSTANCE_ID "
        "--parameters Operation=Install\n"
        'Terraform: resource "aws_ssm_association" "patch" { name = "AWS-RunPatchBaseline", schedule_expression = '
        '"rate(7 days)", parameters = { Operation = "Install" }, targets { key = "InstanceIds", values = ["*"] } }'
    ),
    permissions=("ec2:DescribeInstances", "ssm:DescribeInstanceInformation", "ssm:ListResourceComplianceSummaries"),
)
def ssm_patch_compliance(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    data = _instances(snap)
    if isinstance(data, Verdict):
        return data
    managed = data["managed"]
    instances = [i for i in data["running"] if isinstance(i, Mapping) and str(i.get("id")) in managed]
    if not instances:
        return None  # no managed running instance; ssm_instances_managed reports the others
    problems = []
    for instance in instances:
        summary = data["patch"].get(str(instance.get("id")))
        if not isinstance(summary, Mapping):
            problems.append(f"{_label(instance)} has no patch compliance data (never scanned)")
        elif summary.get("status") != "COMPLIANT":
            problems.append(
                f"{_label(instance)} is {summary.get('status')} ({summary.get('non_compliant')} missing patch(es), "
                f"severity {summary.get('severity')})"
            )
    if problems:
        return failed(
            f"{len(problems)} managed instance(s) in {snap.region} are not patch compliant: " + "; ".join(problems),
            problems=problems,
        )
    return passed(f"All {len(instances)} managed instance(s) in {snap.region} are patch compliant")
