"""The key format: ``gdk_<id>_<secret>``.

The id is public (it names the key in listings and logs); the secret part is 256 random bits, and
only its SHA-256 is stored. A plain hash is enough because the secret is random, not chosen by a
person: there is no dictionary to try.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "gdk_"
# How many characters of the secret part the display prefix shows, to tell keys apart at a glance.
DISPLAY_SECRET_CHARS = 4
_KEY = re.compile(r"^gdk_([0-9a-f]{16})_([A-Za-z0-9_-]{32,128})$")


@dataclass(frozen=True)
class NewKey:
    key_id: str
    key: str
    secret_hash: str
    prefix: str


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate() -> NewKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    key = f"{KEY_PREFIX}{key_id}_{secret}"
    return NewKey(
        key_id=key_id,
        key=key,
        secret_hash=hash_secret(secret),
        prefix=f"{KEY_PREFIX}{key_id}_{secret[:DISPLAY_SECRET_CHARS]}",
    )


def parse(key: str) -> ParsedKey | None:
    match = _KEY.match(key)
    if match is None:
        return None
    return ParsedKey(key_id=match.group(1), secret=match.group(2))


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
