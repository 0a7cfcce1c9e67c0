"""IAM Access Analyzer: the analyzers of each region.

No resource is emitted. Each region's ``AWS::::Account`` snapshot gets ``access_analyzers``:
``[{"name", "arn", "type", "status"}]`` from ListAnalyzers (every type: the external-access
types ACCOUNT and ORGANIZATION, and the unused-access ones).
"""

from __future__ import annotations

from typing import Any

from guardian_collector.collectors._gd_shared import read_pages
from guardian_collector.collectors.base import Collector, Facts, UnitContext, register
from guardian_collector.collectors.guardduty import regional_fields

SERVICE = "accessanalyzer"
FACT = "analyzers"


@register
class AccessAnalyzerCollector(Collector):
    service = SERVICE
    permissions = ("access-analyzer:ListAnalyzers",)
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("accessanalyzer")
        analyzers = await read_pages(
            ctx, client, "list_analyzers", "analyzers", token_in="nextToken", token_out="nextToken"
        )
        if analyzers.error is not None:
            ctx.facts.put_error(SERVICE, FACT, analyzers.error.describe(), region=ctx.unit_region)
            return
        ctx.facts.put(
            SERVICE,
            FACT,
            [
                {"name": a.get("name"), "arn": a.get("arn"), "type": a.get("type"), "status": a.get("status")}
                for a in analyzers.value or []
            ],
            region=ctx.unit_region,
        )

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        return regional_fields(facts, SERVICE, region, ((FACT, "access_analyzers"),))
