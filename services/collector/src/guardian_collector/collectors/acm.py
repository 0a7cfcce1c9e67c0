"""AWS Certificate Manager: certificates, one unit per region.

ListCertificates is the primary listing. It asks for every key type explicitly: without
``Includes.keyTypes`` ACM leaves out certificates with keys other than RSA 1024 and RSA 2048, and a
weak or unusual key must not disappear from view. DescribeCertificate per certificate supplies the
status, key algorithm, validity and renewal details the checks read (all unreadable together when
that call fails). Tags are supplementary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from guardian_collector.collectors._compute_network import iso, sorted_strings
from guardian_collector.collectors.base import (
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "acm"
CERTIFICATE = "AWS::CertificateManager::Certificate"
ALL_KEY_TYPES = (
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
)
# The fields DescribeCertificate supplies, and where they come from.
DETAIL_FIELDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "status": lambda c: c.get("Status"),
    "type": lambda c: c.get("Type"),
    "key_algorithm": lambda c: c.get("KeyAlgorithm"),
    "not_before": lambda c: iso(c.get("NotBefore")),
    "not_after": lambda c: iso(c.get("NotAfter")),
    "in_use_by": lambda c: sorted_strings(c.get("InUseBy")),
    "renewal_eligibility": lambda c: c.get("RenewalEligibility"),
    "renewal_status": lambda c: (c.get("RenewalSummary") or {}).get("RenewalStatus"),
    "subject_alternative_names": lambda c: sorted_strings(c.get("SubjectAlternativeNames")),
}


@register
class AcmCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "acm:ListCertificates",
        "acm:DescribeCertificate",
        "acm:ListTagsForCertificate",
    )
    resource_types: ClassVar[tuple[str, ...]] = (CERTIFICATE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        summaries = await ctx.list_all(
            client, "list_certificates", "CertificateSummaryList", Includes={"keyTypes": list(ALL_KEY_TYPES)}
        )
        await asyncio.gather(*(self._certificate(ctx, client, s) for s in summaries))

    async def _certificate(self, ctx: UnitContext, client: Any, summary: Mapping[str, Any]) -> None:
        arn = str(summary["CertificateArn"])
        detail, tags = await asyncio.gather(
            ctx.read(client, "describe_certificate", resource_arn=arn, CertificateArn=arn),
            ctx.read(client, "list_tags_for_certificate", resource_arn=arn, supplementary=True, CertificateArn=arn),
        )
        cfg = ConfigBuilder(domain_name=summary.get("DomainName"))
        for field, pick in DETAIL_FIELDS.items():
            if detail.error is not None:
                cfg.fail(field, detail.error)
            else:
                cfg.put(field, pick(detail.value.get("Certificate") or {}))
        if tags.error is not None:
            cfg.fail("tags", tags.error)
        await ctx.emit(
            Resource(
                resource_type=CERTIFICATE,
                arn=arn,
                name=str(summary.get("DomainName") or arn.rsplit("/", 1)[-1]),
                region=ctx.region,
                configuration=cfg.build(),
                tags={} if tags.error is not None else tags_of(tags.value.get("Tags")),
            )
        )
