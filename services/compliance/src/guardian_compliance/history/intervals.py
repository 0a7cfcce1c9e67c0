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
    if isinstance(value, Mapping):
        if not value:
            return {prefix: {}} if prefix else {}
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix or "$": value}


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
    if type(a) is type(b) and type(a) in _PLAIN:
        return bool(a == b)
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
