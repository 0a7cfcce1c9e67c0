"""The control ids a custom rule file may name in its ``controls``.

A rule's mapping counts only if compliance has a control with that id: the bundled control library's
controls, or a control the company created. The evaluator cannot ask compliance at start-up (services
share data only through events and REST, and the evaluator must start without compliance), and its image
does not carry compliance's package, so:

* the bundled library's ids ship with the evaluator in ``library_controls.txt``, generated from the
  library (``python -m guardian_evaluator.control_ids``; a test fails while it is stale);
* the company's own control ids are a setting, ``GUARDIAN_CONTROL_IDS`` (comma-separated, or a JSON
  list), read by the evaluator at start-up and by ``guardian checks validate`` alike.

A control the company retires or never creates is still caught later: compliance lists every mapping
whose control it does not hold (``unknown_mappings`` of the framework mapping).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

# What compliance accepts as the id of a control a company creates (controls/schemas.py CONTROL_ID).
CONTROL_ID = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{1,63}$")
LIBRARY_FILE = "library_controls.txt"
ENV_VAR = "GUARDIAN_CONTROL_IDS"
HEADER = (
    "# Control ids of Guardian's bundled control library, one a line: the controls a custom rule may name\n"
    "# besides those listed in GUARDIAN_CONTROL_IDS. Generated: python -m guardian_evaluator.control_ids\n"
)


def parse_control_ids(value: Any) -> list[str]:
    """A setting's value as a list of ids: a list, a JSON list, or comma-separated text."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{ENV_VAR} is not a JSON list: {exc}") from exc
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{ENV_VAR} must list control ids, e.g. ACME-01,ACME-02")
    ids = [v.strip() for v in value]
    bad = [v for v in ids if not CONTROL_ID.match(v)]
    if bad:
        raise ValueError(
            f"{ENV_VAR}: {', '.join(repr(b) for b in bad)} is not a control id "
            "(capital letters, digits, '-', '_' or '.', 2 to 64 characters)"
        )
    return ids


@cache
def library_control_ids() -> frozenset[str]:
    """The bundled control library's ids, as shipped with the evaluator."""
    text = resources.files("guardian_evaluator").joinpath(LIBRARY_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def known_control_ids(company: Iterable[str] = ()) -> frozenset[str]:
    """Every control id a rule may name: the bundled library's and the company's own."""
    return library_control_ids() | frozenset(company)


def render(ids: Iterable[str]) -> str:
    return HEADER + "".join(f"{control_id}\n" for control_id in sorted(set(ids)))


def current_library_file() -> str:
    """The file's content as the bundled control library stands (needs compliance's package: a dev tool)."""
    from guardian_compliance.frameworks.model import bundled_library

    return render(c.id for c in bundled_library().controls)


def main() -> None:
    """Regenerate ``library_controls.txt`` next to this module."""
    target = Path(__file__).with_name(LIBRARY_FILE)
    target.write_text(current_library_file(), encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main()
