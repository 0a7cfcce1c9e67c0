"""Rendering dashboard pages: one Jinja2 environment (autoescaped), URLs that keep scope and period."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from guardian_common.auth import Principal
from guardian_reporting.sources import Period, Scope
from guardian_reporting.web.cache import ReadCache
from guardian_reporting.web.timing import CURRENT

BASE = "/dashboard"

NAV: tuple[tuple[str, str, str], ...] = (
    (BASE, "Overview", "overview"),
    (f"{BASE}/findings", "Findings", "findings"),
    (f"{BASE}/encryption", "Encryption", "encryption"),
    (f"{BASE}/scans", "Scans", "scans"),
)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("guardian_reporting", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def static_dir() -> Path:
    return Path(str(resources.files("guardian_reporting") / "static"))


def _when(value: Any) -> str:
    """A timestamp as people read it (UTC, to the minute); dates and text pass through."""
    if value is None:
        return "—"
    strftime = getattr(value, "strftime", None)
    if strftime is not None and hasattr(value, "hour"):
        return str(strftime("%Y-%m-%d %H:%M UTC"))
    return str(value)


@dataclass(frozen=True)
class Notice:
    text: str
    warn: bool = False


@dataclass
class Frame:
    """What every page shows around its content: who, which scope and period, where it is."""

    principal: Principal
    # Shared short-lived reads of the live posture (see web/cache.py).
    cache: ReadCache
    scopes: list[Scope]
    scope: Scope
    period: Period | None
    path: str
    active: str
    # Page parameters other than scope and period, carried through the scope selector.
    params: dict[str, str] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)

    def url(self, path: str, **params: Any) -> str:
        """A dashboard URL for the same scope and period, with ``params`` (None values dropped)."""
        query: dict[str, str] = {"scope": self.scope.id}
        if self.period is not None:
            query["period"] = self.period.id
        for key, value in params.items():
            if value is not None and value != "":
                query[key] = str(value)
        return f"{path}?{urlencode(query)}"

    def here(self, **changes: Any) -> str:
        """This page's URL with some parameters changed (paging, filters)."""
        merged: dict[str, Any] = {**self.params, **changes}
        return self.url(self.path, **merged)


def render(template: str, frame: Frame, title: str, **context: Any) -> str:
    started = time.perf_counter()
    try:
        return _render(template, frame, title, **context)
    finally:
        timing = CURRENT.get()
        if timing is not None:
            timing.render_seconds += time.perf_counter() - started


def _render(template: str, frame: Frame, title: str, **context: Any) -> str:
    env = environment()
    # Filters survive a change of scope or period; the page offset does not (the new list may be shorter).
    keep: Sequence[tuple[str, str]] = sorted((k, v) for k, v in frame.params.items() if v and k != "offset")
    values: Mapping[str, Any] = {
        "title": title,
        "principal": frame.principal,
        "scopes": frame.scopes,
        "scope": frame.scope,
        "period": frame.period,
        "path": frame.path,
        "active": frame.active,
        "nav": NAV,
        "notices": frame.notices,
        "keep_params": keep,
        "url": frame.url,
        "here": frame.here,
        "static_url": lambda name: f"{BASE}/static/{name}",
        **context,
    }
    return env.get_template(template).render(values)
