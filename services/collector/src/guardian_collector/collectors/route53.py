"""Route 53 health checks, CloudWatch Synthetics canaries and the public endpoints they should watch.

A global unit. ListHealthChecks is the primary listing; each health check is emitted as a resource.
For the account-wide ``AWS::::Account`` context snapshot the collector also reads, itself (the
collectors of those services may not be part of the scan):

- the Synthetics canaries of every scanned region (DescribeCanaries);
- the public endpoints: internet-facing load balancers of every scanned region (ELBv2 and Classic
  DescribeLoadBalancers) and enabled CloudFront distributions (ListDistributions).

Each of those reads that fails is recorded against its region (``global`` for CloudFront) and
makes the unit PARTIAL; what was read is still reported, so a known public endpoint or a working
monitor is never hidden by another region's failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors._compute_network import read_all
from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Facts,
    Resource,
    UnitContext,
    UnitFailed,
    register,
)

SERVICE = "route53"
HEALTH_CHECK = "AWS::Route53::HealthCheck"
GLOBAL = "global"

HEALTH_CHECKS_FACT = "health_checks"
CANARIES_FACT = "canaries"
ENDPOINTS_FACT = "public_endpoints"
REGIONS_FACT = "regions"

HEALTH_CHECKS_FIELD = "route53_health_checks"
CANARIES_FIELD = "synthetics_canaries"
ENDPOINTS_FIELD = "public_endpoints"
NOT_COLLECTED = "NotCollected: the Route 53 collection did not finish"
MAX_CANARY_PAGES = 100


def health_check_summary(check: Mapping[str, Any]) -> dict[str, Any]:
    config = check.get("HealthCheckConfig") or {}
    return {
        "id": check["Id"],
        "type": config.get("Type"),
        "fqdn": config.get("FullyQualifiedDomainName"),
        "ip_address": config.get("IPAddress"),
        "port": config.get("Port"),
        "resource_path": config.get("ResourcePath"),
        "disabled": bool(config.get("Disabled", False)),
        "inverted": bool(config.get("Inverted", False)),
    }


@register
class Route53Collector(Collector):
    service: ClassVar[str] = SERVICE
    global_service: ClassVar[bool] = True
    permissions: ClassVar[tuple[str, ...]] = (
        "route53:ListHealthChecks",
        "synthetics:DescribeCanaries",
        "elasticloadbalancing:DescribeLoadBalancers",
        "cloudfront:ListDistributions",
    )
    resource_types: ClassVar[tuple[str, ...]] = (HEALTH_CHECK,)

    async def collect(self, ctx: UnitContext) -> None:
        ctx.facts.put(SERVICE, REGIONS_FACT, list(ctx.regions))
        parts = [
            self._health_checks(ctx),
            self._distributions(ctx),
            *(self._canaries(ctx, region) for region in ctx.regions),
            *(self._load_balancers(ctx, region) for region in ctx.regions),
        ]
        results = await asyncio.gather(*parts, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _health_checks(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        try:
            checks = await ctx.list_all(client, "list_health_checks", "HealthChecks")
        except UnitFailed as exc:
            ctx.facts.put_error(SERVICE, HEALTH_CHECKS_FACT, exc.error.describe())
            raise
        summaries = sorted((health_check_summary(c) for c in checks), key=lambda s: str(s["id"]))
        for summary in summaries:
            await ctx.emit(
                Resource(
                    resource_type=HEALTH_CHECK,
                    arn=f"arn:{ctx.partition}:route53:::healthcheck/{summary['id']}",
                    name=str(summary["id"]),
                    region=ctx.unit_region,
                    configuration=ConfigBuilder(**summary).build(),
                )
            )
        ctx.facts.put(SERVICE, HEALTH_CHECKS_FACT, summaries)

    async def _canaries(self, ctx: UnitContext, region: str) -> None:
        client = await ctx.client("synthetics", region)
        found: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_CANARY_PAGES):
            kwargs: dict[str, Any] = {"NextToken": token} if token else {}
            answer = await ctx.read(client, "describe_canaries", **kwargs)
            if answer.error is not None:
                ctx.facts.put_error(SERVICE, CANARIES_FACT, answer.error.describe(), region=region)
                break
            for canary in answer.value.get("Canaries") or []:
                found.append(
                    {"name": canary.get("Name"), "region": region, "state": (canary.get("Status") or {}).get("State")}
                )
            token = answer.value.get("NextToken")
            if not token:
                break
        else:
            ctx.facts.put_error(
                SERVICE,
                CANARIES_FACT,
                f"PaginationLimit on describe_canaries: over {MAX_CANARY_PAGES} pages",
                region=region,
            )
        ctx.facts.put(SERVICE, CANARIES_FACT, sorted(found, key=lambda c: str(c["name"])), region=region)

    async def _load_balancers(self, ctx: UnitContext, region: str) -> None:
        v2, classic = await asyncio.gather(ctx.client("elbv2", region), ctx.client("elb", region))
        modern, legacy = await asyncio.gather(
            read_all(ctx, v2, "describe_load_balancers", "LoadBalancers"),
            read_all(ctx, classic, "describe_load_balancers", "LoadBalancerDescriptions"),
        )
        endpoints: list[dict[str, Any]] = []
        errors: list[str] = []
        for answer, kind in ((modern, "elbv2"), (legacy, "elb")):
            if isinstance(answer, CallError):
                errors.append(answer.describe())
                continue
            for balancer in answer:
                if balancer.get("Scheme") != "internet-facing":
                    continue
                endpoints.append(
                    {
                        "kind": f"{kind}:{balancer.get('Type')}" if kind == "elbv2" else kind,
                        "name": balancer.get("LoadBalancerName"),
                        "region": region,
                        "dns_name": balancer.get("DNSName"),
                    }
                )
        if errors:
            ctx.facts.put_error(SERVICE, ENDPOINTS_FACT, "; ".join(errors), region=region)
        ctx.facts.put(SERVICE, ENDPOINTS_FACT, endpoints, region=region)

    async def _distributions(self, ctx: UnitContext) -> None:
        client = await ctx.client("cloudfront")
        endpoints: list[dict[str, Any]] = []
        try:
            async for page in ctx.pages(client, "list_distributions"):
                for distribution in (page.get("DistributionList") or {}).get("Items") or []:
                    if distribution.get("Enabled") is False:
                        continue
                    endpoints.append(
                        {
                            "kind": "cloudfront",
                            "name": distribution.get("Id"),
                            "region": GLOBAL,
                            "dns_name": distribution.get("DomainName"),
                        }
                    )
        except UnitFailed as exc:
            ctx.facts.put_error(SERVICE, ENDPOINTS_FACT, exc.error.describe(), region=GLOBAL)
        ctx.facts.put(SERVICE, ENDPOINTS_FACT, endpoints, region=GLOBAL)

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != GLOBAL:
            return {}, {}
        fields: dict[str, Any] = {}
        unreadable: dict[str, str] = {}
        checks_error = facts.error(SERVICE, HEALTH_CHECKS_FACT)
        checks = facts.get(SERVICE, HEALTH_CHECKS_FACT)
        fields[HEALTH_CHECKS_FIELD] = checks if checks_error is None else None
        if checks_error is not None or checks is None:
            unreadable[HEALTH_CHECKS_FIELD] = checks_error or NOT_COLLECTED
        scanned = facts.get(SERVICE, REGIONS_FACT)
        expected = {GLOBAL, *scanned} if scanned is not None else set()
        for fact, field, where in (
            (CANARIES_FACT, CANARIES_FIELD, set(scanned or [])),
            (ENDPOINTS_FACT, ENDPOINTS_FIELD, expected),
        ):
            values = facts.regions_of(SERVICE, fact)
            problems = dict(facts.errors_of(SERVICE, fact))
            for missing in sorted(where - set(values) - set(problems)):
                problems[missing] = NOT_COLLECTED
            if scanned is None:
                problems["all regions"] = NOT_COLLECTED
            fields[field] = [item for reg in sorted(values) for item in values[reg] or []]
            if problems:
                detail = "; ".join(f"{r}: {why}" for r, why in sorted(problems.items()))
                unreadable[field] = f"unreadable in {len(problems)} place(s): {detail}"[:1000]
        return fields, unreadable
