"""Which controls' evidence requirements are met at a moment, and what is missing for one control.

A control's evidence is met when, for every evidence type it requires, some item naming the
control is of that type, was accepted and has not expired (``valid_until`` after ``now``).
Anything less (nothing uploaded, awaiting review, rejected, expired, deleted) is not met: the
control stays EVIDENCE_REQUIRED. Expiry is decided against the clock at each computation, so
evidence stops counting at its time, not at the next event. Whether each past occurrence was
covered on time is period data (history/evidence_deviations.py), not current status; the view
lists every known version of each item with when it was accepted and current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from guardian_compliance.controls.service import ControlNotFound, active_library
from guardian_compliance.evidence.repository import EvidenceItemRepository
from guardian_compliance.evidence.schemas import ControlEvidence, EvidenceItemView, RequirementEvidence, VersionView
from guardian_compliance.frameworks.model import Control, ControlLibrary
from guardian_compliance.history.evidence_deviations import RECURRING, covered_moment, occurrence_at


@dataclass(frozen=True)
class EvidenceInForce:
    """The counting items at one moment, per control: control id -> evidence type -> item labels."""

    by_control: dict[str, dict[str, list[str]]]

    def met(self, library: ControlLibrary) -> set[str]:
        out = set()
        for control in library.controls:
            if not control.evidence:
                continue
            have = self.by_control.get(control.id, {})
            if all(have.get(req.type) for req in control.evidence):
                out.add(control.id)
        return out

    def used(self, library: ControlLibrary) -> dict[str, list[str]]:
        """For the versions of a result: which item versions counted for each control with evidence."""
        out: dict[str, list[str]] = {}
        for control in library.controls:
            wanted = {req.type for req in control.evidence}
            have = self.by_control.get(control.id, {})
            labels = sorted({label for t in wanted for label in have.get(t, [])})
            if labels:
                out[control.id] = labels
        return dict(sorted(out.items()))


async def evidence_in_force(conn: asyncpg.Connection, library: ControlLibrary, now: datetime) -> EvidenceInForce:
    wanted = [c.id for c in library.controls if c.evidence]
    rows = await EvidenceItemRepository(conn).counting(now, wanted)
    wanted_set = set(wanted)
    by_control: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        label = f"{r['item_id']}@v{r['accepted_version']}"
        for control_id in r["control_ids"]:
            if control_id in wanted_set:
                by_control.setdefault(control_id, {}).setdefault(r["evidence_type"], []).append(label)
    return EvidenceInForce(by_control)


def _counts(row: asyncpg.Record, now: datetime) -> bool:
    until: datetime | None = row["valid_until"]
    return bool(row["counts"]) and row["status"] != "deleted" and until is not None and until > now


def _version_view(item: asyncpg.Record, v: asyncpg.Record, frequency: str, now: datetime) -> VersionView:
    accepted: datetime | None = v["accepted_at"]
    ends = [t for t in (v["superseded_at"], v["valid_until"], v["deleted_at"]) if t is not None]
    until = min(ends) if ends and accepted is not None else None
    covers = None
    if accepted is not None and frequency in RECURRING:
        moment = covered_moment({**dict(item), **dict(v)}, frequency)
        covers = None if moment is None else occurrence_at(moment, frequency).label
    return VersionView(
        version=v["version"],
        uploaded_at=v["uploaded_at"],
        accepted_at=accepted,
        accepted_at_exact=v["accepted_at_exact"],
        rejected_at=v["rejected_at"],
        valid_from=v["valid_from"],
        valid_until=v["valid_until"],
        superseded_at=v["superseded_at"],
        deleted_at=v["deleted_at"],
        current_from=accepted,
        current_until=until if until is not None and until <= now else None,
        covers=covers,
    )


def _item_view(
    row: asyncpg.Record, now: datetime, versions: Sequence[asyncpg.Record] = (), frequency: str = ""
) -> EvidenceItemView:
    return EvidenceItemView(
        item_id=row["item_id"],
        title=row["title"],
        type=row["evidence_type"],
        owner=row["owner"],
        status=row["status"],
        counts=_counts(row, now),
        accepted_version=row["accepted_version"],
        latest_version=row["latest_version"],
        valid_until=row["valid_until"],
        period=row["period"] or {},
        reported_at=row["occurred_at"],
        versions=[_version_view(row, v, frequency, now) for v in versions],
    )


def _names(rows: list[asyncpg.Record]) -> str:
    return ", ".join(f"'{r['title']}' ({r['item_id']})" for r in rows)


def _requirement(
    evidence_type: str,
    description: str,
    rows: list[asyncpg.Record],
    now: datetime,
    versions: Mapping[str, list[asyncpg.Record]] | None = None,
    frequency: str = "",
) -> RequirementEvidence:
    items = [_item_view(r, now, (versions or {}).get(r["item_id"], []), frequency) for r in rows]
    if any(i.counts for i in items):
        return RequirementEvidence(type=evidence_type, description=description, met=True, items=items)
    if not rows:
        return RequirementEvidence(
            type=evidence_type,
            description=description,
            met=False,
            reason_code="none_uploaded",
            reason=f"No {evidence_type} evidence has been uploaded for this control.",
            items=items,
        )
    # None counts: each was never accepted (awaiting review or rejected), or its accepted version expired.
    pending = [r for r in rows if r["status"] == "pending_review"]
    expired = [r for r in rows if r["accepted_version"] is not None and r["valid_until"] is not None]
    newer = [r for r in expired if (r["latest_version"] or 0) > r["accepted_version"]]
    rejected = [r for r in rows if r["status"] == "rejected"]
    parts: list[str] = []
    if pending:
        parts.append(f"pending review: {_names(pending)}")
    if expired:
        last = max(expired, key=lambda r: r["valid_until"])
        parts.append(f"expired on {last['valid_until'].date().isoformat()}: {_names(expired)}")
    if newer:
        parts.append(f"a newer version is not accepted yet: {_names(newer)}")
    if rejected:
        parts.append(f"rejected in review (upload a new version): {_names(rejected)}")
    if pending:
        code = "pending_review"
    elif expired:
        code = "expired"
    elif rejected:
        code = "rejected"
    else:  # never accepted and in no state above: nothing usable was uploaded
        code = "none_uploaded"
        parts.append(f"no accepted {evidence_type} evidence: {_names(rows)}")
    reason = f"No accepted, current {evidence_type} evidence; " + "; ".join(parts) + "."
    return RequirementEvidence(
        type=evidence_type, description=description, met=False, reason_code=code, reason=reason, items=items
    )


def evidence_view(
    control: Control,
    rows: list[asyncpg.Record],
    now: datetime,
    versions: Mapping[str, list[asyncpg.Record]] | None = None,
) -> ControlEvidence:
    requirements = [
        _requirement(
            req.type,
            req.description,
            [r for r in rows if r["evidence_type"] == req.type],
            now,
            versions,
            control.frequency,
        )
        for req in control.evidence
    ]
    return ControlEvidence(
        control_id=control.id,
        title=control.title,
        kind=control.kind,
        frequency=control.frequency,
        met=all(r.met for r in requirements),
        checked_at=now,
        missing=[r.description for r in requirements if not r.met],
        requirements=requirements,
    )


async def control_evidence(conn: asyncpg.Connection, control_id: str, now: datetime) -> ControlEvidence:
    library = (await active_library(conn)).library
    control = next((c for c in library.controls if c.id == control_id), None)
    if control is None:
        raise ControlNotFound(f"No active control has the id {control_id!r}.")
    repo = EvidenceItemRepository(conn)
    rows = await repo.for_control(control_id)
    versions: dict[str, list[asyncpg.Record]] = {}
    for v in await repo.versions([r["item_id"] for r in rows]):
        versions.setdefault(v["item_id"], []).append(v)
    return evidence_view(control, rows, now, versions)
