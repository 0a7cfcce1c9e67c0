"""Helpers shared by the compute, network and edge checks (EC2 fleet, DLM, Auto Scaling, ELB,
ELBv2, ACM, CloudFront, API Gateway, Route 53).

Not a check module: the leading underscore keeps it out of discovery.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from guardian_evaluator.registry import CheckFn, Snapshot, Verdict, errored, unreadable

ACCOUNT = "AWS::::Account"
TRUE_WORDS = frozenset({"true", "yes", "1"})


class BadValue(ValueError):
    """A configuration value a check cannot interpret: the check answers ERROR, never PASS."""


def guarded(fn: CheckFn) -> CheckFn:
    """Turn a :class:`BadValue` met while judging into an ERROR verdict that says what was wrong."""

    @functools.wraps(fn)
    def judge(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        try:
            return fn(snap, params)
        except BadValue as exc:
            return errored(str(exc))

    return judge


def needs(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR when a field the check reads is unreadable (in ``_errors``) or absent altogether."""
    if (err := unreadable(snap, *fields)) is not None:
        return err
    absent = [f for f in fields if f not in snap.configuration]
    if not absent:
        return None
    return errored(
        f"The collected configuration of {snap.name} has no {', '.join(absent)}; it cannot be evaluated",
        missing=absent,
    )


def flag(snap: Snapshot, field: str, what: str) -> bool:
    """A boolean setting, or :class:`BadValue` if the collector supplied something else."""
    value = snap.configuration.get(field)
    if isinstance(value, bool):
        return value
    raise BadValue(f"{what} of {snap.name} is not a yes/no value ({value!r})")


def mapping(snap: Snapshot, field: str) -> Mapping[str, Any]:
    value = snap.configuration.get(field)
    if isinstance(value, Mapping):
        return value
    raise BadValue(f"The {field} of {snap.name} is not a mapping ({value!r})")


def mappings(snap: Snapshot, field: str) -> list[Mapping[str, Any]]:
    value = snap.configuration.get(field)
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
        return value
    raise BadValue(f"The {field} of {snap.name} is not a list of entries ({value!r})")


def strings(snap: Snapshot, field: str) -> list[str]:
    value = snap.configuration.get(field)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise BadValue(f"The {field} of {snap.name} is not a list of names ({value!r})")


def tagged_true(tags: Mapping[str, str], key: Any) -> bool:
    """Whether the tag ``key`` is set to a yes value ('true', 'yes', '1'); an empty key never matches."""
    if not key:
        return False
    return str(tags.get(str(key), "")).strip().lower() in TRUE_WORDS


def is_anywhere(cidr: Any) -> bool:
    """``0.0.0.0/0`` or ``::/0`` (any spelling of a zero-length prefix)."""
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return str(cidr) in ("0.0.0.0/0", "::/0")


def matches_any(name: str, patterns: Iterable[Any]) -> bool:
    """Shell-style patterns (``*``, ``?``), case-sensitive: AWS policy names are exact."""
    return any(fnmatchcase(name, str(p)) for p in patterns)


def moment(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadValue(f"{what} is not an ISO-8601 date: {value!r}") from exc
    else:
        raise BadValue(f"{what} is not a date: {value!r}")
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def now(params: Mapping[str, Any]) -> datetime:
    """The evaluation time: ``params['now']`` when given (tests pin it), else the UTC wall clock."""
    value = params.get("now")
    return datetime.now(UTC) if value is None else moment(value, "params['now']")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
