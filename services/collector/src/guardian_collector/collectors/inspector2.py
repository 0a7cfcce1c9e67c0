"""Amazon Inspector (v2): scanning status per region and the open critical findings.

No resource is emitted. Each region's ``AWS::::Account`` snapshot gets:

* ``inspector2``: ``{"status", "resource_state": {"ec2": "ENABLED", "ecr": ..., ...}}`` for this
  account, from BatchGetAccountStatus;
* ``inspector2_critical_findings``: ``{"findings": [{"arn", "title", "first_observed",
  "resources"}], "truncated"}``: ACTIVE findings of CRITICAL severity, oldest first (ListFindings
  sorted by first observation), up to :data:`MAX_PAGES` pages. The oldest come first, so even a
  truncated list shows whether any critical finding is older than a threshold.
"""

from __future__ import annotations

from typing import Any

from guardian_collector.collectors.base import CallError, Collector, Facts, UnitContext, register
from guardian_collector.collectors.guardduty import regional_fields
from guardian_collector.collectors.iam import iso

SERVICE = "inspector2"
STATUS_FACT = "status"
FINDINGS_FACT = "critical_findings"
MAX_PAGES = 10
PAGE_SIZE = 100

CRITICAL_ACTIVE = {
    "severity": [{"comparison": "EQUALS", "value": "CRITICAL"}],
    "findingStatus": [{"comparison": "EQUALS", "value": "ACTIVE"}],
}


@register
class Inspector2Collector(Collector):
    service = SERVICE
    permissions = ("inspector2:BatchGetAccountStatus", "inspector2:ListFindings")
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        client = await ctx.client("inspector2")
        status = await ctx.read(client, "batch_get_account_status", accountIds=[ctx.account_id])
        if status.error is not None:
            ctx.facts.put_error(SERVICE, STATUS_FACT, status.error.describe(), region=region)
        else:
            mine = [a for a in status.value.get("accounts") or [] if a.get("accountId") == ctx.account_id]
            failures = [f for f in status.value.get("failedAccounts") or [] if f.get("accountId") == ctx.account_id]
            if mine:
                account = mine[0]
                ctx.facts.put(
                    SERVICE,
                    STATUS_FACT,
                    {
                        "status": (account.get("state") or {}).get("status"),
                        "resource_state": {
                            str(kind): (state or {}).get("status")
                            for kind, state in (account.get("resourceState") or {}).items()
                        },
                    },
                    region=region,
                )
            else:
                why = failures[0].get("errorMessage") if failures else "the answer does not mention this account"
                error = CallError("batch_get_account_status", "AccountStatusMissing", str(why))
                ctx.record(error)
                ctx.facts.put_error(SERVICE, STATUS_FACT, error.describe(), region=region)
        await self._findings(ctx, client, region)

    async def _findings(self, ctx: UnitContext, client: Any, region: str) -> None:
        findings: list[dict[str, Any]] = []
        token: str | None = None
        truncated = False
        for page in range(MAX_PAGES):
            args: dict[str, Any] = {
                "filterCriteria": CRITICAL_ACTIVE,
                "sortCriteria": {"field": "FIRST_OBSERVED_AT", "sortOrder": "ASC"},
                "maxResults": PAGE_SIZE,
            }
            if token:
                args["nextToken"] = token
            read = await ctx.read(client, "list_findings", **args)
            if read.error is not None:
                ctx.facts.put_error(SERVICE, FINDINGS_FACT, read.error.describe(), region=region)
                return
            for finding in read.value.get("findings") or []:
                findings.append(
                    {
                        "arn": finding.get("findingArn"),
                        "title": finding.get("title"),
                        "severity": finding.get("severity"),
                        "status": finding.get("status"),
                        "first_observed": iso(finding.get("firstObservedAt")),
                        "resources": sorted(str(r.get("id")) for r in finding.get("resources") or []),
                    }
                )
            token = read.value.get("nextToken") or None
            if not token:
                break
            truncated = page + 1 == MAX_PAGES
        ctx.facts.put(SERVICE, FINDINGS_FACT, {"findings": findings, "truncated": truncated}, region=region)

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        return regional_fields(
            facts, SERVICE, region, ((STATUS_FACT, "inspector2"), (FINDINGS_FACT, "inspector2_critical_findings"))
        )
