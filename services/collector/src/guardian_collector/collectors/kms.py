"""AWS KMS: the account's customer managed keys, one unit per region.

ListKeys is the primary listing. Each key is described; keys AWS manages (``KeyManager`` AWS, or an
alias in the reserved ``alias/aws/`` namespace, which only AWS can create) are not the account's to
configure and are skipped. For each customer managed key the collector reads the rotation status
(for symmetric encryption keys with key material from KMS, the only ones that rotate automatically),
the default key policy and the tags.

A key whose DescribeKey fails is still emitted, with every field unreadable: whether it is customer
managed is unknown, so its checks are ERROR rather than silently dropped.

:func:`key_manager` is shared with the collectors that judge which kind of key protects a data store
(DynamoDB, Secrets Manager, AWS Backup).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Read,
    Resource,
    UnitContext,
    UnitFailed,
    register,
    tags_of,
)

SERVICE = "kms"
KEY = "AWS::KMS::Key"
AWS_ALIAS_PREFIX = "alias/aws/"
# Keys whose rotation status can be asked for and that KMS can rotate automatically.
ROTATABLE_SPEC = "SYMMETRIC_DEFAULT"
ROTATABLE_ORIGIN = "AWS_KMS"
LIVE_STATES = ("Enabled", "Disabled")
KEY_FIELDS = ("key_manager", "key_state", "key_spec", "key_usage", "origin", "rotation_enabled", "policy")


def iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)


async def key_manager(ctx: UnitContext, key_id: str, region: str | None = None) -> Read:
    """Who manages the KMS key ``key_id`` (an id, ARN or alias): ``"AWS"`` or ``"CUSTOMER"``."""
    client = await ctx.client(SERVICE, region)
    read = await ctx.read(client, "describe_key", KeyId=key_id)
    if read.error is not None:
        return read
    metadata = (read.value or {}).get("KeyMetadata") or {}
    return Read(value=metadata.get("KeyManager"))


def region_of_arn(arn: str) -> str | None:
    """The region of an ``arn:partition:service:region:...`` ARN, or ``None`` for a bare id."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None


def policy_document(answer: Mapping[str, Any]) -> Any:
    return json.loads(str(answer.get("Policy") or "{}"))


@register
class KmsCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
        "kms:GetKeyPolicy",
        "kms:ListResourceTags",
    )
    resource_types: ClassVar[tuple[str, ...]] = (KEY,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        keys, aliases = await asyncio.gather(ctx.list_all(client, "list_keys", "Keys"), self._aliases(ctx, client))
        await asyncio.gather(*(self._key(ctx, client, key, aliases) for key in keys))

    async def _aliases(self, ctx: UnitContext, client: Any) -> dict[str, list[str]] | CallError:
        by_key: dict[str, list[str]] = {}
        try:
            async for page in ctx.pages(client, "list_aliases"):
                for alias in page.get("Aliases") or []:
                    if alias.get("TargetKeyId") and alias.get("AliasName"):
                        by_key.setdefault(str(alias["TargetKeyId"]), []).append(str(alias["AliasName"]))
        except UnitFailed as exc:
            # Not the primary listing: keys are still judged by DescribeKey's KeyManager.
            return exc.error
        return {k: sorted(v) for k, v in by_key.items()}

    async def _key(
        self, ctx: UnitContext, client: Any, key: Mapping[str, Any], aliases: dict[str, list[str]] | CallError
    ) -> None:
        key_id = str(key["KeyId"])
        arn = str(key.get("KeyArn") or ctx.arn(SERVICE, f"key/{key_id}"))
        key_aliases = aliases.get(key_id, []) if isinstance(aliases, dict) else []
        described = await ctx.read(client, "describe_key", resource_arn=arn, KeyId=key_id)
        cfg = ConfigBuilder(key_id=key_id)
        if isinstance(aliases, CallError):
            cfg.fail("aliases", aliases)
        else:
            cfg.put("aliases", key_aliases)
        if described.error is not None:
            for name in KEY_FIELDS:
                cfg.fail(name, described.error)
            await ctx.emit(
                Resource(resource_type=KEY, arn=arn, name=key_id, region=ctx.region, configuration=cfg.build())
            )
            return
        metadata = (described.value or {}).get("KeyMetadata") or {}
        if metadata.get("KeyManager") == "AWS" or any(a.startswith(AWS_ALIAS_PREFIX) for a in key_aliases):
            return  # an AWS managed key: not the account's to configure
        state = metadata.get("KeyState")
        spec = metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec")
        # A SYMMETRIC_DEFAULT key is always an encryption key (moto leaves KeyUsage out when not given).
        rotatable = spec == ROTATABLE_SPEC and metadata.get("Origin") == ROTATABLE_ORIGIN
        cfg.put("description", metadata.get("Description"))
        cfg.put("key_manager", metadata.get("KeyManager"))
        cfg.put("key_state", state)
        cfg.put("enabled", metadata.get("Enabled"))
        cfg.put("key_spec", spec)
        cfg.put("key_usage", metadata.get("KeyUsage") or ("ENCRYPT_DECRYPT" if spec == ROTATABLE_SPEC else None))
        cfg.put("origin", metadata.get("Origin"))
        cfg.put("multi_region", metadata.get("MultiRegion"))
        cfg.put("created", iso(metadata.get("CreationDate")))
        cfg.put("deletion_date", iso(metadata.get("DeletionDate")))
        cfg.put("rotation_supported", rotatable)

        async def rotation() -> Read | None:
            if not rotatable or state not in LIVE_STATES:
                return None  # KMS cannot rotate it, or it is being deleted or imported
            return await ctx.read(client, "get_key_rotation_status", resource_arn=arn, KeyId=key_id)

        status, policy, tags = await asyncio.gather(
            rotation(),
            ctx.read(client, "get_key_policy", resource_arn=arn, KeyId=key_id, PolicyName="default"),
            ctx.read(client, "list_resource_tags", resource_arn=arn, supplementary=True, KeyId=key_id),
        )
        if status is None:
            cfg.put("rotation_enabled", None)
        else:
            cfg.from_read("rotation_enabled", status, lambda a: a.get("KeyRotationEnabled"))
        if policy.error is not None:
            cfg.fail("policy", policy.error)
        else:
            try:
                cfg.put("policy", policy_document(policy.value or {}))
            except ValueError as exc:
                cfg.fail("policy", CallError("get_key_policy", "MalformedPolicyDocument", str(exc), arn))
        if tags.error is not None:
            cfg.fail("tags", tags.error)
        await ctx.emit(
            Resource(
                resource_type=KEY,
                arn=arn,
                name=key_id,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of((tags.value or {}).get("Tags"), key="TagKey", value="TagValue"),
            )
        )
