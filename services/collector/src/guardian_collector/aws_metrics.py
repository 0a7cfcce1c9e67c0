"""Prometheus counters of every AWS request attempt the collector makes, by service, operation and outcome.

Attached to each aiobotocore client as a first ``needs-retry`` handler, so every attempt is seen
(retries included) whatever the retry handler then decides; it never changes that decision.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

AWS_REQUESTS = Counter(
    "guardian_aws_requests_total",
    "AWS request attempts by service, operation and outcome (ok, throttled, denied, server_error, "
    "client_error, network_error)",
    ["service", "operation", "outcome"],
)

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "BandwidthLimitExceeded",
        "PriorRequestNotComplete",
    }
)
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"}
)


def outcome_of(status: int | None, code: str | None, failed: bool) -> str:
    if failed:
        return "network_error"
    if code in THROTTLE_CODES or status == 429:
        return "throttled"
    if code in DENIED_CODES or status == 403:
        return "denied"
    if status is not None and status >= 500:
        return "server_error"
    if code or (status is not None and status >= 400):
        return "client_error"
    return "ok"


def instrument(client: Any, service: str) -> None:
    """Count each attempt of ``client``'s calls in :data:`AWS_REQUESTS`."""

    def count(
        response: tuple[Any, dict[str, Any]] | None = None,
        caught_exception: Exception | None = None,
        operation: Any = None,
        **_: Any,
    ) -> None:
        name = str(getattr(operation, "name", "unknown"))
        status: int | None = None
        code: str | None = None
        if response is not None:
            http, parsed = response
            status = getattr(http, "status_code", None)
            code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        AWS_REQUESTS.labels(service, name, outcome_of(status, code, caught_exception is not None)).inc()

    client.meta.events.register_first(f"needs-retry.{client.meta.service_model.service_id.hyphenize()}", count)
