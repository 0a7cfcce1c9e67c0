"""Helpers shared by the monitoring, messaging, container and security-service checks.

Not a check module itself (its name starts with an underscore, so discovery skips it).

* :func:`needs` returns the ERROR verdict for a field that could not be read or is missing from the
  configuration altogether: every check calls it before reading a field.
* :func:`public_statements` decides whether a resource policy (SNS, SQS, Lambda, ECR) grants access
  to anyone. A statement is public when it allows a wildcard principal (``"*"`` or ``{"AWS": "*"}``,
  or any principal through ``NotPrincipal``) and no condition pins the caller or the source to
  known values. The pinning condition keys are the ones AWS itself treats as making a policy
  non-public (the account, organisation, ARN, VPC or endpoint of the caller or of the source), plus
  a source IP range narrower than the whole internet. ``...IfExists`` operators and negated
  operators do not pin anything: a request without the key, or with any other value, still passes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from guardian_evaluator.registry import Snapshot, Verdict, errored, unreadable

ACCOUNT = "AWS::::Account"

# Condition keys whose fixed values restrict who (or what) can use a wildcard principal.
PINNING_KEYS = frozenset(
    {
        "aws:sourceaccount",
        "aws:sourceowner",
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:userid",
        "aws:username",
        "kms:calleraccount",
    }
)
IP_KEYS = frozenset({"aws:sourceip"})
POSITIVE_OPERATORS = frozenset(
    {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress"}
)


def needs(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR when a field the check reads was unreadable, or is absent from the configuration."""
    if (err := unreadable(snap, *fields)) is not None:
        return err
    absent = [f for f in fields if f not in snap.configuration]
    if absent:
        return errored(
            f"The collected configuration of {snap.name} has no {', '.join(absent)} data, so it cannot be evaluated",
            missing=absent,
        )
    return None


def context_scope(snap: Snapshot) -> str | None:
    """``"account"`` for the global account snapshot, ``"region"`` for a regional one."""
    scope = snap.configuration.get("scope")
    return str(scope) if scope in ("account", "region") else None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string (or datetime) as an aware datetime; ``None`` when it is not one."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


# --- resource policies -------------------------------------------------------------------


def _wildcard_principal(statement: Mapping[str, Any]) -> bool:
    if "NotPrincipal" in statement:
        # Allow with NotPrincipal grants everybody except the named principals.
        return True
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        for kind, values in principal.items():
            if str(kind).lower() in ("aws", "canonicaluser") and "*" in [str(v) for v in as_list(values)]:
                return True
    return False


def _pins(operator: str, key: str, values: Any) -> bool:
    op = operator.lower()
    for prefix in ("foranyvalue:", "forallvalues:"):
        if op.startswith(prefix):
            op = op[len(prefix) :]
    if op.endswith("ifexists") or op not in POSITIVE_OPERATORS:
        return False
    texts = [str(v).strip() for v in as_list(values)]
    if not texts or any(t in ("", "*") for t in texts):
        return False
    name = key.lower()
    if name in IP_KEYS:
        if op != "ipaddress":
            return False
        for text in texts:
            try:
                if ipaddress.ip_network(text, strict=False).prefixlen == 0:
                    return False
            except ValueError:
                return False
        return True
    return name in PINNING_KEYS


def _restricted(statement: Mapping[str, Any]) -> bool:
    conditions = statement.get("Condition")
    if not isinstance(conditions, Mapping):
        return False
    for operator, block in conditions.items():
        if not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            if _pins(str(operator), str(key), values):
                return True
    return False


def public_statements(document: Mapping[str, Any]) -> list[str]:
    """A description of each statement that allows access to anyone; empty when there is none."""
    found: list[str] = []
    for index, statement in enumerate(as_list(document.get("Statement"))):
        if not isinstance(statement, Mapping) or str(statement.get("Effect", "")).lower() != "allow":
            continue
        if not _wildcard_principal(statement) or _restricted(statement):
            continue
        sid = statement.get("Sid") or f"#{index + 1}"
        actions = ", ".join(str(a) for a in as_list(statement.get("Action"))) or "NotAction " + ", ".join(
            str(a) for a in as_list(statement.get("NotAction"))
        )
        found.append(f"statement {sid} allows {actions} to any principal without a restricting condition")
    return found


def policy_verdict_data(snap: Snapshot, field: str = "policy") -> Mapping[str, Any] | Verdict | None:
    """The resource policy document, ``None`` when the resource has none, or an ERROR verdict."""
    if (err := needs(snap, field)) is not None:
        return err
    document = snap.configuration[field]
    if document is None:
        return None
    if not isinstance(document, Mapping):
        return errored(f"The policy of {snap.name} is not a JSON object ({type(document).__name__})")
    return document
