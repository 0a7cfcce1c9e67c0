"""Amazon ECR: every private repository of each region, with scanning, tag mutability and policy.

DescribeRepositories is the primary listing (``imageScanningConfiguration.scanOnPush``,
``imageTagMutability``). Per repository: GetRepositoryPolicy (``RepositoryPolicyNotFoundException``:
no policy). Once per region: GetRegistryScanningConfiguration, whose rules (basic scan-on-push or
enhanced scanning, each with repository filters) apply to every repository they match; the rules
that match a repository are joined into its configuration.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import put_policy
from guardian_collector.collectors.base import Collector, ConfigBuilder, Read, Resource, UnitContext, register

REPOSITORY_TYPE = "AWS::ECR::Repository"


def matching_rules(scanning: Mapping[str, Any], repository: str) -> dict[str, Any]:
    """The registry scanning type and the rules whose filters match ``repository``."""
    rules = []
    for rule in scanning.get("rules") or []:
        filters = [str(f.get("filter")) for f in rule.get("repositoryFilters") or [] if f.get("filter")]
        if any(fnmatch.fnmatchcase(repository, f) for f in filters):
            rules.append({"scan_frequency": rule.get("scanFrequency"), "filters": filters})
    return {"scan_type": scanning.get("scanType"), "rules": rules}


@register
class EcrCollector(Collector):
    service = "ecr"
    permissions = ("ecr:DescribeRepositories", "ecr:GetRepositoryPolicy", "ecr:GetRegistryScanningConfiguration")
    resource_types = (REPOSITORY_TYPE,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client("ecr")
        repositories = await ctx.list_all(client, "describe_repositories", "repositories")
        if not repositories:
            return
        scanning = await ctx.read(client, "get_registry_scanning_configuration")
        await asyncio.gather(*(self._repository(ctx, client, r, scanning) for r in repositories))

    async def _repository(self, ctx: UnitContext, client: Any, repo: Mapping[str, Any], scanning: Read) -> None:
        name = str(repo["repositoryName"])
        arn = str(repo["repositoryArn"])
        cfg = ConfigBuilder(
            name=name,
            arn=arn,
            uri=repo.get("repositoryUri"),
            scan_on_push=bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush", False)),
            tag_mutability=repo.get("imageTagMutability"),
            encryption_type=(repo.get("encryptionConfiguration") or {}).get("encryptionType"),
        )
        policy = await ctx.read(
            client,
            "get_repository_policy",
            absent=("RepositoryPolicyNotFoundException",),
            resource_arn=arn,
            repositoryName=name,
        )
        put_policy(ctx, cfg, "policy", policy, arn, "get_repository_policy", key="policyText")
        cfg.from_read(
            "registry_scanning", scanning, lambda v: matching_rules(v.get("scanningConfiguration") or {}, name)
        )
        await ctx.emit(
            Resource(
                resource_type=REPOSITORY_TYPE, arn=arn, name=name, region=ctx.unit_region, configuration=cfg.build()
            )
        )
