"""The route table: (method, gateway path template) -> (service, upstream path template).

It is built from each service's OpenAPI document at start-up, so an endpoint a service adds is
routed without touching the gateway. Two services declaring the same method and path shape is a
start-up error naming both, unless an explicit :class:`Override` moves one of them to another
gateway path. Paths are matched segment by segment on the raw (still percent-encoded) path, so an
encoded ``/`` inside a parameter never creates a segment, and parameters reach the service exactly
as the client sent them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guardian_gateway.errors import MethodNotAllowed, RouteNotFound

HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE")
# Only the API is routed; each service's /healthz, /readyz, /metrics and docs stay its own.
ROUTED_PREFIX = "/api/"
GATEWAY = "gateway"

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")

Shape = tuple[str | None, ...]


class RouteTableError(RuntimeError):
    """The services' documents cannot be combined into one table; the gateway must not start."""


def segments(path: str) -> list[str]:
    return path.split("/")[1:]


def parse_template(template: str) -> tuple[Shape, tuple[str, ...]]:
    """A template's shape (literal segments, None where a parameter sits) and its parameter names."""
    if not template.startswith("/"):
        raise RouteTableError(f"path template {template!r} does not start with '/'")
    shape: list[str | None] = []
    names: list[str] = []
    for part in segments(template):
        match = _PARAM.match(part)
        if match is not None:
            shape.append(None)
            names.append(match.group(1))
        elif "{" in part or "}" in part:
            raise RouteTableError(f"path template {template!r}: a parameter must fill a whole segment")
        else:
            shape.append(part)
    return tuple(shape), tuple(names)


def fill(template: str, values: Iterable[str]) -> str:
    """Put ``values`` into the template's parameters, in order."""
    remaining = list(values)
    parts = []
    for part in segments(template):
        parts.append(remaining.pop(0) if _PARAM.match(part) else part)
    if remaining:
        raise RouteTableError(f"too many values for {template!r}")
    return "/" + "/".join(parts)


def rename(template: str, names: Iterable[str]) -> str:
    return fill(template, [f"{{{name}}}" for name in names])


@dataclass(frozen=True)
class Override:
    """Serve ``service``'s ``method upstream`` at ``gateway`` instead of at the same path.

    Parameters correspond by position, so the two templates may name them differently.
    """

    service: str
    method: str
    upstream: str
    gateway: str

    def __post_init__(self) -> None:
        up = parse_template(self.upstream)[1]
        down = parse_template(self.gateway)[1]
        if len(up) != len(down):
            raise RouteTableError(f"override {self.gateway!r} and {self.upstream!r} differ in their parameters")


# The collector and compliance both serve GET /api/v1/scans and GET /api/v1/scans/{id}: at the gateway
# the collector keeps them (a scan and its collection progress) and compliance's view of a scan
# becomes its evaluation.
OVERRIDES: tuple[Override, ...] = (
    Override("compliance", "GET", "/api/v1/scans/{scan_id}", "/api/v1/scans/{scan_id}/evaluation"),
    Override("compliance", "GET", "/api/v1/scans", "/api/v1/evaluations"),
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    service: str
    upstream: str
    shape: Shape

    @property
    def specificity(self) -> tuple[int, ...]:
        # A literal segment beats a parameter at the first position where two shapes differ.
        return tuple(1 if part is None else 0 for part in self.shape)


@dataclass(frozen=True)
class Match:
    route: Route
    upstream_path: str


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: (r.path, r.method))
        self._by_length: dict[int, list[Route]] = {}
        for route in self.routes:
            self._by_length.setdefault(len(route.shape), []).append(route)

    def match(self, method: str, raw_path: str) -> Match:
        parts = segments(raw_path)
        found: list[tuple[Route, list[str]]] = []
        for route in self._by_length.get(len(parts), []):
            values: list[str] = []
            for want, got in zip(route.shape, parts, strict=True):
                if want is None:
                    if not got:
                        break
                    values.append(got)
                elif want != got:
                    break
            else:
                found.append((route, values))
        if not found:
            raise RouteNotFound(f"No service answers {raw_path!r}.")
        allowed = [(route, values) for route, values in found if route.method == method.upper()]
        if not allowed:
            methods = sorted({route.method for route, _ in found})
            raise MethodNotAllowed(
                f"{raw_path!r} does not accept {method.upper()}; it accepts {', '.join(methods)}.",
                headers={"Allow": ", ".join(methods)},
            )
        route, values = min(allowed, key=lambda pair: pair[0].specificity)
        return Match(route=route, upstream_path=fill(route.upstream, values))

    def for_service(self, service: str) -> list[Route]:
        return [route for route in self.routes if route.service == service]


def build_route_table(
    specs: Mapping[str, Mapping[str, Any]],
    overrides: Iterable[Override] = OVERRIDES,
    reserved: Iterable[tuple[str, str]] = (),
) -> RouteTable:
    """Combine the services' OpenAPI documents (service name -> document) into one table.

    ``reserved`` lists (method, path) the gateway serves itself; a service declaring one is a conflict.
    """
    by_upstream: dict[tuple[str, str, Shape], Override] = {}
    for override in overrides:
        by_upstream[(override.service, override.method.upper(), parse_template(override.upstream)[0])] = override

    taken: dict[tuple[str, Shape], Route] = {}

    def add(route: Route) -> None:
        key = (route.method, route.shape)
        existing = taken.get(key)
        if existing is not None:
            raise RouteTableError(
                f"{route.method} {route.path} is declared by both the {existing.service} service"
                f" ({existing.method} {existing.upstream}) and the {route.service} service"
                f" ({route.method} {route.upstream}); add a gateway override for one of them"
            )
        taken[key] = route

    for method, path in reserved:
        add(Route(method=method.upper(), path=path, service=GATEWAY, upstream=path, shape=parse_template(path)[0]))

    for service, spec in specs.items():
        paths = spec.get("paths")
        if not isinstance(paths, Mapping):
            raise RouteTableError(f"the {service} service's OpenAPI document has no paths")
        for upstream, item in paths.items():
            if not upstream.startswith(ROUTED_PREFIX) or not isinstance(item, Mapping):
                continue
            shape, names = parse_template(upstream)
            for method in HTTP_METHODS:
                if method.lower() not in item:
                    continue
                moved = by_upstream.get((service, method, shape))
                path = rename(moved.gateway, names) if moved is not None else upstream
                add(Route(method=method, path=path, service=service, upstream=upstream, shape=parse_template(path)[0]))
    return RouteTable(route for route in taken.values() if route.service != GATEWAY)
