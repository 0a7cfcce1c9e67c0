"""Event-type patterns of a subscription: an exact type (``scope.changed``), every type under a
prefix (``finding.*``), or everything (``*``).

Audit entries (``audit.recorded``) are the platform's own bookkeeping and would double every change,
so only a pattern that names them (``audit.recorded`` or ``audit.*``) receives them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from guardian_common.audit import AUDIT_EVENT

_SEGMENT = r"[a-z][a-z0-9_]*"
_PATTERN = re.compile(rf"^(\*|{_SEGMENT}(\.{_SEGMENT})*(\.\*)?)$")
MAX_PATTERN_LENGTH = 100


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid event-type pattern, or None."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"{pattern[:20]!r}... is longer than {MAX_PATTERN_LENGTH} characters"
    if not _PATTERN.match(pattern):
        return (
            f"{pattern!r} is not an event type: use lower-case dotted names (scope.changed), a prefix with"
            " a final wildcard (finding.*) or * for every event"
        )
    return None


def _names_audit(pattern: str) -> bool:
    return pattern in (AUDIT_EVENT, AUDIT_EVENT.split(".")[0] + ".*")


def matches(pattern: str, event_type: str) -> bool:
    if event_type == AUDIT_EVENT and not _names_audit(pattern):
        return False
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def any_matches(patterns: Iterable[str], event_type: str) -> bool:
    return any(matches(p, event_type) for p in patterns)
