"""Helpers shared by the monitoring, messaging, container and security-service collectors.

Not a collector (its name starts with an underscore, so discovery skips it). It holds:

* :func:`read_pages`: a secondary listing (every page through ``NextToken``-style tokens) whose
  failure is data, not a failed unit;
* :func:`put_policy`: a resource policy read into a configuration field as a parsed document;
* :func:`finding_routes`: the EventBridge rules of the default event bus that match a security
  service's findings, with their targets (used by GuardDuty and Security Hub).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from guardian_collector.collectors.base import CallError, ConfigBuilder, Read, UnitContext
from guardian_collector.collectors.iam import parse_policy_document

MAX_PAGES = 100


async def read_pages(
    ctx: UnitContext,
    client: Any,
    operation: str,
    key: str,
    *,
    token_in: str = "NextToken",
    token_out: str = "NextToken",
    resource_arn: str | None = None,
    absent: tuple[str, ...] = (),
    **kwargs: Any,
) -> Read:
    """Every item of a paginated secondary listing, or the first page's error."""
    items: list[Any] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        args = dict(kwargs, **{token_in: token}) if token else dict(kwargs)
        read = await ctx.read(client, operation, absent=absent, resource_arn=resource_arn, **args)
        if read.error is not None or read.absent:
            return read
        items.extend(read.value.get(key) or [])
        token = read.value.get(token_out) or None
        if not token:
            return Read(value=items)
    error = CallError(operation, "TooManyPages", f"more than {MAX_PAGES} pages", resource_arn)
    ctx.record(error)
    return Read(error=error)


def put_policy(
    ctx: UnitContext, cfg: ConfigBuilder, field: str, read: Read, arn: str, operation: str, key: str = "Policy"
) -> None:
    """A policy answer as a parsed document (``None`` when the resource has no policy)."""
    if read.error is not None:
        cfg.fail(field, read.error)
        return
    if read.absent:
        cfg.put(field, None)
        return
    raw = read.value.get(key) if isinstance(read.value, Mapping) else read.value
    if raw is None or raw == "":
        cfg.put(field, None)
        return
    try:
        cfg.put(field, parse_policy_document(raw))
    except (ValueError, TypeError) as exc:
        error = CallError(operation, "MalformedPolicy", str(exc), arn)
        ctx.record(error)
        cfg.fail(field, error)


def parse_document(raw: Any) -> dict[str, Any] | None:
    """A JSON attribute (an SNS or SQS policy, a redrive policy) as a dict; ``None`` when empty."""
    if raw is None or raw == "":
        return None
    return parse_policy_document(raw)


# --- EventBridge routing of security findings --------------------------------------------


def _strings(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def pattern_matches(pattern: Mapping[str, Any], source: str, detail_types: Iterable[str]) -> bool:
    """Whether an event pattern can match findings of ``source`` with one of ``detail_types``.

    The ``source`` and ``detail-type`` fields, when present, must list the service's value as an
    exact string or through a ``prefix`` matcher; a field the pattern leaves out matches anything.
    Other fields (account, region, severity filters under ``detail``) narrow the rule to some
    findings, which still counts as routing them: the filter is reported with the rule.
    """

    def lists(field: str, wanted: Iterable[str]) -> bool:
        if field not in pattern:
            return True
        for entry in _strings(pattern[field]):
            if isinstance(entry, str) and entry in wanted:
                return True
            prefix = entry.get("prefix") if isinstance(entry, Mapping) else None
            if isinstance(prefix, str) and any(w.startswith(prefix) for w in wanted):
                return True
        return False

    return lists("source", [source]) and lists("detail-type", list(detail_types))


async def finding_routes(
    ctx: UnitContext, source: str, detail_types: tuple[str, ...]
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The enabled or disabled rules of the default bus matching ``source`` findings, with targets.

    Returns ``(routes, None)``, or ``(None, error)`` when the rules or a candidate's targets could
    not be read (an unread rule could be the one that routes the findings).
    """
    events = await ctx.client("events")
    rules = await read_pages(ctx, events, "list_rules", "Rules", EventBusName="default")
    if rules.error is not None:
        return None, rules.error.describe()
    routes: list[dict[str, Any]] = []
    for rule in rules.value or []:
        raw = rule.get("EventPattern")
        if not raw:
            continue
        try:
            pattern = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        if not isinstance(pattern, Mapping) or not pattern_matches(pattern, source, detail_types):
            continue
        name = str(rule.get("Name"))
        targets = await read_pages(
            ctx, events, "list_targets_by_rule", "Targets", resource_arn=rule.get("Arn"), Rule=name
        )
        if targets.error is not None:
            return None, f"targets of rule {name}: {targets.error.describe()}"
        routes.append(
            {
                "name": name,
                "arn": rule.get("Arn"),
                "state": rule.get("State"),
                "pattern": dict(pattern),
                "targets": sorted(str(t.get("Arn")) for t in targets.value or []),
            }
        )
    return routes, None
