"""Classic Load Balancers (Elastic Load Balancing v1), one unit per region.

DescribeLoadBalancers is the primary listing. Joined per load balancer:

- DescribeLoadBalancerAttributes: access logs and cross-zone load balancing;
- DescribeLoadBalancerPolicies, only when a listener speaks HTTPS or SSL: the SSL negotiation
  policies, each with the predefined policy it references (``Reference-Security-Policy``) and the
  protocols it enables;
- DescribeTags, 20 load balancers per call, supplementary (no check reads tags).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors._compute_network import batched, on_off, sorted_strings
from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "elb"
LOAD_BALANCER = "AWS::ElasticLoadBalancing::LoadBalancer"
TLS_PROTOCOLS = frozenset({"HTTPS", "SSL"})
SSL_POLICY_TYPE = "SSLNegotiationPolicyType"
REFERENCE = "Reference-Security-Policy"
PROTOCOL_PREFIX = "Protocol-"


def listeners_of(balancer: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for description in balancer.get("ListenerDescriptions") or []:
        listener = description.get("Listener") or {}
        out.append(
            {
                "protocol": str(listener.get("Protocol", "")).upper(),
                "port": listener.get("LoadBalancerPort"),
                "instance_protocol": str(listener.get("InstanceProtocol", "")).upper() or None,
                "instance_port": listener.get("InstancePort"),
                "certificate": listener.get("SSLCertificateId"),
                "policy_names": sorted_strings(description.get("PolicyNames")),
            }
        )
    return sorted(out, key=lambda li: int(li["port"] or 0))


def ssl_policies(answer: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The SSL negotiation policies of a load balancer: referenced predefined policy and enabled protocols."""
    policies: dict[str, dict[str, Any]] = {}
    for policy in answer.get("PolicyDescriptions") or []:
        if policy.get("PolicyTypeName") != SSL_POLICY_TYPE:
            continue
        attributes = {
            str(a.get("AttributeName")): a.get("AttributeValue")
            for a in policy.get("PolicyAttributeDescriptions") or []
        }
        policies[str(policy.get("PolicyName"))] = {
            "reference": attributes.get(REFERENCE) or None,
            "protocols": sorted(
                name[len(PROTOCOL_PREFIX) :]
                for name, value in attributes.items()
                if name.startswith(PROTOCOL_PREFIX) and on_off(value) is True
            ),
        }
    return policies


def access_log(answer: Mapping[str, Any]) -> dict[str, Any]:
    log = (answer.get("LoadBalancerAttributes") or {}).get("AccessLog") or {}
    return {"enabled": bool(log.get("Enabled", False)), "bucket": log.get("S3BucketName") or None}


def cross_zone(answer: Mapping[str, Any]) -> bool:
    return bool(((answer.get("LoadBalancerAttributes") or {}).get("CrossZoneLoadBalancing") or {}).get("Enabled"))


@register
class ElbCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DescribeLoadBalancerPolicies",
        "elasticloadbalancing:DescribeTags",
    )
    resource_types: ClassVar[tuple[str, ...]] = (LOAD_BALANCER,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        balancers = await ctx.list_all(client, "describe_load_balancers", "LoadBalancerDescriptions")
        tags = await self._tags(ctx, client, [str(b["LoadBalancerName"]) for b in balancers])
        await asyncio.gather(*(self._balancer(ctx, client, b, tags) for b in balancers))

    async def _tags(self, ctx: UnitContext, client: Any, names: list[str]) -> dict[str, dict[str, str] | CallError]:
        found: dict[str, dict[str, str] | CallError] = {}
        for chunk in batched(names, 20):
            answer = await ctx.read(client, "describe_tags", supplementary=True, LoadBalancerNames=chunk)
            for name in chunk:
                found[name] = answer.error if answer.error is not None else {}
            if answer.error is None:
                for entry in answer.value.get("TagDescriptions") or []:
                    found[str(entry.get("LoadBalancerName"))] = tags_of(entry.get("Tags"))
        return found

    async def _balancer(
        self,
        ctx: UnitContext,
        client: Any,
        balancer: Mapping[str, Any],
        tags: Mapping[str, dict[str, str] | CallError],
    ) -> None:
        name = str(balancer["LoadBalancerName"])
        arn = ctx.arn("elasticloadbalancing", f"loadbalancer/{name}")
        listeners = listeners_of(balancer)
        cfg = ConfigBuilder(
            name=name,
            dns_name=balancer.get("DNSName"),
            scheme=balancer.get("Scheme"),
            vpc_id=balancer.get("VPCId"),
            availability_zones=sorted_strings(balancer.get("AvailabilityZones")),
            subnets=sorted_strings(balancer.get("Subnets")),
            listeners=listeners,
        )
        wants_policies = any(li["protocol"] in TLS_PROTOCOLS for li in listeners)
        attributes = ctx.read(client, "describe_load_balancer_attributes", resource_arn=arn, LoadBalancerName=name)
        if wants_policies:
            policies_read = ctx.read(client, "describe_load_balancer_policies", resource_arn=arn, LoadBalancerName=name)
            attrs, policies = await asyncio.gather(attributes, policies_read)
            cfg.from_read("ssl_policies", policies, ssl_policies)
        else:
            attrs = await attributes
            cfg.put("ssl_policies", {})
        cfg.from_read("access_log", attrs, access_log)
        cfg.from_read("cross_zone_load_balancing", attrs, cross_zone)
        own_tags = tags.get(name, {})
        if isinstance(own_tags, CallError):
            cfg.fail("tags", own_tags)
            own_tags = {}
        await ctx.emit(
            Resource(
                resource_type=LOAD_BALANCER,
                arn=arn,
                name=name,
                region=ctx.region,
                configuration=cfg.build(),
                tags=own_tags,
            )
        )
