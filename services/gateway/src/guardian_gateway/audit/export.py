"""Chain heads leave the database on a schedule, to a place an attacker with the database cannot rewrite.

Two destinations: a file of JSON lines (append-only; put it on other storage, or ship it), or an S3
bucket with Object Lock where each head is an object in COMPLIANCE mode that nobody, the root user
included, can delete or overwrite before its retain-until date. Verification reads them back and
compares each with the stored chain (see :func:`guardian_gateway.audit.chain.check_heads`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from aiobotocore.session import get_session

from guardian_common import db
from guardian_common.logging import get_logger
from guardian_gateway.audit.chain import Head, canonical_json
from guardian_gateway.audit.repository import AuditRepository

log = get_logger("guardian.gateway.audit")


class HeadsUnreadable(RuntimeError):
    """The exported heads could not be read back (a missing bucket, a damaged line)."""


class HeadSink(Protocol):
    @property
    def destination(self) -> str: ...

    async def write(self, head: Head) -> None: ...

    async def read(self) -> list[Head]: ...


def parse_lines(text: str, where: str) -> list[Head]:
    heads: list[Head] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            heads.append(Head.from_json(json.loads(line)))
        except ValueError as exc:
            raise HeadsUnreadable(f"{where} line {number}: {exc}") from exc
    return heads


@dataclass(frozen=True)
class FileHeadSink:
    """Append-only JSON lines: {"seq": ..., "hash": ..., "at": ...}."""

    path: Path

    @property
    def destination(self) -> str:
        return f"file:{self.path}"

    async def write(self, head: Head) -> None:
        await asyncio.to_thread(self._append, canonical_json(head.to_json()) + "\n")

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: concurrent writers never overwrite each other's lines; fsync: a head written is kept.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    async def read(self) -> list[Head]:
        if not self.path.exists():
            return []
        text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        return parse_lines(text, str(self.path))


@dataclass(frozen=True)
class S3HeadSink:
    """One object per head, under ``prefix``, locked in COMPLIANCE mode for ``retain_days``."""

    bucket: str
    prefix: str
    retain_days: int
    clock: Callable[[], datetime]
    region: str = "us-east-1"
    endpoint_url: str | None = None

    @property
    def destination(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _client(self) -> Any:
        return get_session().create_client("s3", region_name=self.region, endpoint_url=self.endpoint_url)

    def key(self, seq: int) -> str:
        # Zero-padded, so listing order is chain order.
        return f"{self.prefix}{seq:020d}.json"

    async def write(self, head: Head) -> None:
        retain_until = self.clock() + timedelta(days=self.retain_days)
        async with self._client() as s3:
            await s3.put_object(
                Bucket=self.bucket,
                Key=self.key(head.seq),
                Body=canonical_json(head.to_json()).encode(),
                ContentType="application/json",
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=retain_until,
            )

    async def read(self) -> list[Head]:
        heads: list[Head] = []
        try:
            async with self._client() as s3:
                paginator = s3.get_paginator("list_objects_v2")
                async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                    for item in page.get("Contents", []):
                        answer = await s3.get_object(Bucket=self.bucket, Key=item["Key"])
                        async with answer["Body"] as body:
                            raw = await body.read()
                        heads.extend(parse_lines(raw.decode(), f"s3://{self.bucket}/{item['Key']}"))
        except HeadsUnreadable:
            raise
        except Exception as exc:
            raise HeadsUnreadable(f"the chain heads in {self.destination} could not be read: {exc}") from exc
        return heads


async def export_once(pool: asyncpg.Pool, sink: HeadSink, now: datetime) -> Head | None:
    """Export the current head if it moved since the last export here; the head exported, or None."""
    async with db.transaction(pool) as conn:
        repo = AuditRepository(conn)
        if not await repo.claim_export():
            return None  # another replica is exporting at this moment
        head = await repo.head()
        if head is None or head.seq <= await repo.last_export(sink.destination):
            return None
        # Written outside first: a head recorded as exported is always really outside.
        await sink.write(head)
        await repo.record_export(sink.destination, head, now)
    log.info("audit_head_exported", seq=head.seq, destination=sink.destination)
    return head


async def export_forever(pool: asyncpg.Pool, sink: HeadSink, every: float, clock: Callable[[], datetime]) -> None:
    while True:
        try:
            await export_once(pool, sink, clock())
        except Exception as exc:
            log.warning("audit_head_export_failed", destination=sink.destination, error=str(exc))
        await asyncio.sleep(every)
