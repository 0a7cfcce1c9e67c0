"""Render a report in each export format, and assemble the signed auditor package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from guardian_common.errors import BadRequest
from guardian_reporting.package import build_package
from guardian_reporting.report.model import Report
from guardian_reporting.report.ocsf import ocsf_json
from guardian_reporting.report.pdf import render_pdf
from guardian_reporting.report.tables import TABLES, Table, available, to_csv
from guardian_reporting.sources import Sources

Format = Literal["json", "pdf", "csv", "ocsf", "package"]
FORMATS: tuple[Format, ...] = ("json", "pdf", "csv", "ocsf", "package")


@dataclass(frozen=True)
class Rendered:
    content: bytes
    media_type: str
    filename: str


def base_name(report: Report) -> str:
    w = report.window
    when = f"{w.start}_{w.end}" if w.kind == "period" else w.at.strftime("%Y%m%dT%H%M%SZ")
    return f"guardian-{report.framework['id']}-{report.scope.id}-{when}"


def report_json(report: Report) -> bytes:
    return (json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=False) + "\n").encode()


def render(report: Report, fmt: Format, table: Table | None = None) -> Rendered:
    name = base_name(report)
    if fmt == "json":
        return Rendered(report_json(report), "application/json", f"{name}.json")
    if fmt == "pdf":
        return Rendered(render_pdf(report), "application/pdf", f"{name}.pdf")
    if fmt == "ocsf":
        return Rendered(ocsf_json(report).encode(), "application/json", f"{name}.ocsf.json")
    if fmt == "csv":
        if table is None:
            raise BadRequest(f"Name the CSV table: one of {', '.join(TABLES)}.", code="csv_table_required")
        return Rendered(to_csv(report, table).encode(), "text/csv; charset=utf-8", f"{name}-{table}.csv")
    raise BadRequest(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.", code="unknown_format")


async def package_files(report: Report, sources: Sources) -> tuple[Report, dict[str, bytes]]:
    """Every file of the package. Evidence is downloaded and checked against the index's hash; the
    report returned names where each evidence file sits inside the package."""
    files: dict[str, bytes] = {}
    entries = []
    for entry in report.evidence.entries:
        path = f"evidence/{entry.item_id}/v{entry.version}/"
        existing = next((p for p in files if p.startswith(path)), None)
        if existing is None:
            download = await sources.evidence_content(entry.item_id, entry.version, entry.sha256)
            existing = path + download.filename
            files[existing] = download.content
        entries.append(entry.model_copy(update={"packaged_as": existing}))
    packaged = report.model_copy(update={"evidence": report.evidence.model_copy(update={"entries": entries})})
    files["report.json"] = report_json(packaged)
    files["report.pdf"] = render_pdf(packaged)
    files["ocsf.json"] = ocsf_json(packaged).encode()
    for table in TABLES:
        if available(packaged, table):
            files[f"{table}.csv"] = to_csv(packaged, table).encode()
    return packaged, files


async def auditor_package(report: Report, sources: Sources, key: Ed25519PrivateKey) -> Rendered:
    packaged, files = await package_files(report, sources)
    w = packaged.window
    subject = {
        "framework": packaged.framework["id"],
        "scope": packaged.scope.id,
        "window": w.model_dump(mode="json"),
        "scan_id": packaged.basis.scan_id,
        "generated_by": packaged.generator.generated_by,
    }
    content = build_package(files, key, created_at=packaged.generator.generated_at, subject=subject)
    return Rendered(content, "application/zip", f"{base_name(packaged)}.zip")
