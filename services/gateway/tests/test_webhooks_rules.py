"""Webhook rules that need no server: event-type patterns, the SSRF guard, secrets and signatures,
the retry schedule and the configuration read from the gateway's settings."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from guardian_gateway.settings import GatewaySettings
from guardian_gateway.webhooks.config import RETRY_DELAYS, WebhookConfig
from guardian_gateway.webhooks.guard import InvalidTargetUrl, TargetRefused, check_target
from guardian_gateway.webhooks.patterns import matches, pattern_problem
from guardian_gateway.webhooks.sender import Sender
from guardian_gateway.webhooks.signing import new_secret, signed_headers
from guardian_gateway.webhooks.worker import DeliveryWorker

STRICT = WebhookConfig()


def resolving(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("scope.changed", "scope.changed", True),
        ("scope.changed", "scope.changed_again", False),
        ("finding.*", "finding.opened", True),
        ("finding.*", "finding.status.changed", True),
        ("finding.*", "findings.opened", False),
        ("*", "acceptance.expired", True),
        ("*", "audit.recorded", False),
        ("audit.*", "audit.recorded", True),
        ("audit.recorded", "audit.recorded", True),
        ("acceptance.*", "audit.recorded", False),
    ],
)
def test_patterns_match_exact_types_prefixes_and_everything_but_audit_entries_unless_named(
    pattern: str, event_type: str, expected: bool
) -> None:
    assert pattern_problem(pattern) is None
    assert matches(pattern, event_type) is expected


@pytest.mark.parametrize("pattern", ["", "Scope.changed", "scope.", ".x", "finding.*.opened", "a*", "x y", "*.*"])
def test_malformed_patterns_are_explained(pattern: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None
    assert "event type" in problem


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.5", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not globally routable"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::5", "private"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
async def test_targets_on_private_loopback_link_local_multicast_or_reserved_addresses_are_refused(
    address: str, kind: str
) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(TargetRefused) as refused:
        await check_target(f"https://{host}/hook", STRICT)
    assert kind in refused.value.detail
    assert refused.value.status == 422


async def test_a_name_is_refused_when_any_address_it_resolves_to_is_private() -> None:
    resolver = resolving({"hooks.example.com": ["93.184.216.34", "10.0.0.7"], "ok.example.com": ["93.184.216.34"]})
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.7 is a private address"):
        await check_target("https://hooks.example.com/in", STRICT, resolver)
    target = await check_target("https://ok.example.com:8443/in", STRICT, resolver)
    assert (target.host, target.port, str(target.address)) == ("ok.example.com", 8443, "93.184.216.34")


async def test_an_unresolvable_host_is_refused() -> None:
    with pytest.raises(TargetRefused, match="could not be resolved"):
        await check_target("https://nowhere.invalid/in", STRICT, resolving({}))


async def test_configuration_allows_every_private_target_or_listed_networks() -> None:
    everything = WebhookConfig(allow_private=True)
    assert str((await check_target("http://10.9.9.9/x", everything)).address) == "10.9.9.9"
    loopback_only = WebhookConfig(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    assert str((await check_target("http://127.0.0.1:9/x", loopback_only)).address) == "127.0.0.1"
    with pytest.raises(TargetRefused):
        await check_target("http://10.9.9.9/x", loopback_only)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://93.184.216.34/x", "https://"),
        ("https:///x", "no host"),
        ("https://user:pw@93.184.216.34/x", "user name or password"),
        ("https://93.184.216.34/x#frag", "fragment"),
        ("https://93.184.216.34:99999/x", "not valid"),
        ("https://93.184.216.34/" + "a" * 2100, "longer than"),
        ("https://bücher.example/x", "xn--"),
        ("https://93.184.216.34/a b", "without spaces"),
    ],
)
async def test_malformed_urls_are_refused_with_the_reason(url: str, fragment: str) -> None:
    with pytest.raises(InvalidTargetUrl) as invalid:
        await check_target(url, STRICT)
    assert fragment in invalid.value.detail


async def test_production_requires_https_unless_allowed() -> None:
    production = WebhookConfig.from_settings(
        GatewaySettings(environment="production", internal_secret="s" * 40, auth_secret="a" * 40)
    )
    with pytest.raises(InvalidTargetUrl, match="https"):
        await check_target("http://93.184.216.34/x", production)
    assert (await check_target("https://93.184.216.34/x", production)).scheme == "https"
    relaxed = WebhookConfig.from_settings(
        GatewaySettings(
            environment="production", internal_secret="s" * 40, auth_secret="a" * 40, webhook_allow_http=True
        )
    )
    assert (await check_target("http://93.184.216.34/x", relaxed)).scheme == "http"
    development = WebhookConfig.from_settings(GatewaySettings(internal_secret="dev"))
    assert not development.require_https
    assert not development.allow_private


def test_settings_name_the_bad_network() -> None:
    settings = GatewaySettings(internal_secret="dev", webhook_allowed_networks=["127.0.0.0/8", "not-a-net"])
    with pytest.raises(ValueError, match="not-a-net"):
        WebhookConfig.from_settings(settings)


def test_secrets_are_standard_webhooks_secrets_and_signatures_verify_with_the_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert secret != new_secret()
    body = '{"type":"scope.changed","data":{"scope_id":"default"}}'
    headers = signed_headers(secret, "compliance:outbox:7", datetime.now(UTC), body)
    assert headers["webhook-id"] == "compliance:outbox:7"
    assert Webhook(secret).verify(body, headers) == {"type": "scope.changed", "data": {"scope_id": "default"}}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("default", "other"), headers)


async def test_the_retry_schedule_spans_more_than_a_day_with_bounded_jitter() -> None:
    config = WebhookConfig(jitter=0.1)
    # Computing a schedule needs no database.
    worker = DeliveryWorker(pool=None, config=config, sender=Sender(config), rng=random.Random(7))  # type: ignore[arg-type]
    for _ in range(20):
        delays = [worker.retry_delay(n) for n in range(1, len(RETRY_DELAYS) + 1)]
        assert all(d is not None for d in delays)
        for delay, base in zip(delays, RETRY_DELAYS, strict=True):
            assert delay is not None
            assert base * 0.9 <= delay <= base * 1.1
        assert sum((d for d in delays if d is not None), timedelta()) >= timedelta(hours=24)
    assert worker.retry_delay(len(RETRY_DELAYS) + 1) is None
    await worker.sender.close()
