"""AWS Secrets Manager: secrets, one unit per region.

ListSecrets is the primary listing and carries rotation settings, dates and tags. A secret that
names a KMS key carries who manages that key, read with KMS DescribeKey; a secret that names none
uses the AWS managed ``aws/secretsmanager`` key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)
from guardian_collector.collectors.kms import key_manager, region_of_arn

SERVICE = "secretsmanager"
SECRET = "AWS::SecretsManager::Secret"


def iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)


def secret_configuration(secret: Mapping[str, Any]) -> dict[str, Any]:
    rules = secret.get("RotationRules") or {}
    return {
        "name": secret.get("Name"),
        # ListSecrets leaves RotationEnabled out for secrets that never had rotation configured.
        "rotation_enabled": bool(secret.get("RotationEnabled", False)),
        "rotation_interval_days": rules.get("AutomaticallyAfterDays"),
        "rotation_schedule": rules.get("ScheduleExpression"),
        "rotation_lambda_arn": secret.get("RotationLambdaARN"),
        "last_rotated": iso(secret.get("LastRotatedDate")),
        "last_changed": iso(secret.get("LastChangedDate")),
        "created": iso(secret.get("CreatedDate")),
        "next_rotation": iso(secret.get("NextRotationDate")),
        "kms_key_id": secret.get("KmsKeyId"),
        "owning_service": secret.get("OwningService"),
    }


@register
class SecretsManagerCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = ("secretsmanager:ListSecrets", "kms:DescribeKey")
    resource_types: ClassVar[tuple[str, ...]] = (SECRET,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        secrets = await ctx.list_all(client, "list_secrets", "SecretList")
        await asyncio.gather(*(self._secret(ctx, secret) for secret in secrets))

    async def _secret(self, ctx: UnitContext, secret: Mapping[str, Any]) -> None:
        arn = str(secret["ARN"])
        config = secret_configuration(secret)
        cfg = ConfigBuilder(**config)
        key = config["kms_key_id"]
        if key:
            manager = await key_manager(ctx, str(key), region_of_arn(str(key)))
            cfg.from_read("key_manager", manager)
        else:
            cfg.put("key_manager", "AWS")  # the default aws/secretsmanager key
        await ctx.emit(
            Resource(
                resource_type=SECRET,
                arn=arn,
                name=str(secret.get("Name") or arn),
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of(secret.get("Tags")),
            )
        )
