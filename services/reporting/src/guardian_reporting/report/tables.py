"""CSV exports of a report: controls, findings, deviations and populations.

Each table is a list of rows with fixed columns (documented in ``docs/report-schema.md``). Lists in
a cell are joined with ``;``. A cell that a spreadsheet would run as a formula is prefixed with an
apostrophe (OWASP's advice for CSV injection): resource names and reasons come from AWS accounts.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from guardian_common.errors import Conflict
from guardian_reporting.report.model import Report

Table = Literal["controls", "findings", "deviations", "populations"]
TABLES: tuple[Table, ...] = ("controls", "findings", "deviations", "populations")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One value as the CSV shows it."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, list | tuple):
        text = ";".join(cell(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


COLUMNS: dict[Table, tuple[str, ...]] = {
    "controls": (
        "control_id",
        "title",
        "owner",
        "kind",
        "status",
        "reason",
        "requirements",
        "categories",
        "checks",
        "failing_resources",
        "failing_resource_arns",
        "justification",
    ),
    "findings": (
        "check_id",
        "resource_arn",
        "resource_type",
        "resource_name",
        "account_id",
        "region",
        "status",
        "evaluated_status",
        "severity",
        "reason",
        "controls",
        "acceptance_id",
        "observed_at",
        "first_seen",
        "status_since",
    ),
    "deviations": (
        "control_ids",
        "check_id",
        "resource_arn",
        "account_id",
        "region",
        "severity",
        "detected_at",
        "resolved_at",
        "time_to_resolve_days",
        "sla_days",
        "sla",
        "sla_met",
        "reopened",
        "acceptance_id",
        "reason",
    ),
    "populations": (
        "resource_arn",
        "resource_type",
        "resource_name",
        "account_id",
        "region",
        "tags",
        "config_hash",
        "configuration",
    ),
}


def _controls(report: Report) -> Iterable[Sequence[Any]]:
    for c in report.controls:
        failing = [r for r in c.failing_resources or [] if r.status != "ACCEPTED"]
        yield (
            c.id,
            c.title,
            c.owner,
            c.kind,
            c.status,
            c.reason,
            c.requirements,
            c.categories,
            [k.check_id for k in c.checks],
            len(failing) if c.failing_resources is not None else None,
            sorted({r.resource_arn for r in failing}) if c.failing_resources is not None else None,
            c.justification,
        )


def _findings(report: Report) -> Iterable[Sequence[Any]]:
    if report.findings is None:
        raise Conflict(
            "Findings are not known for this point in time (a stored past result); see the report's notes.",
            code="not_available",
        )
    for f in report.findings:
        yield (
            f.check_id,
            f.resource_arn,
            f.resource_type,
            f.resource_name,
            f.account_id,
            f.region,
            f.status,
            f.evaluated_status,
            f.severity,
            f.reason,
            f.controls,
            f.acceptance_id,
            f.observed_at,
            f.first_seen,
            f.status_since,
        )


def _deviations(report: Report) -> Iterable[Sequence[Any]]:
    if not report.deviations.available:
        raise Conflict(f"Deviations are not available: {report.deviations.reason}", code="not_available")
    for d in report.deviations.items:
        yield (
            d.control_ids,
            d.check_id,
            d.resource_arn,
            d.account_id,
            d.region,
            d.severity,
            d.detected_at,
            d.resolved_at,
            d.time_to_resolve_days,
            d.sla_days,
            d.sla,
            d.sla_met,
            d.reopened,
            d.acceptance_id,
            d.reason,
        )


def _populations(report: Report) -> Iterable[Sequence[Any]]:
    if not report.populations.available:
        raise Conflict(f"Populations are not available: {report.populations.reason}", code="not_available")
    for p in report.populations.items:
        yield (
            p.resource_arn,
            p.resource_type,
            p.resource_name,
            p.account_id,
            p.region,
            p.tags,
            p.config_hash,
            p.configuration,
        )


_ROWS: dict[Table, Callable[[Report], Iterable[Sequence[Any]]]] = {
    "controls": _controls,
    "findings": _findings,
    "deviations": _deviations,
    "populations": _populations,
}


def available(report: Report, table: Table) -> bool:
    if table == "findings":
        return report.findings is not None
    if table == "deviations":
        return report.deviations.available
    if table == "populations":
        return report.populations.available
    return True


def to_csv(report: Report, table: Table) -> str:
    """One table as CSV text (RFC 4180, CRLF line ends, a header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    rows = list(_ROWS[table](report))
    writer.writerow(COLUMNS[table])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()
