"""The control matrix: the company's controls, editable, versioned and attributed.

Bundled controls are imported once (version 1, by ``guardian-default``); afterwards the table is
the truth and a library file never overwrites an edit. Controls are retired, never deleted, so
every stored result can still name the version it used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
from pydantic import ValidationError

from guardian_common import audit, db
from guardian_common.auth import Principal
from guardian_common.errors import BadRequest, Conflict, NotFound
from guardian_compliance.clock import Clock
from guardian_compliance.controls import io as matrix_io
from guardian_compliance.controls.library_sync import sync_library
from guardian_compliance.controls.repository import ControlRepository, definition_of
from guardian_compliance.controls.schemas import (
    ControlCreate,
    ControlHistory,
    ControlOut,
    ControlUpdate,
    ControlVersionOut,
    ImportResult,
)
from guardian_compliance.frameworks.model import (
    BUNDLED_FRAMEWORKS,
    Control,
    ControlLibrary,
    bundled_framework,
    bundled_library,
    content_hash,
)
from guardian_compliance.outbox import OUTBOX, emit
from guardian_compliance.scans.custom_mappings import declared_mappings, with_declared_checks
from guardian_compliance.scans.repository import ScanRepository

DEFAULT_AUTHOR = "guardian-default"
Format = Literal["csv", "yaml"]
DEFINITION_KEYS = ("id", "title", "description", "owner", "frequency", "requirements", "checks", "evidence")


async def _audit(
    conn: asyncpg.Connection,
    actor: Principal | None,
    action: str,
    control_id: str,
    before: asyncpg.Record | None,
    after: asyncpg.Record | None,
    at: datetime,
) -> None:
    """The audit entry of a change to one control, with the control before and after, in its transaction."""
    await audit.record(
        conn,
        OUTBOX,
        actor=actor,
        action=action,
        target_type="control",
        target_id=control_id,
        before=None if before is None else control_out(before).model_dump(mode="json"),
        after=None if after is None else control_out(after).model_dump(mode="json"),
        at=at,
    )


class ControlNotFound(NotFound):
    code = "control_not_found"


class ControlRetired(Conflict):
    code = "control_retired"


@dataclass(frozen=True)
class ActiveLibrary:
    library: ControlLibrary
    versions: dict[str, int]

    @property
    def version(self) -> str:
        return self.library.version


def _criteria() -> set[str]:
    return {r.id for fid in BUNDLED_FRAMEWORKS for r in bundled_framework(fid).requirements}


def problems(
    data: dict[str, Any], catalogue: set[str] | None, existing_checks: Sequence[str] = ()
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one control definition; return it normalised, or the (code, sentence) problems.

    Check ids are refused only when they are being added and the evaluator's catalogue is known:
    a control keeps a check the current evaluator lacks (it shows ERROR, never PASS).
    """
    try:
        parsed = ControlCreate.model_validate({k: data[k] for k in DEFINITION_KEYS if k in data})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return None, [("invalid_control", f"{where}: {first.get('msg', 'invalid')}")]
    out: list[tuple[str, str]] = []
    if not parsed.requirements:
        out.append(("mapping_required", f"Control {parsed.id} maps no criterion; map at least one."))
    known = _criteria()
    seen: set[str] = set()
    for m in parsed.requirements:
        if m.id not in known:
            out.append(("unknown_criterion", f"Control {parsed.id} maps the unknown criterion {m.id!r}."))
        if not m.rationale.strip():
            out.append(("rationale_required", f"Control {parsed.id}: the mapping to {m.id} needs a rationale."))
        if m.id in seen:
            out.append(("duplicate_mapping", f"Control {parsed.id} maps {m.id} twice."))
        seen.add(m.id)
    if catalogue is not None:
        unknown = [c for c in parsed.checks if c not in catalogue and c not in existing_checks]
        if unknown:
            out.append(("unknown_check", f"Control {parsed.id} names checks the evaluator does not have: {unknown}."))
    definition = {
        "id": parsed.id,
        "title": parsed.title.strip(),
        "description": parsed.description.strip(),
        "owner": parsed.owner.strip(),
        "frequency": parsed.frequency,
        "requirements": [{"id": m.id, "rationale": m.rationale.strip()} for m in parsed.requirements],
        "checks": list(dict.fromkeys(parsed.checks)),
        "evidence": [e.model_dump(mode="json") for e in parsed.evidence],
    }
    return (None if out else definition), out


def _raise_first(found: list[tuple[str, str]]) -> None:
    if found:
        code = found[0][0]
        raise BadRequest(" ".join(msg for _, msg in found), code=code)


def _kind(definition: dict[str, Any]) -> Literal["automated", "procedural", "hybrid"]:
    if definition["checks"] and definition["evidence"]:
        return "hybrid"
    return "automated" if definition["checks"] else "procedural"


def control_out(row: asyncpg.Record) -> ControlOut:
    d = definition_of(row)
    return ControlOut(
        **d,
        kind=_kind(d),
        state=row["state"],
        version=row["version"],
        origin=row["origin"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def known_checks(conn: asyncpg.Connection) -> set[str] | None:
    version, catalogue, _ = await ScanRepository(conn).latest_catalogue()
    return set(catalogue) if version is not None else None


async def import_bundled(conn: asyncpg.Connection, now: datetime) -> int:
    """Bring the bundled library into the matrix: all of it the first time; later, a newer library's
    new controls and additions, never overwriting an edit (see ``controls.library_sync``)."""
    synced = await sync_library(conn, bundled_library(), now)
    return len(synced.added) + len(synced.updated)


async def active_library(conn: asyncpg.Connection) -> ActiveLibrary:
    rows = await ControlRepository(conn).all(include_retired=False)
    versions = {r["control_id"]: r["version"] for r in rows}
    controls = [Control.model_validate(definition_of(r)) for r in rows]
    # Custom checks count in the controls their rule files name (from the evaluator's catalogue).
    _, _, checks_meta = await ScanRepository(conn).latest_catalogue()
    declared = declared_mappings(checks_meta)
    controls = with_declared_checks(controls, declared)
    fingerprint = content_hash({"controls": versions, "custom": declared} if declared else versions)
    return ActiveLibrary(
        library=ControlLibrary(library="guardian", version=f"matrix+{fingerprint}", controls=controls),
        versions=versions,
    )


@dataclass
class ControlService:
    pool: asyncpg.Pool
    clock: Clock

    async def list(self, include_retired: bool) -> list[ControlOut]:
        async with self.pool.acquire() as conn:
            rows = await ControlRepository(conn).all(include_retired=include_retired)
        return [control_out(r) for r in rows]

    async def get(self, control_id: str) -> ControlHistory:
        async with self.pool.acquire() as conn:
            repo = ControlRepository(conn)
            row = await repo.get(control_id)
            if row is None:
                raise ControlNotFound(f"No control has the id {control_id!r}.")
            versions = await repo.versions(control_id)
        return ControlHistory(
            **control_out(row).model_dump(),
            versions=[
                ControlVersionOut(
                    version=v["version"],
                    change=v["change"],
                    state=v["state"],
                    definition=v["definition"],
                    changed_by=v["changed_by"],
                    changed_at=v["changed_at"],
                    note=v["note"],
                )
                for v in versions
            ],
        )

    async def create(self, body: ControlCreate, by: str, actor: Principal | None = None) -> ControlOut:
        now = self.clock.now()
        async with db.transaction(self.pool) as conn:
            definition, found = problems(body.model_dump(mode="json"), await known_checks(conn))
            _raise_first(found)
            assert definition is not None
            repo = ControlRepository(conn)
            if not await repo.insert(definition, origin="custom", by=by, at=now, change="create", note=body.note):
                raise Conflict(f"A control with the id {body.id!r} exists (retired ones too).", code="control_exists")
            await emit(conn, "control.created", f"control:{body.id}:1", {"control_id": body.id, "by": by}, now)
            row = await repo.get(body.id)
            await _audit(conn, actor, "control.created", body.id, None, row, now)
        assert row is not None
        return control_out(row)

    async def update(self, control_id: str, body: ControlUpdate, by: str, actor: Principal | None = None) -> ControlOut:
        now = self.clock.now()
        async with db.transaction(self.pool) as conn:
            repo = ControlRepository(conn)
            row = await repo.get(control_id, for_update=True)
            if row is None:
                raise ControlNotFound(f"No control has the id {control_id!r}.")
            if row["state"] == "retired":
                raise ControlRetired(f"Control {control_id} is retired; create a new control instead.")
            current = definition_of(row)
            changes = body.model_dump(mode="json", exclude_unset=True, exclude={"note"})
            candidate = {**current, **{k: v for k, v in changes.items() if v is not None}}
            definition, found = problems(candidate, await known_checks(conn), current["checks"])
            _raise_first(found)
            assert definition is not None
            if definition != current:
                version = await repo.update(definition, by=by, at=now, change="edit", note=body.note)
                await emit(
                    conn,
                    "control.changed",
                    f"control:{control_id}:{version}",
                    {"control_id": control_id, "version": version, "by": by},
                    now,
                )
            updated = await repo.get(control_id)
            if definition != current:
                await _audit(conn, actor, "control.updated", control_id, row, updated, now)
        assert updated is not None
        return control_out(updated)

    async def retire(self, control_id: str, note: str | None, by: str, actor: Principal | None = None) -> ControlOut:
        now = self.clock.now()
        async with db.transaction(self.pool) as conn:
            repo = ControlRepository(conn)
            row = await repo.get(control_id, for_update=True)
            if row is None:
                raise ControlNotFound(f"No control has the id {control_id!r}.")
            if row["state"] == "retired":
                raise ControlRetired(f"Control {control_id} is already retired.")
            version = await repo.retire(definition_of(row), by=by, at=now, note=note)
            await emit(
                conn,
                "control.retired",
                f"control:{control_id}:{version}",
                {"control_id": control_id, "version": version, "by": by},
                now,
            )
            updated = await repo.get(control_id)
            await _audit(conn, actor, "control.retired", control_id, row, updated, now)
        assert updated is not None
        return control_out(updated)

    async def export(self, fmt: Format) -> str:
        async with self.pool.acquire() as conn:
            rows = await ControlRepository(conn).all(include_retired=True)
        controls = [{**definition_of(r), "state": r["state"], "version": r["version"]} for r in rows]
        return matrix_io.to_csv(controls) if fmt == "csv" else matrix_io.to_yaml(controls)

    async def import_(self, fmt: Format, text: str, by: str, actor: Principal | None = None) -> ImportResult:
        """All or nothing: every problem, with its line, is reported and nothing is written."""
        try:
            parsed = matrix_io.from_csv(text) if fmt == "csv" else matrix_io.from_yaml(text)
        except matrix_io.ImportSyntaxError as exc:
            raise BadRequest("Nothing was imported. " + "; ".join(exc.problems), code="invalid_import") from exc
        now = self.clock.now()
        result = ImportResult(created=[], updated=[], retired=[], unchanged=0)
        async with db.transaction(self.pool) as conn:
            repo = ControlRepository(conn)
            catalogue = await known_checks(conn)
            errors: list[str] = []
            plan: list[tuple[dict[str, Any], str, asyncpg.Record | None]] = []
            seen: dict[str, int] = {}
            stored = {r["control_id"]: list(r["checks"]) for r in await repo.all()}
            for item in parsed:
                definition, found = problems(item.data, catalogue, stored.get(str(item.data.get("id")), []))
                errors.extend(f"line {item.line}: {msg}" for _, msg in found)
                state = str(item.data.get("state", "active"))
                if state not in ("active", "retired"):
                    errors.append(f"line {item.line}: state is 'active' or 'retired', not {state!r}")
                if definition is None:
                    continue
                if definition["id"] in seen:
                    first = seen[definition["id"]]
                    errors.append(f"line {item.line}: control {definition['id']} already appears on line {first}")
                    continue
                seen[definition["id"]] = item.line
                row = await repo.get(definition["id"], for_update=True)
                if row is not None and row["state"] == "retired" and state == "active":
                    errors.append(f"line {item.line}: control {definition['id']} is retired; use a new id")
                    continue
                plan.append((definition, state, row))
            if errors:
                raise BadRequest("Nothing was imported. " + "; ".join(errors), code="invalid_import")
            for definition, state, row in plan:
                cid = definition["id"]
                if row is None:
                    await repo.insert(definition, origin="import", by=by, at=now, change="import", note=None)
                    result.created.append(cid)
                    if state == "retired":
                        await repo.retire(definition, by=by, at=now, note="imported as retired")
                    await _audit(conn, actor, "control.imported", cid, None, await repo.get(cid), now)
                    continue
                if row["state"] == "retired":
                    result.unchanged += 1
                    continue
                changed = definition != definition_of(row)
                if changed:
                    await repo.update(definition, by=by, at=now, change="import", note=None)
                    result.updated.append(cid)
                if state == "retired":
                    await repo.retire(definition, by=by, at=now, note="retired by import")
                    result.retired.append(cid)
                elif not changed:
                    result.unchanged += 1
                if changed or state == "retired":
                    await _audit(conn, actor, "control.imported", cid, row, await repo.get(cid), now)
            if result.created or result.updated or result.retired:
                await emit(
                    conn,
                    "controls.imported",
                    f"controls:import:{now.isoformat()}:{by}",
                    {"by": by, **result.model_dump()},
                    now,
                )
        return result
