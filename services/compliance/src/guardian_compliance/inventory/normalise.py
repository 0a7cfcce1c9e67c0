"""Configurations normalised for drift: volatile fields dropped, lists in a stable order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Fields that change without anyone changing the resource (usage times, counters).
VOLATILE_KEYS = frozenset({"password_last_used", "last_used", "last_used_at", "last_accessed", "observed_at"})


def normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in sorted(value.items()) if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        items = [normalise(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


def config_hash(configuration: dict[str, Any]) -> str:
    canonical = json.dumps(normalise(configuration), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
