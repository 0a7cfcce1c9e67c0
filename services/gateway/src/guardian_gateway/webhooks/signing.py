"""Standard Webhooks secrets and signatures, made with the ``standardwebhooks`` library."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret in the ``whsec_<base64>`` form subscribers' libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signed_headers(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt of one message.

    ``message_id`` is the same on every attempt of a message, so a receiver de-duplicates on it;
    the timestamp is the attempt's, so a receiver can refuse replays of an old attempt.
    """
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }
