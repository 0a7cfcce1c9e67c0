"""Library update notes over the API: list them, accept one onto the control, or dismiss it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.errors import BadRequest, Conflict, NotFound
from guardian_compliance.clock import Clock
from guardian_compliance.controls.library_repository import LibraryRepository
from guardian_compliance.controls.library_sync import (
    LIBRARY_AUTHOR,
    apply_additions,
    apply_removals,
    describe_removals,
    record_change,
)
from guardian_compliance.controls.repository import ControlRepository, definition_of
from guardian_compliance.controls.schemas import (
    LibraryAdditions,
    LibraryRemovals,
    LibraryUpdateList,
    LibraryUpdateOut,
)
from guardian_compliance.controls.service import ControlRetired, known_checks, problems
from guardian_compliance.frameworks.model import bundled_library, library_version
from guardian_compliance.outbox import OUTBOX, emit

UpdateState = Literal["open", "accepted", "dismissed", "superseded"]


class LibraryUpdateNotFound(NotFound):
    code = "library_update_not_found"


def _out(row: asyncpg.Record) -> LibraryUpdateOut:
    return LibraryUpdateOut(
        id=row["update_id"],
        control_id=row["control_id"],
        library_version=row["library_version"],
        additions=LibraryAdditions.model_validate(row["additions"]),
        removals=LibraryRemovals.model_validate(row["removals"]),
        state=row["state"],
        created_at=row["created_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        note=row["note"],
    )


def _who(principal: Principal) -> str:
    return principal.name or principal.key_id


@dataclass
class LibraryUpdateService:
    pool: asyncpg.Pool
    clock: Clock

    async def list(self, state: UpdateState | None, control_id: str | None) -> LibraryUpdateList:
        async with self.pool.acquire() as conn:
            repo = LibraryRepository(conn)
            rows = await repo.list(state, control_id)
            compared = await repo.compared_version()
        return LibraryUpdateList(
            bundled_version=library_version(bundled_library()),
            compared_version=compared,
            total=len(rows),
            items=[_out(r) for r in rows],
        )

    async def accept(self, update_id: str, principal: Principal, note: str | None) -> LibraryUpdateOut:
        """Apply the note's additions the control does not have yet, and its removals the control still
        has, as a new version of it."""
        now = self.clock.now()
        by = _who(principal)
        async with db.transaction(self.pool) as conn:
            lib = LibraryRepository(conn)
            row = await self._open(lib, update_id)
            controls = ControlRepository(conn)
            control = await controls.get(row["control_id"], for_update=True)
            assert control is not None  # a foreign key
            if control["state"] != "active":
                raise ControlRetired(f"Control {row['control_id']} is retired; its library update cannot apply.")
            current = definition_of(control)
            candidate = apply_removals(apply_additions(current, row["additions"]), row["removals"])
            definition, found = problems(candidate, await known_checks(conn), current["checks"])
            if definition is None:
                # E.g. a criterion or check this deployment no longer knows: nothing is applied.
                raise BadRequest(" ".join(msg for _, msg in found), code=found[0][0])
            if definition != current:
                version = await controls.update(
                    definition,
                    by=LIBRARY_AUTHOR,
                    at=now,
                    change="library_update",
                    note=f"library {row['library_version']}, accepted by {by}"
                    + (f"; {dropped}" if (dropped := describe_removals(row["removals"])) else "")
                    + (f": {note}" if note else ""),
                )
                await record_change(
                    conn,
                    row["control_id"],
                    version,
                    by,
                    "control.library_update_accepted",
                    current,
                    definition,
                    now,
                    actor=principal,
                )
            await lib.set_baseline(row["control_id"], row["library_version"], row["bundled"])
            await lib.decide(update_id, "accepted", by, now, note)
            decided = await lib.get(update_id)
        assert decided is not None
        return _out(decided)

    async def dismiss(self, update_id: str, principal: Principal, note: str | None) -> LibraryUpdateOut:
        """Keep the control as it is; the same additions are not proposed again."""
        now = self.clock.now()
        by = _who(principal)
        async with db.transaction(self.pool) as conn:
            lib = LibraryRepository(conn)
            row = await self._open(lib, update_id)
            await lib.set_baseline(row["control_id"], row["library_version"], row["bundled"])
            await lib.decide(update_id, "dismissed", by, now, note)
            decided = await lib.get(update_id)
            assert decided is not None
            before: dict[str, Any] = _out(row).model_dump(mode="json")
            await _record_dismissal(
                conn, principal, row["control_id"], before, _out(decided).model_dump(mode="json"), now
            )
        return _out(decided)

    async def _open(self, lib: LibraryRepository, update_id: str) -> asyncpg.Record:
        row = await lib.get(update_id, for_update=True)
        if row is None:
            raise LibraryUpdateNotFound(f"No library update has the id {update_id!r}.")
        if row["state"] != "open":
            who = f" by {row['decided_by']}" if row["decided_by"] else ""
            raise Conflict(
                f"Library update {update_id} was already {row['state']}{who}.", code="library_update_decided"
            )
        return row


async def _record_dismissal(
    conn: asyncpg.Connection,
    principal: Principal,
    control_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    now: datetime,
) -> None:
    await audit.record(
        conn,
        OUTBOX,
        actor=principal,
        action="control.library_update_dismissed",
        target_type="control",
        target_id=control_id,
        before=before,
        after=after,
        at=now,
    )
    await emit(
        conn,
        "control.library_update_dismissed",
        f"library-update:{after['id']}:dismissed",
        {"update_id": after["id"], "control_id": control_id, "by": after["decided_by"]},
        now,
    )
