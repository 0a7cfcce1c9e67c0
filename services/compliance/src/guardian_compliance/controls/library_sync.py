"""A newer bundled control library reaching a matrix the company already imported and edited.

On start-up compliance compares the bundled library's version with the one it last compared.
When it differs: bundled controls the matrix lacks are added; on controls the company never
edited (every version by Guardian) the checks, criteria and evidence requirements the library
added since the control's baseline are applied, and those it removed since then are removed, as
one new version attributed to ``guardian (library update)`` whose note names the removals; a
control the company edited keeps the company's version (their edit wins) and gets a reviewable
"library update available" note listing the additions and the removals instead, which an editor
accepts (both apply) or dismisses. A company's edit is never overwritten, retired controls stay
retired, and a control the library drops altogether stays in the matrix.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from guardian_common import audit
from guardian_compliance.controls.library_repository import LibraryRepository
from guardian_compliance.controls.repository import ControlRepository, definition_of
from guardian_compliance.frameworks.model import ControlLibrary, library_version
from guardian_compliance.outbox import OUTBOX, emit

DEFAULT_AUTHOR = "guardian-default"
LIBRARY_AUTHOR = "guardian (library update)"
GUARDIAN_AUTHORS = frozenset({DEFAULT_AUTHOR, LIBRARY_AUTHOR})

log = structlog.get_logger("guardian.compliance.library")


@dataclass
class LibrarySync:
    version: str
    first_import: bool = False
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    noted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _key(item: Any) -> str:
    return json.dumps(item, sort_keys=True)


def additions(bundled: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, list[Any]]:
    """What the bundled definition adds to the baseline: checks, criteria mappings, evidence."""
    base = baseline or {"checks": [], "requirements": [], "evidence": []}
    mapped = {m["id"] for m in base.get("requirements", [])}
    evidence = {_key(e) for e in base.get("evidence", [])}
    return {
        "checks": [c for c in bundled.get("checks", []) if c not in base.get("checks", [])],
        "requirements": [m for m in bundled.get("requirements", []) if m["id"] not in mapped],
        "evidence": [e for e in bundled.get("evidence", []) if _key(e) not in evidence],
    }


def apply_additions(definition: dict[str, Any], added: dict[str, list[Any]]) -> dict[str, Any]:
    """The definition with every addition it does not have yet (the company may have added some)."""
    mapped = {m["id"] for m in definition["requirements"]}
    evidence = {_key(e) for e in definition["evidence"]}
    return {
        **definition,
        "checks": [*definition["checks"], *(c for c in added["checks"] if c not in definition["checks"])],
        "requirements": [*definition["requirements"], *(m for m in added["requirements"] if m["id"] not in mapped)],
        "evidence": [*definition["evidence"], *(e for e in added["evidence"] if _key(e) not in evidence)],
    }


def removals(bundled: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, list[Any]]:
    """What the baseline had that the bundled definition no longer has: checks, criteria mappings
    (by criterion, as the baseline mapped them), evidence."""
    if baseline is None:
        return {"checks": [], "requirements": [], "evidence": []}
    mapped = {m["id"] for m in bundled.get("requirements", [])}
    evidence = {_key(e) for e in bundled.get("evidence", [])}
    return {
        "checks": [c for c in baseline.get("checks", []) if c not in bundled.get("checks", [])],
        "requirements": [m for m in baseline.get("requirements", []) if m["id"] not in mapped],
        "evidence": [e for e in baseline.get("evidence", []) if _key(e) not in evidence],
    }


def present(definition: dict[str, Any], removed: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The part of ``removed`` the definition still holds (the company may have removed some itself)."""
    mapped = {m["id"] for m in definition["requirements"]}
    evidence = {_key(e) for e in definition["evidence"]}
    return {
        "checks": [c for c in removed["checks"] if c in definition["checks"]],
        "requirements": [m for m in removed["requirements"] if m["id"] in mapped],
        "evidence": [e for e in removed["evidence"] if _key(e) in evidence],
    }


def apply_removals(definition: dict[str, Any], removed: dict[str, list[Any]]) -> dict[str, Any]:
    """The definition without the removed checks, criteria mappings (by criterion) and evidence."""
    checks = set(removed.get("checks", []))
    criteria = {m["id"] for m in removed.get("requirements", [])}
    evidence = {_key(e) for e in removed.get("evidence", [])}
    return {
        **definition,
        "checks": [c for c in definition["checks"] if c not in checks],
        "requirements": [m for m in definition["requirements"] if m["id"] not in criteria],
        "evidence": [e for e in definition["evidence"] if _key(e) not in evidence],
    }


def describe_removals(removed: dict[str, list[Any]]) -> str:
    """``removed check x; criterion CC1.1; evidence "..."`` (empty when nothing was removed)."""
    parts = [f"check {c}" for c in removed.get("checks", [])]
    parts += [f"criterion {m['id']}" for m in removed.get("requirements", [])]
    parts += [f'evidence "{e["description"]}"' for e in removed.get("evidence", [])]
    return f"removed {'; '.join(parts)}" if parts else ""


def has_any(added: dict[str, list[Any]]) -> bool:
    return any(added.values())


async def record_change(
    conn: asyncpg.Connection,
    control_id: str,
    version: int,
    by: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    at: datetime,
    actor: Any = None,
) -> None:
    """The domain event and the audit entry of a library change to one control, in its transaction."""
    event = "control.created" if before is None else "control.changed"
    await emit(
        conn, event, f"control:{control_id}:{version}", {"control_id": control_id, "version": version, "by": by}, at
    )
    await audit.record(
        conn,
        OUTBOX,
        actor=actor,
        action=action,
        target_type="control",
        target_id=control_id,
        before=before,
        after=after,
        at=at,
    )


async def sync_library(conn: asyncpg.Connection, library: ControlLibrary, now: datetime) -> LibrarySync:
    """Bring ``library`` into the matrix as described above; a no-op when its version was compared already."""
    lib = LibraryRepository(conn)
    await lib.lock()
    version = library_version(library)
    compared = await lib.compared_version()
    controls = ControlRepository(conn)
    existing = {r["control_id"]: r for r in await controls.all(include_retired=True)}
    result = LibrarySync(version=version, first_import=compared is None and not existing)
    if compared == version:
        return result
    baselines = await lib.baselines()
    first_versions = await lib.first_versions()
    authors = await lib.authors()
    for control in library.controls:
        bundled = control.model_dump(mode="json")
        cid = control.id
        row = existing.get(cid)
        if row is None:
            by, change, note = (
                (DEFAULT_AUTHOR, "import", "bundled library")
                if result.first_import
                else (LIBRARY_AUTHOR, "library_update", f"added by library {version}")
            )
            await controls.insert(bundled, origin=DEFAULT_AUTHOR, by=by, at=now, change=change, note=note)
            await lib.set_baseline(cid, version, bundled)
            result.added.append(cid)
            if not result.first_import:
                await record_change(conn, cid, 1, by, "control.library_added", None, bundled, now)
            continue
        if row["origin"] != DEFAULT_AUTHOR or row["state"] != "active":
            # A company control that happens to share the id, or one the company retired: never touched.
            result.skipped.append(cid)
            continue
        baseline = baselines.get(cid) or first_versions.get(cid)
        added = additions(bundled, baseline)
        current = definition_of(row)
        removed = present(current, removals(bundled, baseline))
        if not has_any(added) and not has_any(removed):
            await lib.set_baseline(cid, version, bundled)
            continue
        if authors.get(cid, set()) <= GUARDIAN_AUTHORS:
            updated = apply_removals(apply_additions(current, added), removed)
            if updated != current:
                dropped = describe_removals(removed)
                new_version = await controls.update(
                    updated,
                    by=LIBRARY_AUTHOR,
                    at=now,
                    change="library_update",
                    note=f"library {version}" + (f": {dropped}" if dropped else ""),
                )
                await record_change(
                    conn, cid, new_version, LIBRARY_AUTHOR, "control.library_updated", current, updated, now
                )
                result.updated.append(cid)
            await lib.set_baseline(cid, version, bundled)
            continue
        # The company edited this control: its version stays as it is (their edit wins, removals
        # included); the note says what the library added and removed, for an editor to decide.
        update_id = f"libupd-{secrets.token_hex(6)}"
        if await lib.add_update(update_id, cid, version, added, bundled, now, removed):
            await emit(
                conn,
                "control.library_update_available",
                f"library-update:{cid}:{version}",
                {
                    "update_id": update_id,
                    "control_id": cid,
                    "library_version": version,
                    "additions": added,
                    "removals": removed,
                },
                now,
            )
            if has_any(removed):
                # The audit log says the library removed something the company's edited control keeps.
                await audit.record(
                    conn,
                    OUTBOX,
                    actor=None,
                    action="control.library_removal_withheld",
                    target_type="control",
                    target_id=cid,
                    before=current,
                    after={
                        "kept": current,
                        "library_version": version,
                        "removals": removed,
                        "reason": "the company edited this control: its version wins until an editor accepts "
                        f"library update {update_id}",
                    },
                    at=now,
                )
            result.noted.append(cid)
    await lib.set_compared_version(version, now)
    if not result.first_import and (result.added or result.updated or result.noted):
        log.info(
            "control_library_updated",
            version=version,
            added=len(result.added),
            updated=len(result.updated),
            noted=len(result.noted),
        )
    return result
