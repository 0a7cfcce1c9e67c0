"""The control matrix as CSV and YAML, both ways, keeping the line each control came from.

CSV: one control per record; multi-valued cells hold one item per line (``CC6.1: rationale``,
``policy: description``, one check id per line). YAML: the control library file shape
(``controls:`` list), so a library file can be imported as it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

CSV_COLUMNS = ("id", "title", "description", "owner", "frequency", "requirements", "checks", "evidence", "state")


@dataclass
class Parsed:
    line: int
    data: dict[str, Any]


class ImportSyntaxError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _pairs(cell: str) -> list[tuple[str, str]]:
    out = []
    for raw in cell.splitlines():
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        out.append((key.strip(), value.strip() if sep else ""))
    return out


def to_csv(controls: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in controls:
        writer.writerow(
            [
                c["id"],
                c["title"],
                c["description"],
                c["owner"],
                c["frequency"],
                "\n".join(f"{m['id']}: {m['rationale']}" for m in c["requirements"]),
                "\n".join(c["checks"]),
                "\n".join(f"{e['type']}: {e['description']}" for e in c["evidence"]),
                c.get("state", "active"),
            ]
        )
    return buffer.getvalue()


def from_csv(text: str) -> list[Parsed]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in CSV_COLUMNS if c not in header and c != "state"]
    if missing:
        raise ImportSyntaxError([f"line 1: missing columns {', '.join(missing)}"])
    out: list[Parsed] = []
    start = 2
    try:
        for row in reader:
            if any((v or "").strip() for k, v in row.items() if k is not None):
                out.append(
                    Parsed(
                        start,
                        {
                            "id": (row.get("id") or "").strip(),
                            "title": (row.get("title") or "").strip(),
                            "description": (row.get("description") or "").strip(),
                            "owner": (row.get("owner") or "").strip(),
                            "frequency": (row.get("frequency") or "").strip(),
                            "requirements": [
                                {"id": k, "rationale": v} for k, v in _pairs(row.get("requirements") or "")
                            ],
                            "checks": [c.strip() for c in (row.get("checks") or "").split() if c.strip()],
                            "evidence": [{"type": k, "description": v} for k, v in _pairs(row.get("evidence") or "")],
                            "state": (row.get("state") or "active").strip() or "active",
                        },
                    )
                )
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportSyntaxError([f"line {reader.line_num}: {exc}"]) from exc
    return out


def to_yaml(controls: Sequence[dict[str, Any]]) -> str:
    document = {"library": "guardian", "controls": list(controls)}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)


def from_yaml(text: str) -> list[Parsed]:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "line ?"
        raise ImportSyntaxError([f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from exc
    items_node: Any = root
    items: Any = data
    if isinstance(data, dict):
        items = data.get("controls")
        items_node = next(
            (v for k, v in getattr(root, "value", []) if getattr(k, "value", None) == "controls"),
            None,
        )
    if not isinstance(items, list) or items_node is None:
        raise ImportSyntaxError(["line 1: expected a 'controls:' list (or a list of controls)"])
    out: list[Parsed] = []
    for item, node in zip(items, items_node.value, strict=True):
        line = node.start_mark.line + 1
        if not isinstance(item, dict):
            raise ImportSyntaxError([f"line {line}: each control is a mapping"])
        out.append(Parsed(line, item))
    return out
