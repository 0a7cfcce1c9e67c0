"""A report as a PDF (reportlab): what an auditor reads first.

Sections, in order: cover (scope, window, carve-outs, versions), readiness and its formula,
requirements per category, controls with their failing resources, risk acceptances, the evidence
index, monitoring coverage and deviations, what Guardian does not assess, and notes. Section
titles are fixed strings (``SECTIONS``) so that tests and readers can find them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_LEFT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable  # type: ignore[import-untyped]

from guardian_reporting.report.model import ControlRow, Report

SECTIONS = (
    "1. Readiness",
    "2. Requirements by category",
    "3. Controls",
    "4. Risk acceptances",
    "5. Evidence index",
    "6. Monitoring coverage and deviations",
    "7. What Guardian does not assess",
    "8. Notes",
)
# A control lists at most this many resources in the PDF; every one is in findings.csv.
MAX_RESOURCES_PER_CONTROL = 200

_STATUS_COLOUR = {
    "PASS": colors.HexColor("#1b5e20"),
    "FAIL": colors.HexColor("#b71c1c"),
    "ERROR": colors.HexColor("#e65100"),
    "EVIDENCE_REQUIRED": colors.HexColor("#4a148c"),
    "ACCEPTED": colors.HexColor("#0d47a1"),
    "NOT_APPLICABLE": colors.HexColor("#424242"),
}


class _Styles:
    def __init__(self) -> None:
        base = getSampleStyleSheet()
        self.title = ParagraphStyle("GTitle", parent=base["Title"], fontSize=22, leading=26, alignment=TA_LEFT)
        self.h1 = ParagraphStyle("GH1", parent=base["Heading1"], fontSize=16, leading=20, spaceBefore=6)
        self.h2 = ParagraphStyle("GH2", parent=base["Heading2"], fontSize=12, leading=15, spaceBefore=8)
        self.body = ParagraphStyle("GBody", parent=base["BodyText"], fontSize=9.5, leading=12.5)
        self.small = ParagraphStyle("GSmall", parent=base["BodyText"], fontSize=7.5, leading=9.5)
        self.mono = ParagraphStyle("GMono", parent=self.small, fontName="Courier", fontSize=7, leading=9)


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)), style)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


# A table row cannot break across pages, so one cell may hold at most this many lines of text.
MAX_CELL_LINES = 40
TRUNCATED = " ... [truncated here; the full text is in report.json]"


def _fit(value: Any, width: float, style: ParagraphStyle) -> str:
    """A cell's text, cut so its row always fits on a page (the JSON and CSV keep every character)."""
    text = "" if value is None else str(value)
    per_line = max(8, int(width / (style.fontSize * 0.62)))
    limit = per_line * MAX_CELL_LINES
    return text if len(text) <= limit else text[: limit - len(TRUNCATED) - per_line] + TRUNCATED


def _table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float], st: _Styles, mono: Sequence[int] = ()
) -> Table:
    data = [[_p(h, st.small) for h in header]]
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            style = st.mono if i in mono else st.small
            cells.append(_p(_fit(v, widths[i] - 6, style), style))
        data.append(cells)
    table = Table(data, colWidths=list(widths), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e0e0e0")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9e9e9e")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _kv(pairs: Sequence[tuple[str, Any]], st: _Styles, width: float) -> Table:
    value_width = width - 45 * mm
    table = Table(
        [[_p(k, st.small), _p(_fit(v, value_width - 6, st.body), st.body)] for k, v in pairs],
        colWidths=[45 * mm, value_width],
    )
    table.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey)])
    )
    return table


def _window_text(report: Report) -> str:
    w = report.window
    if w.kind == "period":
        lock = "locked" if w.locked else "not locked"
        return (
            f"Audit period {w.period_name} ({w.period_type}): {w.start} to {w.end}, {lock}; posture as of {_when(w.at)}"
        )
    return f"Point in time: {_when(w.at)}"


def _cover(report: Report, st: _Styles, width: float) -> list[Flowable]:
    s, v = report.scope, report.versions
    out: list[Flowable] = [
        _p(f"{report.framework['name']} readiness report", st.title),
        _p(f"Scope: {s.name} ({s.id}, version {s.version})", st.h2),
        _p(_window_text(report), st.body),
        Spacer(1, 4 * mm),
        _kv(
            [
                ("Framework", f"{report.framework['title']} (version {report.framework['version']})"),
                ("Categories", ", ".join(s.categories)),
                ("Accounts", ", ".join(s.account_ids) or "every account scanned"),
                ("Regions", ", ".join(s.regions) or "every region scanned"),
                ("Tags", "; ".join(f"{k}={'|'.join(vs) or '*'}" for k, vs in s.tags.items()) or "none"),
                (
                    "Based on",
                    f"{report.basis.source} result of scan {report.basis.scan_id} ({report.basis.scan_state}"
                    + (", partial" if report.basis.partial else "")
                    + f"), finalised {_when(report.basis.finalised_at)}",
                ),
                ("Check catalogue version", v.check_catalogue or "-"),
                ("Control library version (mappings)", v.control_library),
                ("Framework version", v.framework),
                ("Generated", f"{_when(report.generator.generated_at)} for {report.generator.generated_by}"),
            ],
            st,
            width,
        ),
        _p("Carve-outs (subservice organisations)", st.h2),
    ]
    if s.carve_outs:
        out.append(
            _table(
                ["Organisation", "Services", "Method", "Criteria"],
                [[c.organisation, c.services, c.method, ", ".join(c.criteria)] for c in s.carve_outs],
                [40 * mm, 60 * mm, 22 * mm, width - 122 * mm],
                st,
            )
        )
    else:
        out.append(_p("None: no subservice organisation is carved out.", st.body))
    if s.user_entity_controls:
        out.append(_p("Complementary user-entity controls", st.h2))
        out.extend(_p(f"- {u}", st.body) for u in s.user_entity_controls)
    if s.not_applicable:
        out.append(_p("Marked not applicable", st.h2))
        out.extend(_p(f"{m['kind']} {m['id']}: {m['justification']}", st.body) for m in s.not_applicable)
    if v.checks:
        out.append(_p("Check versions", st.h2))
        out.append(_p(", ".join(f"{k} v{val}" for k, val in sorted(v.checks.items())), st.small))
    return out


def _readiness(report: Report, st: _Styles, width: float) -> list[Flowable]:
    r = report.readiness
    out: list[Flowable] = [
        _p(SECTIONS[0], st.h1),
        _p(f"Readiness score: {r.percent} ({r.passing} of {r.applicable} applicable controls pass)", st.h2),
        _p(f"Formula: {r.formula}", st.body),
        _p(
            f"In scope: {r.in_scope} controls; not applicable: {r.not_applicable}; by status: "
            + ", ".join(f"{k} {n}" for k, n in sorted(r.by_status.items())),
            st.body,
        ),
        Spacer(1, 3 * mm),
        _table(
            ["Category", "Score", "Passing", "Applicable"],
            [
                [c.name, "n/a" if c.score is None else f"{c.score * 100:.1f}%", c.passing, c.applicable]
                for c in r.by_category
            ],
            [70 * mm, 30 * mm, 30 * mm, width - 130 * mm],
            st,
        ),
    ]
    trend = report.trend
    if report.window.kind == "period":
        out.append(_p(f"Readiness over the period ({trend.granularity or 'per day'})", st.h2))
        if not trend.available:
            out.append(_p(f"Not available: {trend.reason}", st.body))
        else:
            out.append(
                _table(
                    ["From", "Scans", "Readiness at the last scan"],
                    [
                        [
                            f"{p.bucket:%Y-%m-%d}",
                            p.scans,
                            "not monitored"
                            if not p.monitored
                            else ("n/a" if p.readiness is None else f"{p.readiness * 100:.1f}%"),
                        ]
                        for p in trend.points
                    ],
                    [40 * mm, 30 * mm, width - 70 * mm],
                    st,
                )
            )
    return out


def _requirements(report: Report, st: _Styles, width: float) -> list[Flowable]:
    out: list[Flowable] = [_p(SECTIONS[1], st.h1)]
    names = {c.category: c.name for c in report.readiness.by_category}
    by_category: dict[str, list[Any]] = {}
    for r in report.requirements:
        by_category.setdefault(r.category, []).append(r)
    for category, rows in by_category.items():
        out.append(_p(f"{names.get(category, category)} ({len(rows)} criteria)", st.h2))
        out.append(
            _table(
                ["Criterion", "Title", "Status", "Controls", "Why"],
                [
                    [
                        r.id,
                        r.title,
                        r.status,
                        ", ".join(r.controls),
                        r.reason
                        + (f" Carved out to {', '.join(r.carved_out_to)}." if r.carved_out_to else "")
                        + (f" Justification: {r.justification}" if r.justification else ""),
                    ]
                    for r in rows
                ],
                [16 * mm, 45 * mm, 24 * mm, 35 * mm, width - 120 * mm],
                st,
            )
        )
    return out


def _control(c: ControlRow, st: _Styles, width: float) -> list[Flowable]:
    colour = _STATUS_COLOUR.get(c.status, colors.black)
    head = Paragraph(
        f"{escape(c.id)} {escape(c.title)}: <font color='{colour.hexval()}'>{escape(c.status)}</font>", st.h2
    )
    out: list[Flowable] = [
        head,
        _p(f"Owner: {c.owner or '-'}; kind: {c.kind}; criteria: {', '.join(c.requirements)}", st.small),
        _p(c.reason, st.body),
    ]
    if c.justification:
        out.append(_p(f"Justification: {c.justification}", st.body))
    if c.evidence_required:
        out.append(_p(f"Evidence required: {', '.join(c.evidence_required)}", st.small))
    if c.checks:
        out.append(
            _table(
                ["Check", "Severity", "Status", "Pass", "Fail", "Error", "Accepted"],
                [[k.check_id, k.severity, k.status, k.passed, k.failed, k.errored, k.accepted] for k in c.checks],
                [70 * mm, 18 * mm, 24 * mm, 14 * mm, 14 * mm, 14 * mm, width - 154 * mm],
                st,
                mono=(0,),
            )
        )
    if c.failing_resources is None:
        if c.status in ("FAIL", "ERROR"):
            out.append(_p("Failing resources: not known for this past point (see notes).", st.small))
    elif c.failing_resources:
        shown = c.failing_resources[:MAX_RESOURCES_PER_CONTROL]
        out.append(_p(f"Resources not passing ({len(c.failing_resources)}):", st.small))
        out.append(
            _table(
                ["Resource", "Check", "Status", "Reason"],
                [[r.resource_arn, r.check_id, r.status, r.reason] for r in shown],
                [62 * mm, 40 * mm, 18 * mm, width - 120 * mm],
                st,
                mono=(0, 1),
            )
        )
        hidden = len(c.failing_resources) - len(shown)
        if hidden > 0:
            out.append(_p(f"... and {hidden} more, listed in findings.csv.", st.small))
    return [KeepTogether(out[:3]), *out[3:], Spacer(1, 2 * mm)]


def _controls(report: Report, st: _Styles, width: float) -> list[Flowable]:
    out: list[Flowable] = [_p(SECTIONS[2], st.h1)]
    order = {"FAIL": 0, "ERROR": 1, "EVIDENCE_REQUIRED": 2, "PASS": 3, "NOT_APPLICABLE": 4}
    for c in sorted(report.controls, key=lambda c: (order.get(c.status, 5), c.id)):
        out.extend(_control(c, st, width))
    return out


def _acceptances(report: Report, st: _Styles, width: float) -> list[Flowable]:
    out: list[Flowable] = [_p(SECTIONS[3], st.h1)]
    if not report.acceptances:
        out.append(_p("No risk acceptance was in force during this window.", st.body))
        return out
    for a in report.acceptances:
        out.append(_p(f"{a.id}: {a.covers}", st.h2))
        out.append(
            _kv(
                [
                    ("Justification", a.justification),
                    ("Compensating control", a.compensating_control or "-"),
                    ("Requested by", a.requested_by),
                    ("Approved by", f"{a.approver or '-'} on {_when(a.decided_at)}"),
                    ("In force", f"{_when(a.starts_at)} to {_when(a.ends_at)} ({a.status})"),
                ],
                st,
                width,
            )
        )
    return out


def _evidence(report: Report, st: _Styles, width: float) -> list[Flowable]:
    e = report.evidence
    out: list[Flowable] = [
        _p(SECTIONS[4], st.h1),
        _p(f"Accepted evidence current between {e.window_from} and {e.window_to}.", st.body),
    ]
    if e.entries:
        out.append(
            _table(
                ["Item", "Title", "Controls", "Version", "SHA-256", "Reviewed by", "Current"],
                [
                    [
                        x.item_id,
                        x.title,
                        ", ".join(x.control_ids),
                        x.version,
                        x.sha256,
                        x.reviewed_by,
                        f"{_when(x.current_from)} to {_when(x.current_to) if x.current_to else 'now'}",
                    ]
                    for x in e.entries
                ],
                [26 * mm, 34 * mm, 22 * mm, 12 * mm, 34 * mm, 20 * mm, width - 148 * mm],
                st,
                mono=(0, 4),
            )
        )
    else:
        out.append(_p("No accepted evidence was current in this window.", st.body))
    if e.uncovered:
        out.append(_p(f"Items without an accepted, valid version in the window: {', '.join(e.uncovered)}", st.body))
    return out


def _monitoring(report: Report, st: _Styles, width: float) -> list[Flowable]:
    out: list[Flowable] = [_p(SECTIONS[5], st.h1)]
    cov = report.coverage
    out.append(_p("Monitoring coverage", st.h2))
    if not cov.available:
        out.append(_p(f"Not available: {cov.reason}", st.body))
    else:
        share = "n/a" if cov.monitored_share is None else f"{cov.monitored_share * 100:.1f}%"
        out.append(
            _p(
                f"Share of the period in which every account, region and service in scope had a complete scan:"
                f" {share}. Time without one is not monitored, never counted as passing.",
                st.body,
            )
        )
        if cov.not_monitored:
            out.append(_p("Not monitored: " + "; ".join(cov.not_monitored), st.small))
        if cov.rows:
            out.append(
                _table(
                    ["Account", "Region", "Service", "Monitored", "Not monitored"],
                    [
                        [
                            r.account_id or "-",
                            r.region or "-",
                            r.service or "-",
                            "n/a" if r.monitored_share is None else f"{r.monitored_share * 100:.1f}%",
                            "; ".join(r.gaps) or "none",
                        ]
                        for r in cov.rows
                    ],
                    [26 * mm, 24 * mm, 24 * mm, 20 * mm, width - 94 * mm],
                    st,
                )
            )
    dev = report.deviations
    out.append(_p("Deviations", st.h2))
    if not dev.available:
        out.append(_p(f"Not available: {dev.reason}", st.body))
    else:
        if dev.source == "accepted_failures":
            out.append(
                _p(
                    "Failures covered by a risk acceptance at the report's instant (they do not fail their"
                    " control, and remain deviations).",
                    st.body,
                )
            )
        if dev.reason:
            out.append(_p(dev.reason, st.small))
        if dev.deviation_count is not None:
            sla = ", ".join(f"{k} {v:g} d" for k, v in sorted(dev.sla_days.items())) or "none configured"
            out.append(
                _p(
                    f"Deviations: {dev.deviation_count}; SLA misses: {dev.sla_misses}; SLA per severity: {sla}.",
                    st.body,
                )
            )
        if dev.controls:
            out.append(
                _table(
                    ["Control", "Passing share of monitored time", "Deviations", "Open", "SLA misses", "Accepted"],
                    [
                        [
                            c.control_id,
                            "n/a" if c.share_passing is None else f"{c.share_passing * 100:.1f}%",
                            c.deviation_count,
                            c.open_count,
                            c.sla_misses,
                            c.accepted_count,
                        ]
                        for c in dev.controls
                        if c.deviation_count or c.share_passing != 1
                    ],
                    [40 * mm, 40 * mm, 24 * mm, 20 * mm, 24 * mm, width - 148 * mm],
                    st,
                )
            )
        if dev.items:
            out.append(
                _table(
                    ["Controls", "Check", "Resource or occurrence", "Detected", "Resolved", "SLA", "Acceptance"],
                    [
                        [
                            ", ".join(d.control_ids) or "-",
                            d.check_id or "evidence",
                            d.resource_arn or d.reason or "-",
                            _when(d.detected_at),
                            _when(d.resolved_at) if d.resolved_at else "open",
                            _sla_text(d.sla_days, d.time_to_resolve_days, d.sla),
                            d.acceptance_id or "-",
                        ]
                        for d in dev.items
                    ],
                    [20 * mm, 30 * mm, 40 * mm, 22 * mm, 22 * mm, 24 * mm, width - 158 * mm],
                    st,
                    mono=(2,),
                )
            )
        else:
            out.append(_p("No deviation in this window.", st.body))
    return out


def _sla_text(sla_days: float | None, ttr: float | None, state: str | None) -> str:
    parts = []
    if ttr is not None:
        parts.append(f"{ttr:.2f} d to resolve")
    if sla_days is not None:
        parts.append(f"SLA {sla_days:g} d")
    if state is not None:
        parts.append(state.replace("_", " "))
    return ", ".join(parts) or "-"


def render_pdf(report: Report) -> bytes:
    buffer = io.BytesIO()
    margin = 14 * mm
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=f"{report.framework['name']} readiness report: {report.scope.name}",
        author="Guardian",
        subject=_window_text(report),
        creator="Guardian reporting",
    )
    width = A4[0] - 2 * margin
    st = _Styles()
    story: list[Flowable] = []
    story += _cover(report, st, width)
    story.append(PageBreak())
    story += _readiness(report, st, width)
    story += _requirements(report, st, width)
    story.append(PageBreak())
    story += _controls(report, st, width)
    story += _acceptances(report, st, width)
    story += _evidence(report, st, width)
    story += _monitoring(report, st, width)
    story += [_p(SECTIONS[6], st.h1), _p(report.not_assessed, st.body)]
    story.append(_p(SECTIONS[7], st.h1))
    story.extend(_p(n, st.body) for n in report.notes or ["None."])

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(margin, 8 * mm, f"Guardian | {report.scope.id} | {_window_text(report)}"[:150])
        canvas.drawRightString(A4[0] - margin, 8 * mm, f"Page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
