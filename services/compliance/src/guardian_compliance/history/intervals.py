"""Time intervals and configuration diffs: pure functions the history queries are built from.

An interval is half-open, ``[start, end)``. Lists of intervals are kept sorted and disjoint
("normalised") so that union, intersection and complement stay linear.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds())


def normalise(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals merged and empty ones dropped."""
    merged: list[Interval] = []
    for iv in sorted(i for i in intervals if i.end > i.start):
        if merged and iv.start <= merged[-1].end:
            if iv.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, iv.end)
        else:
            merged.append(iv)
    return merged


def clip(intervals: Iterable[Interval], window: Interval) -> list[Interval]:
    return normalise(
        Interval(max(i.start, window.start), min(i.end, window.end))
        for i in intervals
        if i.end > window.start and i.start < window.end
    )


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Both inputs normalised; the output is too."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if end > start:
            out.append(Interval(start, end))
        if a[i].end <= b[j].end:
            i += 1
        else:
            j += 1
    return out


def intersect_all(groups: Sequence[Sequence[Interval]]) -> list[Interval]:
    if not groups:
        return []
    result = list(groups[0])
    for group in groups[1:]:
        result = intersect(result, group)
    return result


def complement(intervals: Sequence[Interval], window: Interval) -> list[Interval]:
    """The parts of ``window`` not covered by the (normalised) ``intervals``."""
    gaps: list[Interval] = []
    cursor = window.start
    for iv in clip(intervals, window):
        if iv.start > cursor:
            gaps.append(Interval(cursor, iv.start))
        cursor = max(cursor, iv.end)
    if cursor < window.end:
        gaps.append(Interval(cursor, window.end))
    return gaps


def total_seconds(intervals: Iterable[Interval]) -> float:
    return sum(i.seconds for i in intervals)


def windows(moments: Iterable[datetime], length: timedelta) -> list[Interval]:
    """Each complete collection vouches for ``length`` after it; the union of those stretches."""
    return normalise(Interval(m, m + length) for m in moments)


def steps(points: Sequence[tuple[datetime, str]], until: datetime) -> list[tuple[Interval, str]]:
    """Status ``points`` (time, status), sorted by time, as intervals: each holds until the next."""
    out: list[tuple[Interval, str]] = []
    for n, (at, status) in enumerate(points):
        end = points[n + 1][0] if n + 1 < len(points) else until
        if end > at:
            out.append((Interval(at, end), status))
    return out


# Configuration diffs ------------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a configuration by dotted path; lists are leaves (normalised configs sort them)."""
    out: dict[str, Any] = {}
    if isinstance(value, Mapping):
        if not value:
            return {prefix: {}} if prefix else {}
        _flatten_into(out, value, prefix)
    else:
        out[prefix or "$"] = value
    return out


# What decoded JSON holds besides objects: leaves, told apart without an ABC check.
_LEAVES = frozenset((str, int, float, bool, type(None), list))


def _flatten_into(out: dict[str, Any], value: Mapping[str, Any], prefix: str) -> None:
    """:func:`flatten` of a non-empty mapping, written into one dict: the same leaves, assigned in
    the same order (so a dotted key that collides with a nested path ends alike), without a dict
    per level. Configurations are decoded JSON, so an exact ``dict`` is tested before the slower
    ``Mapping`` (an ABC) check."""
    for key in sorted(value):
        path = f"{prefix}.{key}" if prefix else str(key)
        item = value[key]
        kind = type(item)
        if kind is dict or (kind not in _LEAVES and isinstance(item, Mapping)):
            if item:
                _flatten_into(out, item, path)
            else:
                out[path] = {}
        else:
            out[path] = item


@dataclass(frozen=True)
class FieldChange:
    path: str
    change: str  # added, removed, changed
    before: Any
    after: Any


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[FieldChange]:
    """Field-level changes from ``before`` to ``after``, by path."""
    old = flatten(before or {})
    new = flatten(after)
    changes: list[FieldChange] = []
    for path in sorted(old.keys() | new.keys()):
        if path not in old:
            changes.append(FieldChange(path, "added", None, new[path]))
        elif path not in new:
            changes.append(FieldChange(path, "removed", old[path], None))
        elif not _same(old[path], new[path]):
            changes.append(FieldChange(path, "changed", old[path], new[path]))
    return changes


# Leaves whose equality in Python is exactly equality of their JSON (no 1 == 1.0 == True, no -0.0).
_PLAIN = (str, int, bool, type(None))


def _same(a: Any, b: Any) -> bool:
    """Whether two leaves have the same canonical JSON (sorted keys, ``default=str``)."""
    same = _same_json(a, b)
    return _canonical(a) == _canonical(b) if same is None else same


def _same_json(a: Any, b: Any) -> bool | None:
    """Canonical-JSON equality decided without encoding, for what decoded JSON holds (dicts with
    string keys, lists, strings, ints, floats, booleans, null); None for anything else, which the
    caller compares encoded. Types must match exactly: 1, 1.0 and true encode differently. Floats
    encode by their repr, which differs exactly when they do (and tells 0.0 from -0.0)."""
    kind = type(a)
    if kind is not type(b):
        return None
    if kind in _PLAIN:
        return bool(a == b)
    if kind is float:
        return repr(a) == repr(b)
    if kind is list:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            same = _same_json(x, y)
            if same is not True:
                return same
        return True
    if kind is dict:
        if any(type(k) is not str for k in a) or any(type(k) is not str for k in b):
            return None  # keys that encoding turns into strings
        if a.keys() != b.keys():
            return False
        for k in a:
            same = _same_json(a[k], b[k])
            if same is not True:
                return same
        return True
    return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
