"""Where evidence bytes live: a local directory (default) or an S3-compatible bucket.

An upload is written to a *pending* object (a temp file, a temp key) while it is hashed; only
once its version row is written is it promoted to its final key, inside the same database
transaction, so a failure at any step leaves neither a row nor an object. Final objects are
never overwritten: promoting onto an existing key fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from guardian_common.logging import get_logger
from guardian_evidence.settings import EvidenceSettings

log = get_logger("guardian.evidence.storage")

READ_CHUNK = 256 * 1024


class StoredObjectMissing(Exception):
    pass


class PendingObject(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def finish(self) -> None:
        """Every byte has been written."""

    async def promote(self, key: str) -> None:
        """Move the finished bytes to ``key``; fails if ``key`` exists."""

    async def discard(self) -> None:
        """Remove whatever was written; safe to call at any point, and twice."""


class Storage(Protocol):
    backend: str

    async def begin(self) -> PendingObject: ...

    def read(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    async def keys(self) -> list[str]:
        """Every object held, pending ones included (for operations and tests)."""

    async def close(self) -> None: ...


# ---------------------------------------------------------------- local filesystem


class LocalPending:
    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage
        self._path = storage.tmp_dir / f"{uuid.uuid4().hex}.part"
        self._file: BinaryIO | None = None
        self._promoted = False

    async def write(self, data: bytes) -> None:
        if self._file is None:
            self._file = await asyncio.to_thread(self._path.open, "xb")
        await asyncio.to_thread(self._file.write, data)

    async def finish(self) -> None:
        if self._file is None:
            self._file = await asyncio.to_thread(self._path.open, "xb")
        file = self._file
        await asyncio.to_thread(_flush_and_close, file)

    async def promote(self, key: str) -> None:
        final = self._storage.path_of(key)
        await asyncio.to_thread(_link_into_place, self._path, final)
        self._promoted = True

    async def discard(self) -> None:
        if self._file is not None and not self._file.closed:
            await asyncio.to_thread(self._file.close)
        await asyncio.to_thread(self._path.unlink, True)


def _flush_and_close(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()


def _link_into_place(source: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    # A hard link fails if the final name exists: an object is never replaced.
    os.link(source, final)
    final.chmod(0o440)
    source.unlink()


class LocalStorage:
    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.objects_dir = root / "objects"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.objects_dir.mkdir(parents=True, exist_ok=True)

    def path_of(self, key: str) -> Path:
        path = (self.objects_dir / key).resolve()
        if self.objects_dir.resolve() not in path.parents:
            raise ValueError(f"storage key escapes the store: {key!r}")
        return path

    async def begin(self) -> PendingObject:
        return LocalPending(self)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise StoredObjectMissing(key) from exc
        try:
            while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(file.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, True)

    async def keys(self) -> list[str]:
        return await asyncio.to_thread(self._walk)

    def _walk(self) -> list[str]:
        found = [f"tmp/{p.name}" for p in self.tmp_dir.iterdir()]
        found += [str(p.relative_to(self.objects_dir)) for p in self.objects_dir.rglob("*") if p.is_file()]
        return sorted(found)

    async def close(self) -> None:
        return None


# ---------------------------------------------------------------- S3-compatible bucket


class S3Pending:
    """Small uploads go up in one PutObject; larger ones as a multipart upload of ``part_bytes`` parts."""

    def __init__(self, storage: S3Storage) -> None:
        self._s3 = storage
        self.temp_key = f"{storage.prefix}tmp/{uuid.uuid4().hex}"
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._put = False

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self._s3.part_bytes:
            chunk = bytes(self._buffer[: self._s3.part_bytes])
            del self._buffer[: self._s3.part_bytes]
            await self._upload_part(chunk)

    async def _upload_part(self, chunk: bytes) -> None:
        client = self._s3.client
        if self._upload_id is None:
            created = await client.create_multipart_upload(Bucket=self._s3.bucket, Key=self.temp_key)
            self._upload_id = str(created["UploadId"])
        number = len(self._parts) + 1
        part = await client.upload_part(
            Bucket=self._s3.bucket, Key=self.temp_key, UploadId=self._upload_id, PartNumber=number, Body=chunk
        )
        self._parts.append({"PartNumber": number, "ETag": part["ETag"]})

    async def finish(self) -> None:
        client = self._s3.client
        if self._upload_id is None:
            await client.put_object(Bucket=self._s3.bucket, Key=self.temp_key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                await self._upload_part(bytes(self._buffer))
            await client.complete_multipart_upload(
                Bucket=self._s3.bucket,
                Key=self.temp_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
            self._upload_id = None
        self._buffer.clear()
        self._put = True

    async def promote(self, key: str) -> None:
        client = self._s3.client
        final = self._s3.full_key(key)
        if await self._s3.exists(final):
            raise FileExistsError(f"evidence object {key} already exists")
        await client.copy_object(
            Bucket=self._s3.bucket, Key=final, CopySource={"Bucket": self._s3.bucket, "Key": self.temp_key}
        )
        await client.delete_object(Bucket=self._s3.bucket, Key=self.temp_key)
        self._put = False

    async def discard(self) -> None:
        client = self._s3.client
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            await client.abort_multipart_upload(Bucket=self._s3.bucket, Key=self.temp_key, UploadId=upload_id)
        if self._put:
            self._put = False
            await client.delete_object(Bucket=self._s3.bucket, Key=self.temp_key)


class S3Storage:
    backend = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str, part_bytes: int, stack: AsyncExitStack) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_bytes = part_bytes
        self._stack = stack

    @classmethod
    async def open(cls, settings: EvidenceSettings) -> S3Storage:
        assert settings.s3_bucket is not None
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client("s3", region_name=settings.s3_region, endpoint_url=settings.s3_endpoint_url)
        )
        return cls(client, settings.s3_bucket, settings.s3_prefix, settings.s3_part_bytes, stack)

    def full_key(self, key: str) -> str:
        return f"{self.prefix}objects/{key}"

    async def exists(self, full_key: str) -> bool:
        try:
            await self.client.head_object(Bucket=self.bucket, Key=full_key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    async def begin(self) -> PendingObject:
        return S3Pending(self)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=self.full_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise StoredObjectMissing(key) from exc
            raise
        body = response["Body"]
        try:
            while chunk := await body.read(READ_CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))

    async def keys(self) -> list[str]:
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            found += [str(o["Key"])[len(self.prefix) :] for o in page.get("Contents", [])]
        uploads = await self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix)
        found += [f"upload:{u['Key'][len(self.prefix) :]}" for u in uploads.get("Uploads", [])]
        return sorted(found)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._stack.aclose()


async def open_storage(settings: EvidenceSettings) -> Storage:
    if settings.storage_backend == "s3":
        return await S3Storage.open(settings)
    return LocalStorage(settings.storage_dir)
