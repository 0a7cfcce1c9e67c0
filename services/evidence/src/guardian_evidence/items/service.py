"""Evidence items: upload, review, validity, search, the period index and deletion."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.logging import get_logger
from guardian_evidence import outbox
from guardian_evidence.clock import Clock
from guardian_evidence.errors import (
    AlreadyReviewed,
    ControlNotFound,
    EvidenceCorrupted,
    EvidenceLocked,
    EvidenceNotFound,
    EvidenceTooLarge,
    InvalidEvidence,
    InvalidUpload,
    LockCannotShorten,
    SelfReview,
    VersionNotFound,
)
from guardian_evidence.intake import MAX_FIELD_BYTES, MAX_FIELDS, ReceivedFile, receive
from guardian_evidence.items.repository import EvidenceRepository
from guardian_evidence.items.schemas import (
    EvidenceIndex,
    IndexEntry,
    ItemCreate,
    ItemList,
    ItemOut,
    LockIn,
    Period,
    ReviewIn,
    ReviewOut,
    TombstoneList,
    TombstoneOut,
    VersionOut,
)
from guardian_evidence.settings import EvidenceSettings
from guardian_evidence.storage import Storage, StoredObjectMissing
from guardian_evidence.validity import COUNTING, Frequency, Status, advance, anchor, status_at, strictest

log = get_logger("guardian.evidence")

# Room for the form fields and multipart framing around the file itself.
FORM_OVERHEAD_BYTES = MAX_FIELDS * MAX_FIELD_BYTES


def actor(principal: Principal) -> str:
    return principal.name or principal.key_id


async def _audit(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    item_id: str,
    before: ItemOut | dict[str, Any] | None,
    after: ItemOut | None,
    at: datetime,
) -> None:
    """The audit entry of a change to an evidence item, in the change's transaction."""
    await audit.record(
        conn,
        outbox.OUTBOX,
        actor=principal,
        action=action,
        target_type="evidence_item",
        target_id=item_id,
        before=before.model_dump(mode="json") if isinstance(before, ItemOut) else before,
        after=None if after is None else after.model_dump(mode="json"),
        at=at,
    )


def storage_key(item_id: str, version: int, sha256: str) -> str:
    return f"{item_id}/v{version:04d}-{sha256}"


def _period(row: asyncpg.Record) -> Period:
    return Period(label=row["period_label"], start=row["period_start"], end=row["period_end"])


@dataclass
class VersionToServe:
    item_id: str
    version: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    storage_key: str


@dataclass
class EvidenceService:
    pool: asyncpg.Pool
    storage: Storage
    settings: EvidenceSettings
    clock: Clock

    # ------------------------------------------------------------------ reading

    def _build(self, item: asyncpg.Record, versions: list[asyncpg.Record]) -> ItemOut:
        outs: list[VersionOut] = []
        accepted: asyncpg.Record | None = None
        for v in versions:
            review = None
            if v["decision"] is not None:
                review = ReviewOut(
                    decision=v["decision"],
                    comment=v["comment"],
                    reviewer=v["reviewer"],
                    reviewed_at=v["reviewed_at"],
                    valid_from=v["valid_from"],
                    valid_until=v["valid_until"],
                )
                if v["decision"] == "accepted":
                    accepted = v
            outs.append(
                VersionOut(
                    version=v["version"],
                    filename=v["filename"],
                    media_type=v["media_type"],
                    size_bytes=v["size_bytes"],
                    sha256=v["sha256"],
                    backend=v["backend"],
                    uploaded_by=v["uploaded_by"],
                    uploaded_at=v["uploaded_at"],
                    review=review,
                )
            )
        status = status_at(
            self.clock.now(),
            accepted_valid_from=accepted["valid_from"] if accepted else None,
            accepted_valid_until=accepted["valid_until"] if accepted else None,
            latest_decision=versions[-1]["decision"] if versions else None,
            due_soon_days=self.settings.due_soon_days,
        )
        return ItemOut(
            item_id=item["item_id"],
            title=item["title"],
            description=item["description"],
            type=item["evidence_type"],
            owner=item["owner"],
            control_ids=list(item["control_ids"]),
            frequency=item["frequency"],
            period=_period(item),
            locked_until=item["locked_until"],
            created_by=item["created_by"],
            created_at=item["created_at"],
            status=status,
            counts=status in COUNTING,
            accepted_version=accepted["version"] if accepted else None,
            valid_until=accepted["valid_until"] if accepted else None,
            latest_version=versions[-1]["version"] if versions else 0,
            versions=outs,
        )

    async def _load(self, conn: asyncpg.Connection, item_id: str) -> ItemOut:
        repo = EvidenceRepository(conn)
        item = await repo.item(item_id)
        if item is None:
            raise EvidenceNotFound(f"No evidence item has the id {item_id!r}.")
        return self._build(item, await repo.versions_of([item_id]))

    async def get(self, item_id: str) -> ItemOut:
        async with self.pool.acquire() as conn:
            return await self._load(conn, item_id)

    async def search(
        self,
        *,
        control: str | None,
        evidence_type: str | None,
        owner: str | None,
        status: Status | None,
        text: str | None,
        limit: int,
        offset: int,
    ) -> ItemList:
        async with self.pool.acquire() as conn:
            repo = EvidenceRepository(conn)
            rows = await repo.search(control=control, evidence_type=evidence_type, owner=owner, text=text)
            versions = await repo.versions_of([r["item_id"] for r in rows])
        by_item: dict[str, list[asyncpg.Record]] = {}
        for v in versions:
            by_item.setdefault(v["item_id"], []).append(v)
        # Status depends on "now", so it is filtered here rather than in SQL.
        items = [self._build(r, by_item.get(r["item_id"], [])) for r in rows]
        if status is not None:
            items = [i for i in items if i.status == status]
        return ItemList(items=items[offset : offset + limit], total=len(items))

    # ------------------------------------------------------------------ uploading

    def _precheck(self, content_length: str | None) -> None:
        if content_length is None:
            return
        try:
            length = int(content_length)
        except ValueError as exc:
            raise InvalidUpload("The Content-Length header is not a number.") from exc
        if length > self.settings.max_upload_bytes + FORM_OVERHEAD_BYTES:
            raise EvidenceTooLarge(f"The upload is larger than the limit of {self.settings.max_upload_bytes} bytes.")

    async def _receive(
        self, content_type: str | None, content_length: str | None, chunks: AsyncIterator[bytes]
    ) -> tuple[dict[str, list[str]], ReceivedFile]:
        self._precheck(content_length)
        received = await receive(
            content_type,
            chunks,
            self.storage,
            max_bytes=self.settings.max_upload_bytes,
            allowed_media_types=frozenset(self.settings.allowed_media_types),
        )
        if received.file is None:
            raise InvalidUpload("The upload has no part named 'file'.")
        return received.fields, received.file

    def _frequency(self, create: ItemCreate) -> Frequency:
        if create.frequency is not None:
            return create.frequency
        configured = self.settings.control_frequencies
        found = strictest([configured[c] for c in create.control_ids if c in configured])
        if found is None:
            raise InvalidEvidence(
                "Give the evidence a frequency: none of its controls has one configured.", code="frequency_required"
            )
        return found

    def _check_controls(self, control_ids: list[str]) -> None:
        if not self.settings.known_controls:
            return
        known = set(self.settings.known_controls)
        unknown = [c for c in control_ids if c not in known]
        if unknown:
            raise ControlNotFound(f"Unknown control(s): {', '.join(unknown)}.")

    async def create(
        self, principal: Principal, content_type: str | None, content_length: str | None, chunks: AsyncIterator[bytes]
    ) -> ItemOut:
        fields, file = await self._receive(content_type, content_length, chunks)
        try:
            try:
                create = ItemCreate.from_form(fields)
            except ValueError as exc:
                raise InvalidEvidence(f"Invalid evidence metadata: {_first_error(exc)}") from exc
            self._check_controls(create.control_ids)
            frequency = self._frequency(create)
        except BaseException:
            await file.pending.discard()
            raise
        item_id = f"ev-{uuid.uuid4().hex[:16]}"
        now = self.clock.now()
        item = {
            "item_id": item_id,
            "title": create.title,
            "description": create.description,
            "evidence_type": create.type.value,
            "owner": create.owner,
            "control_ids": create.control_ids,
            "frequency": frequency.value,
            "period_label": create.period_label,
            "period_start": create.period_start,
            "period_end": create.period_end,
            "created_by": actor(principal),
            "created_at": now,
        }
        return await self._commit_version(item_id, principal, file, new_item=item)

    async def add_version(
        self,
        item_id: str,
        principal: Principal,
        content_type: str | None,
        content_length: str | None,
        chunks: AsyncIterator[bytes],
    ) -> ItemOut:
        await self.get(item_id)  # 404 before reading a byte of the body
        _, file = await self._receive(content_type, content_length, chunks)
        return await self._commit_version(item_id, principal, file, new_item=None)

    async def _commit_version(
        self, item_id: str, principal: Principal, file: ReceivedFile, *, new_item: dict[str, Any] | None
    ) -> ItemOut:
        """Row, event and promotion of the object in one transaction; on any failure, neither survives."""
        promoted: str | None = None
        try:
            async with db.transaction(self.pool) as conn:
                repo = EvidenceRepository(conn)
                before: ItemOut | None = None
                if new_item is not None:
                    await repo.insert_item(new_item)
                elif await repo.item(item_id, for_update=True) is None:
                    raise EvidenceNotFound(f"No evidence item has the id {item_id!r}.")
                else:
                    before = await self._load(conn, item_id)
                version = await repo.next_version(item_id)
                key = storage_key(item_id, version, file.sha256)
                now = self.clock.now()
                await repo.insert_version(
                    {
                        "item_id": item_id,
                        "version": version,
                        "backend": self.storage.backend,
                        "storage_key": key,
                        "filename": file.filename,
                        "media_type": file.media_type,
                        "size_bytes": file.size,
                        "sha256": file.sha256,
                        "uploaded_by": actor(principal),
                        "uploaded_by_key": principal.key_id,
                        "uploaded_at": now,
                    }
                )
                out = await self._load(conn, item_id)
                action = "evidence.created" if new_item is not None else "evidence.version_added"
                await _audit(conn, principal, action, item_id, before, out, now)
                await outbox.emit(
                    conn,
                    outbox.VERSION_ADDED,
                    f"version_added:{item_id}:{version}",
                    _event_data(
                        out,
                        version=version,
                        sha256=file.sha256,
                        media_type=file.media_type,
                        size_bytes=file.size,
                        filename=file.filename,
                        uploaded_by=actor(principal),
                        uploaded_at=now.isoformat(),
                    ),
                    now,
                )
                # Recorded first: a promotion that fails half-way (copied, not cleaned) is undone too.
                promoted = key
                await file.pending.promote(key)
        except BaseException:
            await file.pending.discard()
            if promoted is not None:
                # The commit failed after the object reached its final key: take it back.
                await self.storage.delete(promoted)
            raise
        log.info("evidence_version_added", item_id=item_id, version=out.latest_version, sha256=file.sha256)
        return out

    # ------------------------------------------------------------------ reviewing and locking

    async def review(self, item_id: str, version: int, principal: Principal, body: ReviewIn) -> ItemOut:
        async with db.transaction(self.pool) as conn:
            repo = EvidenceRepository(conn)
            item = await repo.item(item_id, for_update=True)
            if item is None:
                raise EvidenceNotFound(f"No evidence item has the id {item_id!r}.")
            row = await repo.version(item_id, version)
            if row is None:
                raise VersionNotFound(f"Evidence item {item_id} has no version {version}.")
            reviewer = actor(principal)
            if principal.key_id == row["uploaded_by_key"] or (principal.name and principal.name == row["uploaded_by"]):
                raise SelfReview("A version is reviewed by someone other than its uploader.")
            if row["decision"] is not None:
                raise AlreadyReviewed(f"Version {version} of {item_id} was already {row['decision']}.")
            before = await self._load(conn, item_id)
            now = self.clock.now()
            valid_from = valid_to = None
            if body.decision == "accepted":
                frequency = Frequency(item["frequency"])
                valid_from = anchor(item["period_end"], row["uploaded_at"])
                valid_to = advance(valid_from, frequency)
            inserted = await repo.insert_review(
                {
                    "item_id": item_id,
                    "version": version,
                    "decision": body.decision,
                    "comment": body.comment,
                    "reviewer": reviewer,
                    "reviewer_key": principal.key_id,
                    "reviewed_at": now,
                    "valid_from": valid_from,
                    "valid_until": valid_to,
                }
            )
            if not inserted:
                raise AlreadyReviewed(f"Version {version} of {item_id} was already reviewed.")
            out = await self._load(conn, item_id)
            await _audit(conn, principal, "evidence.reviewed", item_id, before, out, now)
            await outbox.emit(
                conn,
                outbox.REVIEWED,
                f"reviewed:{item_id}:{version}",
                _event_data(
                    out,
                    version=version,
                    decision=body.decision,
                    reviewer=reviewer,
                    reviewed_at=now.isoformat(),
                    version_valid_from=valid_from.isoformat() if valid_from else None,
                    version_valid_until=valid_to.isoformat() if valid_to else None,
                ),
                now,
            )
        log.info("evidence_reviewed", item_id=item_id, version=version, decision=body.decision, reviewer=reviewer)
        return out

    def _locked(self, locked_until: date | None) -> bool:
        return locked_until is not None and self.clock.now().astimezone(UTC).date() <= locked_until

    async def lock(self, item_id: str, principal: Principal, body: LockIn) -> ItemOut:
        async with db.transaction(self.pool) as conn:
            repo = EvidenceRepository(conn)
            item = await repo.item(item_id, for_update=True)
            if item is None:
                raise EvidenceNotFound(f"No evidence item has the id {item_id!r}.")
            current: date | None = item["locked_until"]
            if current is not None and body.locked_until < current:
                raise LockCannotShorten(f"{item_id} is locked until {current}; a lock can be extended, not shortened.")
            before = await self._load(conn, item_id)
            await repo.set_lock(item_id, body.locked_until)
            out = await self._load(conn, item_id)
            await _audit(conn, principal, "evidence.locked", item_id, before, out, self.clock.now())
        log.info("evidence_locked", item_id=item_id, locked_until=str(body.locked_until), by=actor(principal))
        return out

    # ------------------------------------------------------------------ deleting

    async def delete(self, item_id: str, principal: Principal, reason: str) -> TombstoneOut:
        reason = reason.strip()
        if not reason:
            raise InvalidEvidence("Say why the evidence is deleted.", code="reason_required")
        async with db.transaction(self.pool) as conn:
            repo = EvidenceRepository(conn)
            item = await repo.item(item_id, for_update=True)
            if item is None:
                raise EvidenceNotFound(f"No evidence item has the id {item_id!r}.")
            if self._locked(item["locked_until"]):
                raise EvidenceLocked(
                    f"{item_id} backs a locked audit period until {item['locked_until']}: upload a new version to"
                    " supersede it instead."
                )
            out = self._build(item, await repo.versions_of([item_id]))
            now = self.clock.now()
            summary = out.model_dump(mode="json")
            await repo.insert_tombstone(
                {
                    "item_id": item_id,
                    "deleted_by": actor(principal),
                    "deleted_by_key": principal.key_id,
                    "deleted_at": now,
                    "reason": reason,
                    "item": summary,
                }
            )
            keys = [storage_key(item_id, v.version, v.sha256) for v in out.versions]
            await repo.delete_item(item_id)
            await _audit(conn, principal, "evidence.deleted", item_id, summary, None, now)
            await outbox.emit(
                conn,
                outbox.DELETED,
                f"deleted:{item_id}",
                {
                    **_event_data(out),
                    "status": "deleted",
                    "counts": False,
                    "reason": reason,
                    "deleted_by": actor(principal),
                    "deleted_at": now.isoformat(),
                    "versions": [{"version": v.version, "sha256": v.sha256} for v in out.versions],
                },
                now,
            )
        # After the commit: the bytes go; the tombstone keeps their hashes.
        for key in keys:
            try:
                await self.storage.delete(key)
            except Exception as exc:
                log.error("evidence_object_not_deleted", item_id=item_id, key=key, error=str(exc))
        log.info("evidence_deleted", item_id=item_id, by=actor(principal), reason=reason)
        return TombstoneOut(item_id=item_id, deleted_by=actor(principal), deleted_at=now, reason=reason, item=summary)

    async def tombstones(self) -> TombstoneList:
        async with self.pool.acquire() as conn:
            rows = await EvidenceRepository(conn).tombstones()
        return TombstoneList(
            items=[
                TombstoneOut(
                    item_id=r["item_id"],
                    deleted_by=r["deleted_by"],
                    deleted_at=r["deleted_at"],
                    reason=r["reason"],
                    item=r["item"],
                )
                for r in rows
            ]
        )

    # ------------------------------------------------------------------ downloading

    async def version_to_serve(self, item_id: str, version: int) -> VersionToServe:
        async with self.pool.acquire() as conn:
            repo = EvidenceRepository(conn)
            if await repo.item(item_id) is None:
                raise EvidenceNotFound(f"No evidence item has the id {item_id!r}.")
            row = await repo.version(item_id, version)
        if row is None:
            raise VersionNotFound(f"Evidence item {item_id} has no version {version}.")
        served = VersionToServe(
            item_id=item_id,
            version=version,
            filename=row["filename"],
            media_type=row["media_type"],
            size_bytes=row["size_bytes"],
            sha256=row["sha256"],
            storage_key=row["storage_key"],
        )
        # Verify the whole object before the first byte leaves: a status cannot change mid-response.
        size, digest = 0, hashlib.sha256()
        try:
            async for chunk in self.storage.read(served.storage_key):
                size += len(chunk)
                digest.update(chunk)
        except StoredObjectMissing:
            self._corrupted(served, actual_sha256=None, actual_size=None)
        if digest.hexdigest() != served.sha256 or size != served.size_bytes:
            self._corrupted(served, actual_sha256=digest.hexdigest(), actual_size=size)
        return served

    def _corrupted(self, served: VersionToServe, *, actual_sha256: str | None, actual_size: int | None) -> None:
        # An audit-style line: integrity of stored evidence failed; operators alert on this event name.
        log.error(
            "evidence_corrupted",
            audit=True,
            item_id=served.item_id,
            version=served.version,
            storage_backend=self.storage.backend,
            storage_key=served.storage_key,
            expected_sha256=served.sha256,
            actual_sha256=actual_sha256,
            expected_size=served.size_bytes,
            actual_size=actual_size,
        )
        what = "is missing from storage" if actual_sha256 is None else "no longer matches its recorded SHA-256"
        raise EvidenceCorrupted(
            f"Version {served.version} of {served.item_id} {what}; it is not served. Restore it from backup."
        )

    async def stream(self, served: VersionToServe) -> AsyncIterator[bytes]:
        """The bytes again, checked once more as they go: a change since verification aborts the response."""
        digest = hashlib.sha256()
        async for chunk in self.storage.read(served.storage_key):
            digest.update(chunk)
            yield chunk
        if digest.hexdigest() != served.sha256:
            log.error("evidence_corrupted", audit=True, item_id=served.item_id, version=served.version, during="stream")
            raise RuntimeError(f"evidence {served.item_id} v{served.version} changed while being served")

    # ------------------------------------------------------------------ the period index

    async def index(self, window_from: date, window_to: date, control: str | None) -> EvidenceIndex:
        if window_to < window_from:
            raise InvalidEvidence("'to' is before 'from'.", code="invalid_window")
        start = datetime.combine(window_from, time(0), tzinfo=UTC)
        end = datetime.combine(window_to + timedelta(days=1), time(0), tzinfo=UTC)
        async with self.pool.acquire() as conn:
            repo = EvidenceRepository(conn)
            items = await repo.search(control=control, evidence_type=None, owner=None, text=None, created_before=end)
            versions = await repo.versions_of([r["item_id"] for r in items])
        accepted: dict[str, list[asyncpg.Record]] = {}
        for v in versions:
            if v["decision"] == "accepted":
                accepted.setdefault(v["item_id"], []).append(v)
        entries: list[IndexEntry] = []
        uncovered: list[str] = []
        for item in items:
            found = False
            for version, seg_from, seg_to in _segments(accepted.get(item["item_id"], [])):
                if seg_to <= start or seg_from >= end:
                    continue
                found = True
                entries.append(
                    IndexEntry(
                        item_id=item["item_id"],
                        title=item["title"],
                        type=item["evidence_type"],
                        control_ids=list(item["control_ids"]),
                        period=_period(item),
                        version=version["version"],
                        sha256=version["sha256"],
                        filename=version["filename"],
                        reviewed_by=version["reviewer"],
                        current_from=seg_from,
                        current_to=seg_to,
                    )
                )
            if not found:
                uncovered.append(item["item_id"])
        entries.sort(key=lambda e: (e.item_id, e.current_from))
        return EvidenceIndex(window_from=window_from, window_to=window_to, entries=entries, uncovered=sorted(uncovered))


def _segments(accepted: list[asyncpg.Record]) -> list[tuple[asyncpg.Record, datetime, datetime]]:
    """When each accepted version was the one in force: the highest accepted, unexpired version at each moment."""
    bounds = sorted({v["reviewed_at"] for v in accepted} | {v["valid_until"] for v in accepted})
    segments: list[tuple[asyncpg.Record, datetime, datetime]] = []
    for left, right in itertools.pairwise(bounds):
        live = [v for v in accepted if v["reviewed_at"] <= left < v["valid_until"]]
        if not live:
            continue
        best = max(live, key=lambda v: v["version"])
        if segments and segments[-1][0]["version"] == best["version"] and segments[-1][2] == left:
            segments[-1] = (segments[-1][0], segments[-1][1], right)
        else:
            segments.append((best, left, right))
    return segments


def _event_data(item: ItemOut, **extra: Any) -> dict[str, Any]:
    """What every evidence event carries, so a consumer needs no call back to decide a control's status."""
    return {
        "item_id": item.item_id,
        "title": item.title,
        "evidence_type": item.type.value,
        "owner": item.owner,
        "control_ids": item.control_ids,
        "frequency": item.frequency.value,
        "period": item.period.model_dump(mode="json"),
        "status": item.status.value,
        "counts": item.counts,
        "accepted_version": item.accepted_version,
        "valid_until": item.valid_until.isoformat() if item.valid_until else None,
        "latest_version": item.latest_version,
        # Every reviewed version's decision and times (reviews are immutable), so a consumer keeps
        # the item's acceptance history whatever order, or however often, events reach it.
        "reviews": [
            {
                "version": v.version,
                "decision": v.review.decision,
                "reviewed_at": v.review.reviewed_at.isoformat(),
                "valid_from": v.review.valid_from.isoformat() if v.review.valid_from else None,
                "valid_until": v.review.valid_until.isoformat() if v.review.valid_until else None,
            }
            for v in item.versions
            if v.review is not None
        ],
        **extra,
    }


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for err in errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
        return "; ".join(parts)
    return str(exc)
