"""KMS checks on customer managed keys (``AWS::KMS::Key``): automatic rotation, key policies that do
not open the key to everyone, and keys scheduled for deletion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, need
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

KEY = "AWS::KMS::Key"
PENDING_STATES = ("PendingDeletion", "PendingReplicaDeletion")


@check(
    id="kms_key_rotation_enabled",
    title="Customer managed KMS keys rotate automatically",
    description=(
        "Every enabled or disabled customer managed symmetric encryption key whose key material KMS generated "
        "has automatic rotation turned on, limiting how much data any one version of the key material protects."
    ),
    severity=Severity.MEDIUM,
    resource_type=KEY,
    service="kms",
    remediation=(
        "Turn on automatic rotation for the key (yearly by default, or a shorter period).\n"
        "CLI: aws kms enable-key-rotation --key-id KEY_ID\n"
        'Terraform: resource "aws_kms_key" "k" { enable_key_rotation = true }'
    ),
    permissions=("kms:DescribeKey", "kms:GetKeyRotationStatus"),
)
def key_rotation_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    supported = flag(snap, "rotation_supported")
    if isinstance(supported, Verdict):
        return supported
    if (err := need(snap, "key_state", "rotation_enabled")) is not None:
        return err
    state = snap.configuration["key_state"]
    if not supported or state in PENDING_STATES or state == "PendingImport":
        return None  # asymmetric, HMAC, imported or external key material, or a key on its way out
    enabled = flag(snap, "rotation_enabled")
    if isinstance(enabled, Verdict):
        return enabled
    if enabled:
        return passed(f"KMS key {snap.name} rotates its key material automatically", rotation_enabled=True)
    return failed(f"KMS key {snap.name} ({state}) has automatic rotation turned off", rotation_enabled=False)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def everyone(principal: Any) -> bool:
    """True when a statement's principal is anyone: ``"*"`` or ``{"AWS": "*"}`` (alone or in a list)."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(value == "*" for value in as_list(principal.get("AWS")))
    return False


@check(
    id="kms_key_policy_no_public_principal",
    title="KMS key policies do not grant access to everyone",
    description=(
        "No statement of a customer managed key's policy allows the principal '*' without a condition that "
        "narrows who it is; such a statement lets any AWS identity use or manage the key, and so read the data "
        "it protects."
    ),
    severity=Severity.HIGH,
    resource_type=KEY,
    service="kms",
    remediation=(
        "Replace the '*' principal with the account or roles that need the key, or add a condition such as "
        "kms:CallerAccount or aws:PrincipalOrgID.\n"
        "CLI: aws kms put-key-policy --key-id KEY_ID --policy-name default --policy file://policy.json\n"
        'Terraform: resource "aws_kms_key" "k" { policy = data.aws_iam_policy_document.key.json }'
    ),
    permissions=("kms:GetKeyPolicy",),
)
def key_policy_no_public_principal(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "policy")) is not None:
        return err
    policy = snap.configuration["policy"]
    if not isinstance(policy, Mapping) or not isinstance(policy.get("Statement"), list | dict):
        return errored(f"The key policy of KMS key {snap.name} is not a readable policy document ({policy!r})")
    open_statements: list[str] = []
    for index, statement in enumerate(as_list(policy.get("Statement"))):
        if not isinstance(statement, Mapping):
            return errored(f"Statement {index} of the policy of KMS key {snap.name} is not an object")
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        if everyone(statement.get("Principal")):
            actions = ", ".join(str(a) for a in as_list(statement.get("Action"))) or "no action"
            open_statements.append(f"{statement.get('Sid') or f'statement {index}'} ({actions})")
    if open_statements:
        return failed(
            f"The policy of KMS key {snap.name} allows any principal without a condition in: "
            + "; ".join(open_statements),
            statements=open_statements,
        )
    return passed(f"The policy of KMS key {snap.name} grants nothing to '*' without a condition")


@check(
    id="kms_key_not_pending_deletion",
    title="Customer managed KMS keys are not scheduled for deletion",
    description=(
        "No customer managed key is pending deletion. Once deleted, every backup, snapshot and object "
        "encrypted under the key is unrecoverable, so a scheduled deletion deserves a second look before the "
        "waiting period ends."
    ),
    severity=Severity.LOW,
    resource_type=KEY,
    service="kms",
    remediation=(
        "If the key still protects data, cancel the deletion and re-enable it.\n"
        "CLI: aws kms cancel-key-deletion --key-id KEY_ID && aws kms enable-key --key-id KEY_ID\n"
        'Terraform: keep the key under management (resource "aws_kms_key" "k" { deletion_window_in_days = 30 }) '
        "and remove the destroy from the plan"
    ),
    permissions=("kms:DescribeKey",),
)
def key_not_pending_deletion(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := need(snap, "key_state")) is not None:
        return err
    state = snap.configuration["key_state"]
    if not isinstance(state, str) or not state:
        return errored(f"KMS did not report the state of key {snap.name} ({state!r})")
    if state in PENDING_STATES:
        when = snap.configuration.get("deletion_date")
        return failed(
            f"KMS key {snap.name} is scheduled for deletion" + (f" on {when}" if when else ""),
            key_state=state,
            deletion_date=when,
        )
    return passed(f"KMS key {snap.name} is not scheduled for deletion (state {state})", key_state=state)
