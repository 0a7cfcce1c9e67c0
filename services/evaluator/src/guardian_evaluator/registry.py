"""The check registry: every check declares itself, once.

A check is a pure function of one snapshot (and its parameters): it never calls AWS or a
database. It returns a :class:`Verdict`, or ``None`` when the rule does not apply to this
resource (a default VPC security group rule on a non-default group, say). Which controls and
criteria a check serves is *not* declared here: that lives in compliance's framework and control
library files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guardian_common.events import CheckInfo, Severity, Status


@dataclass(frozen=True)
class Snapshot:
    """What a check sees of a resource."""

    resource_type: str
    arn: str
    name: str
    account_id: str
    region: str
    tags: Mapping[str, str]
    configuration: Mapping[str, Any]

    @property
    def unreadable(self) -> Mapping[str, str]:
        errors = self.configuration.get("_errors")
        return errors if isinstance(errors, Mapping) else {}


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def passed(reason: str, **evidence: Any) -> Verdict:
    return Verdict(Status.PASS, reason, evidence)


def failed(reason: str, **evidence: Any) -> Verdict:
    return Verdict(Status.FAIL, reason, evidence)


def errored(reason: str, **evidence: Any) -> Verdict:
    return Verdict(Status.ERROR, reason, evidence)


def unreadable(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR if any field the check needs could not be collected; ``None`` when all were read.

    Every check calls this first for the fields it reads: missing data must never become PASS.
    """
    errors = snap.unreadable
    if not errors:
        return None  # the common case: everything was read
    missing = {f: errors[f] for f in fields if f in errors}
    if not missing:
        return None
    detail = "; ".join(f"{f}: {why}" for f, why in sorted(missing.items()))
    return errored(f"Could not read {', '.join(sorted(missing))} ({detail})", unreadable=missing)


CheckFn = Callable[[Snapshot, Mapping[str, Any]], Verdict | None]


@dataclass(frozen=True)
class Check:
    id: str
    version: int
    title: str
    description: str
    severity: Severity
    resource_type: str
    service: str
    remediation: str
    permissions: tuple[str, ...]
    parameters: Mapping[str, Any]
    fn: CheckFn

    def info(self) -> CheckInfo:
        return CheckInfo(
            id=self.id,
            version=self.version,
            title=self.title,
            description=self.description,
            severity=self.severity,
            resource_type=self.resource_type,
            service=self.service,
            remediation=self.remediation,
            permissions=list(self.permissions),
        )


class DuplicateCheckError(ValueError):
    pass


class Registry:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._by_type: dict[str, list[Check]] = {}

    def add(self, check: Check) -> None:
        if check.id in self._checks:
            raise DuplicateCheckError(f"check id {check.id!r} is registered twice")
        self._checks[check.id] = check
        self._by_type.setdefault(check.resource_type, []).append(check)

    def get(self, check_id: str) -> Check:
        return self._checks[check_id]

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def __iter__(self) -> Any:
        return iter(sorted(self._checks.values(), key=lambda c: c.id))

    def __len__(self) -> int:
        return len(self._checks)

    def for_type(self, resource_type: str) -> list[Check]:
        return self._by_type.get(resource_type, [])

    def resource_types(self) -> set[str]:
        return set(self._by_type)


REGISTRY = Registry()


def check(
    *,
    id: str,
    title: str,
    description: str,
    severity: Severity,
    resource_type: str,
    service: str,
    remediation: str,
    permissions: tuple[str, ...],
    version: int = 1,
    parameters: Mapping[str, Any] | None = None,
    registry: Registry = REGISTRY,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check function; refuses a duplicate id."""

    def decorate(fn: CheckFn) -> CheckFn:
        registry.add(
            Check(
                id=id,
                version=version,
                title=title,
                description=description,
                severity=severity,
                resource_type=resource_type,
                service=service,
                remediation=remediation,
                permissions=permissions,
                parameters=dict(parameters or {}),
                fn=fn,
            )
        )
        return fn

    return decorate
