"""Receiving an upload: the multipart body is parsed as it arrives, never spooled whole.

The file part is hashed (SHA-256), counted and written to a pending storage object chunk by chunk;
its media type is decided from its first bytes, whatever the client claims. Reading stops as soon
as the upload is known to be refused (too large, a type not allowed), and every failure discards
the pending object, so the caller receives either a complete, checked file or an error.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import filetype  # type: ignore[import-untyped]
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from guardian_evidence.errors import EvidenceEmpty, EvidenceTooLarge, InvalidUpload, MediaTypeNotAllowed
from guardian_evidence.storage import PendingObject, Storage

FILE_FIELD = "file"
# Enough for every signature we recognise (OOXML names its parts within the first few KiB).
HEAD_BYTES = 8192
MAX_FIELD_BYTES = 16 * 1024
MAX_FIELDS = 64
WRITE_BATCH = 1024 * 1024
FALLBACK_FILENAME = "upload"


@dataclass
class ReceivedFile:
    pending: PendingObject
    filename: str
    size: int
    sha256: str
    media_type: str


@dataclass
class Received:
    fields: dict[str, list[str]]
    file: ReceivedFile | None


def sanitise_filename(raw: str | None) -> str:
    """Keep only the last path component, without control characters or leading dots."""
    if not raw:
        return FALLBACK_FILENAME
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name or FALLBACK_FILENAME


def detect_media_type(head: bytes) -> str:
    """The media type the content shows: a magic signature, else text (CSV when it parses as a table)."""
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    text = _as_text(head)
    if text is None:
        return "application/octet-stream"
    return "text/csv" if _looks_like_csv(text) else "text/plain"


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character may be cut at the end of the head; anything else is binary.
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f")
    return None if controls else text


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(lines, dialect)}
    return len(widths) == 1 and widths.pop() > 1


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    is_file: bool = False


class _FileSink:
    def __init__(self, storage: Storage, filename: str, max_bytes: int, allowed: frozenset[str]) -> None:
        self.storage = storage
        self.filename = filename
        self.max_bytes = max_bytes
        self.allowed = allowed
        self.hasher = hashlib.sha256()
        self.size = 0
        self.head = bytearray()
        self.media_type: str | None = None
        self.batch = bytearray()
        self.pending: PendingObject | None = None

    async def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise EvidenceTooLarge(f"The file is larger than the limit of {self.max_bytes} bytes.")
        self.hasher.update(data)
        if self.media_type is None:
            self.head += data
            if len(self.head) < HEAD_BYTES:
                return
            self._decide()
            data, self.head = bytes(self.head), bytearray()
        self.batch += data
        if len(self.batch) >= WRITE_BATCH:
            await self._flush()

    def _decide(self) -> None:
        self.media_type = detect_media_type(bytes(self.head[:HEAD_BYTES]))
        if self.media_type not in self.allowed:
            raise MediaTypeNotAllowed(
                f"The content is {self.media_type}, which is not accepted as evidence; "
                f"accepted: {', '.join(sorted(self.allowed))}."
            )

    async def _flush(self) -> None:
        if self.pending is None:
            self.pending = await self.storage.begin()
        if self.batch:
            await self.pending.write(bytes(self.batch))
            self.batch.clear()

    async def close(self) -> ReceivedFile:
        if self.size == 0:
            raise EvidenceEmpty("The file is empty.")
        if self.media_type is None:
            self._decide()
            self.batch += self.head
            self.head = bytearray()
        await self._flush()
        assert self.pending is not None
        assert self.media_type is not None
        await self.pending.finish()
        return ReceivedFile(self.pending, self.filename, self.size, self.hasher.hexdigest(), self.media_type)


async def receive(
    content_type: str | None,
    chunks: AsyncIterator[bytes],
    storage: Storage,
    *,
    max_bytes: int,
    allowed_media_types: frozenset[str],
) -> Received:
    """Parse a multipart/form-data body: small text fields, and at most one file part named ``file``."""
    mime, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise InvalidUpload("Send the evidence as multipart/form-data with the file in a part named 'file'.")
    events: list[tuple[str, bytes]] = []
    ended = False

    def on_end() -> None:
        nonlocal ended
        ended = True

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": lambda: events.append(("begin", b"")),
            "on_part_data": lambda d, s, e: events.append(("data", bytes(d[s:e]))),
            "on_part_end": lambda: events.append(("end", b"")),
            "on_header_field": lambda d, s, e: events.append(("hfield", bytes(d[s:e]))),
            "on_header_value": lambda d, s, e: events.append(("hvalue", bytes(d[s:e]))),
            "on_header_end": lambda: events.append(("hend", b"")),
            "on_headers_finished": lambda: events.append(("hdone", b"")),
            "on_end": on_end,
        },
    )
    fields: dict[str, list[str]] = {}
    sink: _FileSink | None = None
    done: ReceivedFile | None = None
    part = _Part()
    header_name = bytearray()
    header_value = bytearray()
    try:
        async for chunk in chunks:
            try:
                parser.write(chunk)
            except Exception as exc:
                raise InvalidUpload(f"The multipart body is malformed: {exc}") from exc
            for kind, data in events:
                if kind == "begin":
                    part = _Part()
                elif kind == "hfield":
                    header_name += data
                elif kind == "hvalue":
                    header_value += data
                elif kind == "hend":
                    # Header bytes are kept as latin-1 text so parse_options_header can turn them back into
                    # the bytes sent; names and file names are then read as UTF-8 (as browsers send them).
                    part.headers[header_name.decode("latin-1").lower()] = header_value.decode("latin-1")
                    header_name, header_value = bytearray(), bytearray()
                elif kind == "hdone":
                    disposition, params = parse_options_header(part.headers.get("content-disposition", ""))
                    if disposition != b"form-data" or b"name" not in params:
                        raise InvalidUpload("Each part needs a Content-Disposition: form-data header with a name.")
                    part.name = params[b"name"].decode("utf-8", "replace")
                    raw_filename = params.get(b"filename")
                    if part.name == FILE_FIELD:
                        if sink is not None or done is not None:
                            raise InvalidUpload("Send one file per upload.")
                        part.is_file = True
                        name = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
                        sink = _FileSink(storage, sanitise_filename(name), max_bytes, allowed_media_types)
                elif kind == "data":
                    if part.is_file:
                        assert sink is not None
                        await sink.feed(data)
                    else:
                        part.data += data
                        if len(part.data) > MAX_FIELD_BYTES:
                            raise InvalidUpload(f"The form field {part.name!r} is too long.")
                elif kind == "end":
                    if part.is_file:
                        assert sink is not None
                        done = await sink.close()
                        sink = None
                    elif part.name is not None:
                        values = fields.setdefault(part.name, [])
                        if sum(len(v) for v in fields.values()) >= MAX_FIELDS:
                            raise InvalidUpload("The form has too many fields.")
                        values.append(part.data.decode("utf-8", "replace"))
            events.clear()
        if not ended:
            raise InvalidUpload("The upload ended before the multipart body was complete; nothing was stored.")
    except BaseException:
        for leftover in (sink.pending if sink is not None else None, done.pending if done is not None else None):
            if leftover is not None:
                await leftover.discard()
        raise
    return Received(fields, done)
