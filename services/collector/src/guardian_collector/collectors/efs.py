"""Amazon EFS: file systems, one unit per region.

DescribeFileSystems is the primary listing (encryption, tags). Each file system's automatic backup
policy is read with DescribeBackupPolicy; ``PolicyNotFound`` means no policy, which is the same as
automatic backups being off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from guardian_collector.collectors.base import (
    Collector,
    ConfigBuilder,
    Resource,
    UnitContext,
    register,
    tags_of,
)

SERVICE = "efs"
FILE_SYSTEM = "AWS::EFS::FileSystem"
NO_POLICY = "PolicyNotFound"


@register
class EfsCollector(Collector):
    service: ClassVar[str] = SERVICE
    permissions: ClassVar[tuple[str, ...]] = (
        "elasticfilesystem:DescribeFileSystems",
        "elasticfilesystem:DescribeBackupPolicy",
    )
    resource_types: ClassVar[tuple[str, ...]] = (FILE_SYSTEM,)

    async def collect(self, ctx: UnitContext) -> None:
        client = await ctx.client(SERVICE)
        systems = await ctx.list_all(client, "describe_file_systems", "FileSystems")
        await asyncio.gather(*(self._file_system(ctx, client, fs) for fs in systems))

    async def _file_system(self, ctx: UnitContext, client: Any, fs: Mapping[str, Any]) -> None:
        fs_id = str(fs["FileSystemId"])
        arn = str(fs.get("FileSystemArn") or ctx.arn("elasticfilesystem", f"file-system/{fs_id}"))
        cfg = ConfigBuilder(
            file_system_id=fs_id,
            name=fs.get("Name") or None,
            life_cycle_state=fs.get("LifeCycleState"),
            encrypted=fs.get("Encrypted"),
            kms_key_id=fs.get("KmsKeyId"),
            performance_mode=fs.get("PerformanceMode"),
            throughput_mode=fs.get("ThroughputMode"),
        )
        policy = await ctx.read(
            client, "describe_backup_policy", absent=(NO_POLICY,), resource_arn=arn, FileSystemId=fs_id
        )
        cfg.from_read(
            "backup_policy", policy, lambda a: (a.get("BackupPolicy") or {}).get("Status"), when_absent="DISABLED"
        )
        await ctx.emit(
            Resource(
                resource_type=FILE_SYSTEM,
                arn=arn,
                name=fs_id,
                region=ctx.region,
                configuration=cfg.build(),
                tags=tags_of(fs.get("Tags")),
            )
        )
