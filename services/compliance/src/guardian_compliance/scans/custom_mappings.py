"""Controls served by custom checks, as the evaluator's catalogue declares them.

A user's rule file may name the controls its check supports (``controls: [GRD-DATA-02]``); the
evaluator publishes them in the catalogue event (``CheckInfo.controls``) and compliance stores each
check's description as received. Built-in checks are mapped by the control library itself and leave
the field empty. When the active library is assembled, each custom check is added to the check list
of every control it names, so its findings count in that control's status (and, through the
control, in every requirement the control is mapped to) exactly like a built-in check's.

The evaluator refuses a rule naming a control it does not know (the bundled library's ids plus the
company's ``GUARDIAN_CONTROL_IDS``), but a mapping can still miss: a listed company control that was
never created here, one the company retired, a catalogue published by an older evaluator. Such a
mapping is never dropped silently: :func:`unknown_mappings` says which, and the framework mapping
(REST, and ``guardian frameworks mapping`` as warnings) lists them with the reason.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from guardian_compliance.frameworks.model import Control


def declared_mappings(checks_meta: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """control id -> the custom check ids (sorted) that name it, from the stored catalogue."""
    mapped: dict[str, set[str]] = {}
    for check_id, meta in checks_meta.items():
        for control_id in meta.get("controls") or []:
            if isinstance(control_id, str) and control_id.strip():
                mapped.setdefault(control_id.strip(), set()).add(str(check_id))
    return {control_id: sorted(ids) for control_id, ids in sorted(mapped.items())}


def with_declared_checks(controls: Sequence[Control], mapped: Mapping[str, Sequence[str]]) -> list[Control]:
    """``controls`` with each control's declared custom checks appended after its own (once each).

    A mapping naming a control that is not in the library (retired, or a typo in a rule file) adds
    nothing: there is no control for the check's findings to count in.
    """
    out: list[Control] = []
    for control in controls:
        extra = [c for c in mapped.get(control.id, ()) if c not in control.checks]
        out.append(control.model_copy(update={"checks": [*control.checks, *extra]}) if extra else control)
    return out


def unknown_controls(controls: Sequence[Control], mapped: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The declared mappings whose control is not in the library: control id -> check ids."""
    known = {c.id for c in controls}
    return {control_id: list(ids) for control_id, ids in mapped.items() if control_id not in known}


@dataclass(frozen=True)
class UnknownMapping:
    """A control a custom check's rule file names that is not in the active control matrix."""

    control_id: str
    checks: list[str]
    reason: Literal["retired", "not_in_matrix"]
    detail: str


def unknown_mappings(
    controls: Sequence[Control], mapped: Mapping[str, Sequence[str]], retired: Collection[str] = ()
) -> list[UnknownMapping]:
    """Each declared mapping whose control is not active, why, and in a sentence; by control id."""
    out = []
    for control_id, ids in sorted(unknown_controls(controls, mapped).items()):
        checks = ", ".join(ids)
        if control_id in retired:
            reason: Literal["retired", "not_in_matrix"] = "retired"
            detail = (
                f"Custom check(s) {checks} name control {control_id}, which was retired: their findings count in "
                "no control or requirement until the rule file names an active control."
            )
        else:
            reason = "not_in_matrix"
            detail = (
                f"Custom check(s) {checks} name control {control_id}, which the control matrix does not hold: "
                "their findings count in no control or requirement until the control is created or the rule "
                "file is corrected."
            )
        out.append(UnknownMapping(control_id=control_id, checks=list(ids), reason=reason, detail=detail))
    return out
