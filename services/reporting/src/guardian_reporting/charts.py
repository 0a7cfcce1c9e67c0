"""Dashboard charts: SVG drawn server-side with matplotlib, each with a text alternative.

Charts are drawn on a bare ``Figure`` (no pyplot), so no global backend or figure registry is touched
and drawing is safe beside other requests. Drawing costs tens of milliseconds, far more than the rest of
a page, so results are cached by their data: the same points draw once.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

# Text stays text in the SVG (smaller, selectable); ids are salted so output is stable for a cache.
_RC: dict[Any, Any] = {"svg.fonttype": "none", "svg.hashsalt": "guardian", "font.size": 9.0}

# Status colours chosen for contrast on white and told apart by label, never by colour alone.
STATUS_COLOURS = {
    "PASS": "#1b7a3a",
    "FAIL": "#b3261e",
    "ERROR": "#7a4b00",
    "EVIDENCE_REQUIRED": "#3f51b5",
    "NOT_APPLICABLE": "#6b6b6b",
}
STATUS_ORDER = ("PASS", "FAIL", "ERROR", "EVIDENCE_REQUIRED", "NOT_APPLICABLE")


@dataclass(frozen=True)
class Chart:
    """An SVG chart and what it shows in words: ``alt`` for the image, ``rows`` for a data table."""

    svg: str
    alt: str
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    # The XML prolog and DOCTYPE are not needed inside a data URI's SVG document; keep from <svg on.
    return text[text.index("<svg") :]


def _score_text(score: float | None) -> str:
    return "no score" if score is None else f"{score:.1f}%"


def readiness_trend(points: Sequence[tuple[datetime, float | None]], title: str = "Readiness over time") -> Chart:
    """Readiness (percent) at each stored result, oldest first; ``None`` marks a result with no score."""
    ordered = tuple(sorted((at.isoformat(), score) for at, score in points))
    return _readiness_trend(ordered, title)


@lru_cache(maxsize=256)
def _readiness_trend(points: tuple[tuple[str, float | None], ...], title: str) -> Chart:
    rows = tuple((at[:16].replace("T", " "), _score_text(score)) for at, score in points)
    scored = [(datetime.fromisoformat(at), score) for at, score in points if score is not None]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 2.4), dpi=100)
        ax = fig.add_subplot()
        if scored:
            # numpy datetime64 (naive UTC): matplotlib draws it as dates without any converter setup.
            xs = np.array([at.astimezone(UTC).replace(tzinfo=None) for at, _ in scored], dtype="datetime64[s]")
            ys = [score for _, score in scored]
            ax.plot(xs, ys, color="#1f4e96", marker="o", markersize=3, linewidth=1.6)
            ax.fill_between(xs, ys, color="#1f4e96", alpha=0.08)
            if xs[0] == xs[-1]:
                # One result (or all at one instant): a day either side, not matplotlib's default years.
                day = np.timedelta64(1, "D")
                ax.set_xlim(xs[0] - day, xs[-1] + day)
            fig.autofmt_xdate(rotation=0, ha="center")
        else:
            ax.text(0.5, 0.5, "No stored results yet", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
        ax.set_ylim(0, 100)
        ax.set_ylabel("Readiness %")
        ax.grid(axis="y", color="#d0d0d0", linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        svg = _svg(fig)
    if scored:
        first, last = scored[0], scored[-1]
        low = min(score for _, score in scored)
        high = max(score for _, score in scored)
        alt = (
            f"{title}: {len(scored)} result{'s' if len(scored) != 1 else ''}"
            f" from {first[0]:%Y-%m-%d} to {last[0]:%Y-%m-%d}; "
            f"first {first[1]:.1f}%, latest {last[1]:.1f}%, lowest {low:.1f}%, highest {high:.1f}%."
        )
    else:
        alt = f"{title}: no stored results yet."
    return Chart(svg=svg, alt=alt, caption=title, headers=("Result at (UTC)", "Readiness"), rows=rows)


def status_by_category(
    counts: Sequence[tuple[str, dict[str, int]]], title: str = "Control status by category"
) -> Chart:
    """Stacked bars: per category name, how many controls have each status."""
    frozen = tuple((name, tuple((s, per.get(s, 0)) for s in STATUS_ORDER)) for name, per in counts)
    return _status_by_category(frozen, title)


@lru_cache(maxsize=256)
def _status_by_category(counts: tuple[tuple[str, tuple[tuple[str, int], ...]], ...], title: str) -> Chart:
    names = [name for name, _ in counts]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 0.5 + 0.42 * max(len(names), 1)), dpi=100)
        ax = fig.add_subplot()
        lefts = [0] * len(names)
        drawn = False
        for index, status in enumerate(STATUS_ORDER):
            widths = [per[index][1] for _, per in counts]
            if not any(widths):
                continue
            ax.barh(names, widths, left=lefts, color=STATUS_COLOURS[status], label=status.replace("_", " ").title())
            lefts = [left + width for left, width in zip(lefts, widths, strict=True)]
            drawn = True
        ax.invert_yaxis()
        ax.set_xlabel("Controls")
        ax.spines[["top", "right"]].set_visible(False)
        if drawn:
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=5, frameon=False, fontsize=8)
        svg = _svg(fig)
    rows = tuple((name, *(str(n) for _, n in per)) for name, per in counts)
    parts = []
    for name, per in counts:
        present = ", ".join(f"{n} {s.replace('_', ' ').lower()}" for s, n in per if n)
        parts.append(f"{name}: {present or 'no controls'}")
    alt = f"{title}. " + ("; ".join(parts) if parts else "No controls in scope") + "."
    headers = ("Category", *(s.replace("_", " ").title() for s in STATUS_ORDER))
    return Chart(svg=svg, alt=alt, caption=title, headers=headers, rows=rows)


def cache_info() -> dict[str, int]:
    """Hits and misses of the chart caches (tests and the benchmark read them)."""
    trend = _readiness_trend.cache_info()
    status = _status_by_category.cache_info()
    return {"hits": trend.hits + status.hits, "misses": trend.misses + status.misses}
