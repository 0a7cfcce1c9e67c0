"""Amazon CloudFront: distributions, listed once per account (a global unit).

ListDistributions is the primary listing. GetDistributionConfig per distribution supplies every
setting the checks read (viewer protocol policies, viewer certificate, standard logging, web ACL,
origins); if it fails they are all unreadable together. Tags are supplementary.

CloudFront has two kinds of standard access logging: the legacy one in the distribution's own
``Logging`` setting, and log delivery through CloudWatch Logs (a delivery source naming the
distribution with a delivery attached). The second is read once for the whole account from
CloudWatch Logs in the home region (where CloudFront's delivery sources live) and joined into each
distribution as ``log_deliveries``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors._compute_network import items_of, read_all, sorted_strings
from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "cloudfront"
DISTRIBUTION = "AWS::CloudFront::Distribution"

# S3 REST endpoints (bucket.s3.amazonaws.com, bucket.s3.REGION.amazonaws.com, legacy bucket.s3-REGION...);
# website endpoints (s3-website) are plain HTTP origins and cannot use origin access control.
S3_WEBSITE = re.compile(r"\.s3-website[.-][a-z0-9-]+\.amazonaws\.com(\.cn)?$", re.IGNORECASE)
S3_REST = re.compile(r"\.s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$", re.IGNORECASE)

DETAIL_FIELDS = (
    "enabled",
    "aliases",
    "viewer_protocol_policies",
    "viewer_certificate",
    "logging",
    "web_acl_id",
    "origins",
)


def origin_summary(origin: Mapping[str, Any]) -> dict[str, Any]:
    domain = str(origin.get("DomainName") or "")
    s3_config = origin.get("S3OriginConfig")
    custom = origin.get("CustomOriginConfig") or {}
    if S3_WEBSITE.search(domain):
        kind = "s3_website"
    elif s3_config is not None or S3_REST.search(domain):
        kind = "s3"
    else:
        kind = "custom"
    return {
        "id": origin.get("Id"),
        "domain_name": domain,
        "kind": kind,
        "origin_access_control_id": origin.get("OriginAccessControlId") or None,
        "origin_access_identity": (s3_config or {}).get("OriginAccessIdentity") or None,
        "origin_protocol_policy": custom.get("OriginProtocolPolicy"),
    }


def distribution_settings(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the checks read, from GetDistributionConfig."""
    config = answer.get("DistributionConfig") or {}
    default = config.get("DefaultCacheBehavior") or {}
    behaviours = [{"path": "default", "policy": default.get("ViewerProtocolPolicy")}]
    behaviours += [
        {"path": b.get("PathPattern"), "policy": b.get("ViewerProtocolPolicy")}
        for b in items_of(config.get("CacheBehaviors"))
    ]
    certificate = config.get("ViewerCertificate") or {}
    logging = config.get("Logging") or {}
    return {
        "enabled": config.get("Enabled"),
        "aliases": sorted_strings(items_of(config.get("Aliases"))),
        "viewer_protocol_policies": behaviours,
        "viewer_certificate": {
            "default_certificate": bool(certificate.get("CloudFrontDefaultCertificate", False)),
            "minimum_protocol_version": certificate.get("MinimumProtocolVersion"),
            "ssl_support_method": certificate.get("SSLSupportMethod"),
            "acm_certificate_arn": certificate.get("ACMCertificateArn") or None,
            "iam_certificate_id": certificate.get("IAMCertificateId") or None,
        },
        "logging": {
            "enabled": bool(logging.get("Enabled", False)),
            "bucket": logging.get("Bucket") or None,
            "prefix": logging.get("Prefix") or None,
        },
        "web_acl_id": config.get("WebACLId") or None,
        "origins": [origin_summary(o) for o in items_of(config.get("Origins"))],
    }


@register
class CloudFrontCollector(Collector):
    service: ClassVar[str] = SERVICE
    global_service: ClassVar[bool] = True
    permissions: ClassVar[tuple[str, ...]] = (
        "cloudfront:ListDistributions",
        "cloudfront:GetDistributionConfig",
        "cloudfront:ListTagsForResource",
        "logs:DescribeDeliverySources",
        "logs:DescribeDeliveries",
    )
    resource_types: ClassVar[tuple[str, ...]] = (DISTRIBUTION,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        distributions: list[Mapping[str, Any]] = []
        async for page in ctx.pages(client, "list_distributions"):
            distributions.extend((page.get("DistributionList") or {}).get("Items") or [])
        if not distributions:
            return
        deliveries = await self._log_deliveries(ctx)
        await asyncio.gather(*(self._distribution(ctx, client, d, deliveries) for d in distributions))

    async def _log_deliveries(self, ctx: UnitContext) -> dict[str, list[dict[str, Any]]] | CallError:
        """CloudWatch Logs deliveries of CloudFront access logs, by distribution ARN."""
        logs = await ctx.client("logs")
        sources, deliveries = await asyncio.gather(
            read_all(ctx, logs, "describe_delivery_sources", "deliverySources"),
            read_all(ctx, logs, "describe_deliveries", "deliveries"),
        )
        if isinstance(sources, CallError):
            return sources
        if isinstance(deliveries, CallError):
            return deliveries
        by_source: dict[str, list[dict[str, Any]]] = {}
        for delivery in deliveries:
            by_source.setdefault(str(delivery.get("deliverySourceName")), []).append(
                {
                    "id": delivery.get("id"),
                    "destination_type": delivery.get("deliveryDestinationType"),
                    "destination_arn": delivery.get("deliveryDestinationArn"),
                }
            )
        found: dict[str, list[dict[str, Any]]] = {}
        for source in sources:
            if str(source.get("service", "")).lower() != SERVICE:
                continue
            for arn in source.get("resourceArns") or []:
                for delivery in by_source.get(str(source.get("name")), []):
                    found.setdefault(str(arn), []).append({**delivery, "log_type": source.get("logType")})
        return found

    async def _distribution(
        self,
        ctx: UnitContext,
        client: Any,
        summary: Mapping[str, Any],
        deliveries: Mapping[str, list[dict[str, Any]]] | CallError,
    ) -> None:
        distribution_id = str(summary["Id"])
        arn = str(
            summary.get("ARN") or f"arn:{ctx.partition}:cloudfront::{ctx.account_id}:distribution/{distribution_id}"
        )
        detail, tags = await asyncio.gather(
            ctx.read(client, "get_distribution_config", resource_arn=arn, Id=distribution_id),
            ctx.read(client, "list_tags_for_resource", resource_arn=arn, supplementary=True, Resource=arn),
        )
        cfg = ConfigBuilder(
            id=distribution_id,
            domain_name=summary.get("DomainName"),
            status=summary.get("Status"),
        )
        if detail.error is not None:
            for field in DETAIL_FIELDS:
                cfg.fail(field, detail.error)
        else:
            for field, value in distribution_settings(detail.value).items():
                cfg.put(field, value)
        if isinstance(deliveries, CallError):
            cfg.fail("log_deliveries", deliveries)
        else:
            cfg.put("log_deliveries", sorted(deliveries.get(arn, []), key=lambda d: str(d.get("id"))))
        if tags.error is not None:
            cfg.fail("tags", tags.error)
        await ctx.emit(
            Resource(
                resource_type=DISTRIBUTION,
                arn=arn,
                name=distribution_id,
                region=ctx.unit_region,
                configuration=cfg.build(),
                tags={} if tags.error is not None else tags_of((tags.value.get("Tags") or {}).get("Items")),
            )
        )
