"""What every remediation action declares, and the catalogue they register in.

An action fixes one kind of resource for the checks it names. It declares the IAM permissions it
needs (the write role's policy is generated from them), its parameters, how it reads the current
state, the exact API calls it will make and the state it expects afterwards. The calls are data
(:class:`ApiCall`): the plan shows them, the approver approves their hash, and execution makes
exactly those calls, nothing else. An action that cannot act in place (an unencrypted volume or
database) only lists the steps a person must take.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from botocore.exceptions import ClientError

ParamKind = Literal["string", "integer", "boolean"]

# Tags that say a resource is managed as code: a change made by hand is undone at the next deploy.
IAC_TAG_PREFIXES = ("aws:cloudformation:", "aws:cdk:", "pulumi:", "terraform:")
IAC_TAG_KEYS = ("managed_by", "managedby", "managed-by", "terraform", "iac", "pulumi", "cdk")
IAC_TAG_VALUES = ("terraform", "cloudformation", "pulumi", "cdk", "crossplane", "opentofu")


class ParameterError(ValueError):
    """A parameter that is unknown, of the wrong kind or out of range."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind
    description: str
    default: Any = None
    choices: tuple[Any, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise ParameterError(f"parameter {self.name} must be true or false")
        elif self.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParameterError(f"parameter {self.name} must be a whole number")
            if self.minimum is not None and value < self.minimum:
                raise ParameterError(f"parameter {self.name} must be at least {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise ParameterError(f"parameter {self.name} must be at most {self.maximum}")
        elif not isinstance(value, str) or not value:
            raise ParameterError(f"parameter {self.name} must be a non-empty string")
        if self.choices and value not in self.choices:
            raise ParameterError(f"parameter {self.name} must be one of {', '.join(map(str, self.choices))}")
        return value

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "default": self.default,
            "choices": list(self.choices),
            "minimum": self.minimum,
            "maximum": self.maximum,
        }


@dataclass(frozen=True)
class RolePass:
    """An ``iam:PassRole`` an action needs: roles named with ``role_prefix``, handed to ``service`` only.

    The write policy grants ``iam:PassRole`` on those roles' ARNs alone, with the condition
    ``iam:PassedToService``, never on ``*`` (passing an administrator role to a service is an escalation).
    """

    service: str
    role_prefix: str
    purpose: str

    def role_arn_pattern(self, prefix: str | None = None) -> str:
        return f"arn:aws:iam::*:role/{prefix if prefix is not None else self.role_prefix}*"


@dataclass(frozen=True)
class Target:
    """One resource to fix, as compliance's finding names it."""

    arn: str
    name: str
    resource_type: str
    account_id: str
    region: str

    @property
    def resource(self) -> str:
        """The resource part of the ARN (after the account)."""
        return self.arn.split(":", 5)[5] if self.arn.count(":") >= 5 else self.arn

    def call_region(self, home_region: str) -> str:
        region = self.region if self.region and self.region != "global" else ""
        if not region:
            parts = self.arn.split(":")
            region = parts[3] if len(parts) > 3 else ""
        return region or home_region


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call, exactly as it will be made: client, operation, region and arguments."""

    service: str
    operation: str
    region: str
    arguments: dict[str, Any]
    permission: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "region": self.region,
            "arguments": self.arguments,
            "permission": self.permission,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> ApiCall:
        return ApiCall(
            service=str(data["service"]),
            operation=str(data["operation"]),
            region=str(data["region"]),
            arguments=dict(data["arguments"]),
            permission=str(data["permission"]),
        )


@dataclass(frozen=True)
class Reading:
    """What an action read of a resource: the settings it changes, and the resource's tags."""

    state: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)

    def digest(self) -> str:
        body = json.dumps({"state": self.state, "tags": self.tags}, sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()


class Aws(Protocol):
    """The remediation service's AWS clients (its own credentials, never the collector's)."""

    home_region: str

    async def client(self, service: str, region: str) -> Any: ...


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


# What AWS answers for a resource (not a setting of it) that does not exist, per service.
GONE_CODES = frozenset(
    {
        "NoSuchBucket",
        "NoSuchEntity",
        "NotFound",
        "NotFoundException",
        "ResourceNotFoundException",
        "InvalidVpcID.NotFound",
        "InvalidVolume.NotFound",
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "LoadBalancerNotFound",
        "TrailNotFoundException",
    }
)


def resource_gone(exc: BaseException) -> bool:
    """True when AWS answered that the resource itself no longer exists (it was deleted)."""
    return isinstance(exc, ClientError) and error_code(exc) in GONE_CODES


def tag_dict(items: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    return {str(t.get(key)): str(t.get(value, "")) for t in items or [] if isinstance(t, Mapping) and t.get(key)}


def managed_as_code(tags: Mapping[str, str]) -> list[str]:
    """The tags showing the resource is managed as code (the fix then belongs in that code)."""
    found = []
    for key, value in sorted(tags.items()):
        lowered = key.lower()
        if lowered.startswith(IAC_TAG_PREFIXES) or lowered in IAC_TAG_KEYS or value.lower() in IAC_TAG_VALUES:
            found.append(f"{key}={value}")
    return found


class Action(ABC):
    id: ClassVar[str]
    version: ClassVar[int] = 1
    title: ClassVar[str]
    description: ClassVar[str]
    resource_type: ClassVar[str]
    checks: ClassVar[tuple[str, ...]]
    # Every IAM action the remediation role needs for this action: its reads and its writes.
    permissions: ClassVar[tuple[str, ...]]
    # The roles the action hands to an AWS service (each ``iam:PassRole`` in ``permissions`` needs one).
    passes_roles: ClassVar[tuple[RolePass, ...]] = ()
    parameters: ClassVar[tuple[Param, ...]] = ()
    in_place: ClassVar[bool] = True
    # The collectors that re-read the resource when the fix is verified.
    verify_services: ClassVar[tuple[str, ...]]
    # How the action reads the current state (shown in the catalogue).
    reads: ClassVar[tuple[str, ...]]

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The full parameter set: defaults, overridden by ``given``; unknown names are refused."""
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ParameterError(f"unknown parameter(s) for {self.id}: {', '.join(unknown)}")
        values = {name: p.coerce(given.get(name, p.default)) for name, p in known.items()}
        self.validate(values)
        return values

    def validate(self, params: Mapping[str, Any]) -> None:  # noqa: B027 - most actions need no cross-checks
        """Checks across parameters; raise :class:`ParameterError`."""

    @abstractmethod
    async def read(self, aws: Aws, target: Target) -> Reading: ...

    @abstractmethod
    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        """True when the resource already is as the action would leave it."""

    @abstractmethod
    def expected(self, params: Mapping[str, Any]) -> str:
        """The result the action brings about, in one sentence."""

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        """The exact calls that fix ``target``; empty for an action that cannot act in place."""
        return []

    def steps(self, target: Target, params: Mapping[str, Any]) -> list[str]:
        """For an action that cannot act in place: what a person must do, in order."""
        return []

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "resource_type": self.resource_type,
            "checks": list(self.checks),
            "permissions": sorted(self.permissions),
            "passes_roles": [
                {"service": r.service, "role_prefix": r.role_prefix, "purpose": r.purpose} for r in self.passes_roles
            ],
            "parameters": [p.describe() for p in self.parameters],
            "in_place": self.in_place,
            "reads": list(self.reads),
            "verify_services": list(self.verify_services),
            "expected": self.expected({p.name: p.default for p in self.parameters}),
        }


CATALOGUE: dict[str, Action] = {}


def action(cls: type[Action]) -> type[Action]:
    """Register an action class (decorator); ids are unique."""
    if cls.id in CATALOGUE:
        raise ValueError(f"two remediation actions have the id {cls.id}")
    CATALOGUE[cls.id] = cls()
    return cls
