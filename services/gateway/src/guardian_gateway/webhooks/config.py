"""What the webhook machinery needs from the gateway's settings, in one value tests can build."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta

from guardian_gateway.settings import GatewaySettings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Delay before each retry, counted from the failed attempt: the last one comes more than a day after
# the first (5 s + 5 min + 30 min + 2 h + 5 h + 10 h + 10 h, about 27.6 h, before jitter).
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


def parse_networks(values: list[str]) -> tuple[IPNetwork, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"GUARDIAN_WEBHOOK_ALLOWED_NETWORKS: {value!r} is not a network: {exc}") from None
    return tuple(networks)


@dataclass(frozen=True)
class WebhookConfig:
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    require_https: bool = False
    timeout_seconds: float = 10.0
    poll_seconds: float = 1.0
    disable_after: timedelta = timedelta(hours=72)
    retry_delays: tuple[timedelta, ...] = RETRY_DELAYS
    # Each retry's delay is stretched or shrunk by up to this fraction, so failed deliveries of one
    # outage do not all come back in the same second.
    jitter: float = 0.1
    batch_size: int = 50
    concurrency: int = 8
    # A claimed delivery whose worker vanished (crash, deploy) is sent again after this long.
    lease: timedelta = timedelta(minutes=2)
    excerpt_bytes: int = 1024
    # Settled deliveries (delivered, or failed for good) and their attempts are kept this long.
    retention: timedelta = timedelta(days=30)
    sweep_every: timedelta = timedelta(hours=1)
    consumer_batch_size: int = 200
    durable: str = field(default="gateway-webhooks")

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> WebhookConfig:
        return cls(
            allow_private=settings.webhook_allow_private,
            allowed_networks=parse_networks(settings.webhook_allowed_networks),
            require_https=settings.environment == "production" and not settings.webhook_allow_http,
            timeout_seconds=settings.webhook_timeout_seconds,
            poll_seconds=settings.webhook_poll_seconds,
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
        )
