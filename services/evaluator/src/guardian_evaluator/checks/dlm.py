"""Data Lifecycle Manager: every region holding EBS volumes has an enabled snapshot policy.

Reads the region's ``AWS::::Account`` context snapshot, where the ``dlm`` collector puts
``dlm_lifecycle_policies`` (one summary per policy: ``policy_id``, ``state``, ``policy_type``,
``default_policy``) and ``dlm_region_has_volumes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import ACCOUNT, flag, guarded, mappings, needs
from guardian_evaluator.registry import Snapshot, Verdict, check, failed, passed

POLICIES = "dlm_lifecycle_policies"
VOLUMES = "dlm_region_has_volumes"


@check(
    id="dlm_snapshot_policy_present",
    title="EBS snapshots are scheduled by a lifecycle policy",
    description=(
        "Each region that holds EBS volumes has at least one enabled Data Lifecycle Manager policy that "
        "snapshots volumes (policy types listed in the policy_types parameter), so disks are backed up on "
        "a schedule rather than by hand. Regions without volumes are not judged. Volumes protected only "
        "by AWS Backup plans are not seen by this check."
    ),
    severity=Severity.LOW,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create a lifecycle policy (or enable the default EBS snapshot policy) targeting your volumes by "
        "tag, with a schedule and retention that meet your recovery point objective.\n"
        "CLI: aws dlm create-lifecycle-policy --description daily-ebs --state ENABLED "
        "--execution-role-arn arn:aws:iam::ACCOUNT:role/AWSDataLifecycleManagerDefaultRole "
        "--policy-details file://policy.json\n"
        'Terraform: resource aws_dlm_lifecycle_policy { state = "ENABLED" policy_details { '
        'resource_types = ["VOLUME"] target_tags = { backup = "daily" } schedule { ... } } }'
    ),
    permissions=("dlm:GetLifecyclePolicies", "ec2:DescribeVolumes"),
    parameters={"policy_types": ["EBS_SNAPSHOT_MANAGEMENT", "IMAGE_MANAGEMENT"]},
)
@guarded
def dlm_snapshot_policy_present(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if snap.configuration.get("scope") != "region":
        return None
    if (err := needs(snap, POLICIES)) is not None:
        return err
    policies = mappings(snap, POLICIES)
    kinds = {str(k) for k in params.get("policy_types", [])}
    relevant = [p for p in policies if str(p.get("policy_type")) in kinds]
    enabled = [p for p in relevant if p.get("state") == "ENABLED"]
    if enabled:
        names = ", ".join(str(p.get("policy_id")) for p in enabled)
        return passed(
            f"{snap.region} has {len(enabled)} enabled snapshot lifecycle policy(ies): {names}",
            policies=[p.get("policy_id") for p in enabled],
        )
    if (err := needs(snap, VOLUMES)) is not None:
        return err
    if not flag(snap, VOLUMES, "Whether the region has volumes"):
        return None
    if relevant:
        states = ", ".join(f"{p.get('policy_id')} is {p.get('state')}" for p in relevant)
        return failed(
            f"{snap.region} has EBS volumes but no enabled snapshot lifecycle policy ({states})",
            policies=[p.get("policy_id") for p in relevant],
        )
    return failed(f"{snap.region} has EBS volumes but no Data Lifecycle Manager snapshot policy", policies=[])
