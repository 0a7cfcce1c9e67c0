"""Configurations normalised for drift: volatile fields dropped, lists in a stable order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Fields that change without anyone changing the resource (usage times, counters).
VOLATILE_KEYS = frozenset({"password_last_used", "last_used", "last_used_at", "last_accessed", "observed_at"})

# The text a list item is ordered by: its JSON with sorted keys. One encoder for every item, since
# json.dumps with options builds a new encoder per call (the same output, at a fraction of the cost).
_item_key = json.JSONEncoder(sort_keys=True, default=str).encode
# The canonical text of a normalised configuration: what its hash is taken of. Stored hashes were
# computed from exactly this encoding: changing it would make every stored configuration "drift".
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalise(value[k]) for k in sorted(value) if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return sorted([normalise(v) for v in value], key=_item_key)
    return value


def canonical_json(normalised: Any) -> str:
    """The JSON text of an already normalised configuration, from which its hash is taken."""
    text: str = _canonical(normalised)
    return text


def hash_of_canonical(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_hash(configuration: dict[str, Any]) -> str:
    return hash_of_canonical(canonical_json(normalise(configuration)))
