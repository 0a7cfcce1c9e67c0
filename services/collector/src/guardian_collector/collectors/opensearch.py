"""Amazon OpenSearch Service: domains (OpenSearch and legacy Elasticsearch), one unit per region.

ListDomainNames is the primary listing; DescribeDomains answers for up to five domains a call. A
batch whose description fails still emits its domains, every setting unreadable. Tags are read per
domain (supplementary: no check needs them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "opensearch"
DOMAIN = "AWS::OpenSearchService::Domain"
BATCH = 5
DOMAIN_FIELDS = (
    "node_to_node_encryption",
    "encryption_at_rest",
    "enforce_https",
    "tls_security_policy",
    "audit_logs",
    "in_vpc",
    "fine_grained_access_control",
)


def domain_settings(domain: Mapping[str, Any]) -> dict[str, Any]:
    vpc = domain.get("VPCOptions") or {}
    endpoint = domain.get("DomainEndpointOptions") or {}
    audit = (domain.get("LogPublishingOptions") or {}).get("AUDIT_LOGS") or {}
    at_rest = domain.get("EncryptionAtRestOptions") or {}
    return {
        "engine_version": domain.get("EngineVersion"),
        # Option blocks an older engine version does not have are absent: the feature is off.
        "node_to_node_encryption": bool((domain.get("NodeToNodeEncryptionOptions") or {}).get("Enabled", False)),
        "encryption_at_rest": bool(at_rest.get("Enabled", False)),
        "encryption_kms_key_id": at_rest.get("KmsKeyId"),
        "enforce_https": bool(endpoint.get("EnforceHTTPS", False)),
        "tls_security_policy": endpoint.get("TLSSecurityPolicy"),
        "audit_logs": {
            "enabled": bool(audit.get("Enabled", False)),
            "destination": audit.get("CloudWatchLogsLogGroupArn"),
        },
        # A domain in a VPC reports its VPC (AWS) or at least its subnets (moto); a public one neither.
        "in_vpc": bool(vpc.get("VPCId") or vpc.get("SubnetIds")),
        "vpc_id": vpc.get("VPCId"),
        "public_endpoint": domain.get("Endpoint"),
        "fine_grained_access_control": bool((domain.get("AdvancedSecurityOptions") or {}).get("Enabled", False)),
    }


@register
class OpenSearchCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = ("es:ListDomainNames", "es:DescribeDomains", "es:ListTags")
    resource_types: ClassVar[tuple[str, ...]] = (DOMAIN,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        names = sorted(str(d["DomainName"]) for d in await ctx.list_all(client, "list_domain_names", "DomainNames"))
        batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]
        await asyncio.gather(*(self._batch(ctx, client, batch) for batch in batches))

    async def _batch(self, ctx: UnitContext, client: Any, names: list[str]) -> None:
        described = await ctx.read(client, "describe_domains", DomainNames=names)
        statuses = {str(d.get("DomainName")): d for d in ((described.value or {}).get("DomainStatusList") or [])}
        await asyncio.gather(*(self._domain(ctx, client, name, statuses.get(name), described.error) for name in names))

    async def _domain(
        self, ctx: UnitContext, client: Any, name: str, domain: Mapping[str, Any] | None, error: CallError | None
    ) -> None:
        arn = str((domain or {}).get("ARN") or ctx.arn("es", f"domain/{name}"))
        cfg = ConfigBuilder(domain_name=name)
        if domain is None:
            why = error
            if why is None:
                why = CallError("describe_domains", "NotDescribed", f"DescribeDomains did not return {name}", arn)
                ctx.record(why)
            for field in DOMAIN_FIELDS:
                cfg.fail(field, why)
        else:
            for field, value in domain_settings(domain).items():
                cfg.put(field, value)
        tags = await ctx.read(client, "list_tags", resource_arn=arn, supplementary=True, ARN=arn)
        if tags.error is not None:
            cfg.fail("tags", tags.error)
        await ctx.emit(
            Resource(
                resource_type=DOMAIN,
                arn=arn,
                name=name,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of((tags.value or {}).get("TagList")),
            )
        )
