"""Where a webhook may be sent: the SSRF guard.

A subscriber chooses the URL, so without a guard the gateway would make requests into its own
network (cloud metadata at 169.254.169.254, the database, the other services) on the subscriber's
behalf. The host is resolved and every address it resolves to must be a public one, unless the
configuration allows private targets (all, or listed networks). The check runs when a subscription
is created or changed and again before every attempt, and the attempt connects to the address that
was checked, so a name that later resolves elsewhere (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from guardian_common.errors import BadRequest
from guardian_gateway.webhooks.config import WebhookConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_URL_LENGTH = 2048


class TargetRefused(BadRequest):
    code = "webhook_target_refused"


class InvalidTargetUrl(BadRequest):
    code = "invalid_webhook_url"


@dataclass(frozen=True)
class Target:
    """A checked URL and the address an attempt connects to."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _why_private(address: IPAddress) -> str | None:
    for attribute, label in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(address, attribute):
            return label
    if not address.is_global:
        return "not globally routable"
    return None


def address_problem(address: IPAddress, config: WebhookConfig) -> str | None:
    """Why the gateway may not connect to ``address``, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    reason = _why_private(address)
    if reason is None or config.allow_private:
        return None
    if any(address in network for network in config.allowed_networks):
        return None
    return f"{address} is a {reason} address"


def parse_url(url: str, config: WebhookConfig) -> tuple[str, str, int]:
    """Scheme, host and port of a webhook URL, or InvalidTargetUrl saying what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidTargetUrl(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidTargetUrl(f"The URL is not valid: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidTargetUrl("The URL must start with https:// (or http:// where allowed).")
    if config.require_https and parts.scheme != "https":
        raise InvalidTargetUrl("Webhook URLs must use https in production (GUARDIAN_WEBHOOK_ALLOW_HTTP allows http).")
    if not parts.hostname:
        raise InvalidTargetUrl("The URL has no host.")
    if not url.isascii() or any(c.isspace() for c in url):
        raise InvalidTargetUrl("The URL must be ASCII without spaces: write an international name in its xn-- form.")
    if parts.username is not None or parts.password is not None:
        raise InvalidTargetUrl("The URL may not carry a user name or password; the signature authenticates us.")
    if parts.fragment:
        raise InvalidTargetUrl("The URL may not have a #fragment.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_target(url: str, config: WebhookConfig, resolver: Resolver = system_resolver) -> Target:
    """Resolve the URL's host and refuse it unless every address is allowed; the first one is used."""
    scheme, host, port = parse_url(url, config)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            resolved = await asyncio.wait_for(resolver(host, port), timeout=config.timeout_seconds)
        except TimeoutError:
            raise TargetRefused(f"The host {host!r} could not be resolved in time.") from None
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"The host {host!r} could not be resolved: {exc}.") from None
        addresses = []
        for value in resolved:
            try:
                addresses.append(ipaddress.ip_address(value.split("%", 1)[0]))
            except ValueError:
                continue
        if not addresses:
            raise TargetRefused(f"The host {host!r} resolves to no address.")
    for address in addresses:
        problem = address_problem(address, config)
        if problem is not None:
            raise TargetRefused(
                f"Webhooks may not target {host!r}: {problem}. Private targets are refused unless"
                " GUARDIAN_WEBHOOK_ALLOW_PRIVATE or GUARDIAN_WEBHOOK_ALLOWED_NETWORKS allow them."
            )
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
