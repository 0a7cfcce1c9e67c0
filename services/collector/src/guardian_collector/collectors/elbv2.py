"""Elastic Load Balancing v2: Application, Network and Gateway Load Balancers and target groups.

One unit per region. DescribeLoadBalancers and DescribeTargetGroups are primary listings: if one
fails the unit is FAILED, although what the other returned is still emitted. Joined per load
balancer, each failure turning only its own field unreadable:

- DescribeListeners (every page): protocol, port, TLS policy and default actions of each listener;
- DescribeRules for each plain HTTP listener of an Application Load Balancer: the actions of every
  rule, so a listener counts as redirecting only if *all* its rules redirect to HTTPS;
- DescribeLoadBalancerAttributes: access logs, deletion protection, invalid header handling,
  cross-zone load balancing, as a ``{key: value}`` map;
- DescribeTags, 20 resources per call, supplementary (no check reads tags).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors._compute_network import batched, read_all, sorted_strings
from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "elbv2"
LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})


def action_summary(action: Mapping[str, Any]) -> dict[str, Any]:
    redirect = action.get("RedirectConfig") or {}
    return {"type": action.get("Type"), "redirect_protocol": redirect.get("Protocol")}


def listener_summary(listener: Mapping[str, Any]) -> dict[str, Any]:
    protocol = str(listener.get("Protocol") or "").upper() or None
    return {
        "arn": listener.get("ListenerArn"),
        "protocol": protocol,
        "port": listener.get("Port"),
        # AWS (and moto) may report a policy on plain listeners too; only TLS listeners use one.
        "ssl_policy": listener.get("SslPolicy") if protocol in TLS_PROTOCOLS else None,
        "default_actions": [action_summary(a) for a in listener.get("DefaultActions") or []],
    }


def attributes_map(answer: Mapping[str, Any]) -> dict[str, str]:
    return {str(a.get("Key")): str(a.get("Value")) for a in answer.get("Attributes") or [] if a.get("Key")}


def target_group_configuration(group: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": group.get("TargetGroupName"),
        "protocol": group.get("Protocol"),
        "port": group.get("Port"),
        "target_type": group.get("TargetType"),
        "vpc_id": group.get("VpcId"),
        "load_balancer_arns": sorted_strings(group.get("LoadBalancerArns")),
        "health_check": {
            "enabled": group.get("HealthCheckEnabled"),
            "protocol": group.get("HealthCheckProtocol"),
            "port": group.get("HealthCheckPort"),
            "path": group.get("HealthCheckPath"),
            "interval_seconds": group.get("HealthCheckIntervalSeconds"),
            "timeout_seconds": group.get("HealthCheckTimeoutSeconds"),
            "healthy_threshold": group.get("HealthyThresholdCount"),
            "unhealthy_threshold": group.get("UnhealthyThresholdCount"),
            "matcher": (group.get("Matcher") or {}).get("HttpCode") or (group.get("Matcher") or {}).get("GrpcCode"),
        },
    }


@register
class Elbv2Collector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTags",
    )
    resource_types: ClassVar[tuple[str, ...]] = (LOAD_BALANCER, TARGET_GROUP)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        results = await asyncio.gather(
            self._load_balancers(ctx, client), self._target_groups(ctx, client), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _tags(self, ctx: UnitContext, client: Any, arns: list[str]) -> dict[str, dict[str, str] | CallError]:
        found: dict[str, dict[str, str] | CallError] = {}
        for chunk in batched(arns, 20):
            answer = await ctx.read(client, "describe_tags", supplementary=True, ResourceArns=chunk)
            for arn in chunk:
                found[arn] = answer.error if answer.error is not None else {}
            if answer.error is None:
                for entry in answer.value.get("TagDescriptions") or []:
                    found[str(entry.get("ResourceArn"))] = tags_of(entry.get("Tags"))
        return found

    async def _load_balancers(self, ctx: UnitContext, client: Any) -> None:
        balancers = await ctx.list_all(client, "describe_load_balancers", "LoadBalancers")
        tags = await self._tags(ctx, client, [str(b["LoadBalancerArn"]) for b in balancers])
        await asyncio.gather(*(self._load_balancer(ctx, client, b, tags) for b in balancers))

    async def _http_actions(
        self, ctx: UnitContext, client: Any, listeners: list[dict[str, Any]]
    ) -> dict[str, list[dict[str, Any]]] | CallError:
        """The actions of every rule of each plain HTTP listener, by port."""
        plain = [li for li in listeners if li["protocol"] == "HTTP" and li["arn"]]
        answers = await asyncio.gather(
            *(read_all(ctx, client, "describe_rules", "Rules", ListenerArn=li["arn"]) for li in plain)
        )
        actions: dict[str, list[dict[str, Any]]] = {}
        for listener, rules in zip(plain, answers, strict=True):
            if isinstance(rules, CallError):
                return rules
            actions[str(listener["port"])] = [
                action_summary(a) for rule in rules for a in rule.get("Actions") or [] if a.get("Type")
            ]
        return actions

    async def _load_balancer(
        self,
        ctx: UnitContext,
        client: Any,
        balancer: Mapping[str, Any],
        tags: Mapping[str, dict[str, str] | CallError],
    ) -> None:
        arn = str(balancer["LoadBalancerArn"])
        kind = balancer.get("Type")
        cfg = ConfigBuilder(
            name=balancer.get("LoadBalancerName"),
            type=kind,
            scheme=balancer.get("Scheme"),
            dns_name=balancer.get("DNSName"),
            vpc_id=balancer.get("VpcId"),
            state=(balancer.get("State") or {}).get("Code"),
            ip_address_type=balancer.get("IpAddressType"),
            availability_zones=sorted_strings(z.get("ZoneName") for z in balancer.get("AvailabilityZones") or []),
        )
        listeners, attributes = await asyncio.gather(
            read_all(ctx, client, "describe_listeners", "Listeners", LoadBalancerArn=arn),
            ctx.read(client, "describe_load_balancer_attributes", resource_arn=arn, LoadBalancerArn=arn),
        )
        if isinstance(listeners, CallError):
            cfg.fail("listeners", listeners)
            cfg.fail("http_listener_actions", listeners)
        else:
            summaries = sorted((listener_summary(li) for li in listeners), key=lambda li: int(li["port"] or 0))
            cfg.put("listeners", summaries)
            actions = await self._http_actions(ctx, client, summaries) if kind == "application" else {}
            if isinstance(actions, CallError):
                cfg.fail("http_listener_actions", actions)
            else:
                cfg.put("http_listener_actions", actions)
        cfg.from_read("attributes", attributes, attributes_map)
        own_tags = tags.get(arn, {})
        if isinstance(own_tags, CallError):
            cfg.fail("tags", own_tags)
            own_tags = {}
        await ctx.emit(
            Resource(
                resource_type=LOAD_BALANCER,
                arn=arn,
                name=str(balancer.get("LoadBalancerName") or arn.rsplit("/", 2)[-2]),
                region=ctx.region,
                configuration=cfg.build(),
                tags=own_tags,
            )
        )

    async def _target_groups(self, ctx: UnitContext, client: Any) -> None:
        groups = await ctx.list_all(client, "describe_target_groups", "TargetGroups")
        tags = await self._tags(ctx, client, [str(g["TargetGroupArn"]) for g in groups])
        for group in groups:
            arn = str(group["TargetGroupArn"])
            cfg = ConfigBuilder(**target_group_configuration(group))
            own_tags = tags.get(arn, {})
            if isinstance(own_tags, CallError):
                cfg.fail("tags", own_tags)
                own_tags = {}
            await ctx.emit(
                Resource(
                    resource_type=TARGET_GROUP,
                    arn=arn,
                    name=str(group.get("TargetGroupName") or arn),
                    region=ctx.region,
                    configuration=cfg.build(),
                    tags=own_tags,
                )
            )
