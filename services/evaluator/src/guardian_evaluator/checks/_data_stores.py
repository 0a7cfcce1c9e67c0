"""Field access shared by the data-store check modules (RDS clusters and snapshots, DynamoDB,
OpenSearch, ElastiCache, Redshift, EFS, AWS Backup, KMS, Secrets Manager).

Not a check module itself (the leading underscore keeps discovery away). Every helper turns what
the collector could not supply into an ERROR verdict: a field listed in ``_errors``, a key missing
from the configuration, or a value of the wrong type. None of them ever yields a PASS on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from guardian_evaluator.registry import Snapshot, Verdict, errored, unreadable


def need(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR when a field was unreadable or is absent from the configuration; ``None`` when all are there."""
    if (err := unreadable(snap, *fields)) is not None:
        return err
    absent = [f for f in fields if f not in snap.configuration]
    if absent:
        return errored(
            f"The collected configuration of {snap.name} has no {', '.join(absent)}; it cannot be evaluated",
            missing=absent,
        )
    return None


def flag(snap: Snapshot, field: str) -> bool | Verdict:
    """A boolean setting, or the ERROR verdict saying why it cannot be used."""
    if (err := need(snap, field)) is not None:
        return err
    value = snap.configuration[field]
    if isinstance(value, bool):
        return value
    return errored(f"AWS did not report a usable {field} for {snap.name} ({value!r})", **{field: value})


def whole_number(snap: Snapshot, field: str) -> int | Verdict:
    """A non-negative integer setting (a retention period, a count), or the ERROR verdict."""
    if (err := need(snap, field)) is not None:
        return err
    value = snap.configuration[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return errored(f"AWS did not report a usable {field} for {snap.name} ({value!r})", **{field: value})
    return value


def string_list(snap: Snapshot, field: str) -> list[str] | Verdict:
    """A list of strings (log exports, zones), or the ERROR verdict."""
    if (err := need(snap, field)) is not None:
        return err
    value = snap.configuration[field]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return errored(f"AWS did not report a usable {field} for {snap.name} ({value!r})", **{field: value})
    return list(value)


def mapping(snap: Snapshot, field: str) -> Mapping[str, Any] | Verdict:
    """A nested settings object, or the ERROR verdict."""
    if (err := need(snap, field)) is not None:
        return err
    value = snap.configuration[field]
    if not isinstance(value, Mapping):
        return errored(f"AWS did not report a usable {field} for {snap.name} ({value!r})", **{field: value})
    return value


def moment(value: Any) -> datetime | None:
    """An ISO-8601 string or datetime as an aware datetime; ``None`` when it is neither."""
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str):
        try:
            found = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def now(params: Mapping[str, Any]) -> datetime | None:
    """``params["now"]`` when given (tests pin it), else the wall clock; ``None`` if the pin is unusable."""
    pinned = params.get("now")
    return datetime.now(UTC) if pinned is None else moment(pinned)


def listing(names: list[str], limit: int = 10) -> str:
    """``a, b, c`` or ``a, b, ... (12 in all)`` for a reason that stays readable."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"
