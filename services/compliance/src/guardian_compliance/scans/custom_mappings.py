"""Controls served by custom checks, as the evaluator's catalogue declares them.

A user's rule file may name the controls its check supports (``controls: [GRD-DATA-02]``); the
evaluator publishes them in the catalogue event (``CheckInfo.controls``) and compliance stores each
check's description as received. Built-in checks are mapped by the control library itself and leave
the field empty. When the active library is assembled, each custom check is added to the check list
of every control it names, so its findings count in that control's status (and, through the
control, in every requirement the control is mapped to) exactly like a built-in check's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
