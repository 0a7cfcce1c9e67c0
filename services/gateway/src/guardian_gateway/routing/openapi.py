"""One OpenAPI document for the whole API, built from the services' own at start-up.

Each service operation appears under its gateway path. Components of the same name are shared when
they are identical and kept apart (``<service>_<name>``) when they differ, with every ``$ref`` of
that service rewritten to match. Every API operation requires a bearer key; the operations the
gateway itself answers for every request (rate limit, body size, upstream failure) are listed too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from guardian_gateway.routing.table import ROUTED_PREFIX, RouteTable

SECURITY_SCHEME = "bearer"
_REF_PREFIX = "#/components/"
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_GATEWAY_RESPONSES: dict[str, dict[str, Any]] = {
    "401": {"description": "Missing, malformed, revoked or expired API key"},
    "413": {"description": "The request body is larger than the gateway accepts"},
    "429": {
        "description": "This key's rate limit is exhausted",
        "headers": {"Retry-After": {"description": "Seconds until the limit resets", "schema": {"type": "integer"}}},
    },
    "502": {"description": "The service behind this endpoint could not be reached"},
    "504": {"description": "The service behind this endpoint did not answer in time"},
}


_UPSTREAM_ONLY = frozenset({"502", "504"})


def _rewrite_refs(value: Any, renames: Mapping[str, str]) -> Any:
    """A copy of ``value`` whose ``$ref`` to a renamed component points at its new name."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith(_REF_PREFIX):
                out[key] = _REF_PREFIX + renames.get(item[len(_REF_PREFIX) :], item[len(_REF_PREFIX) :])
            else:
                out[key] = _rewrite_refs(item, renames)
        return out
    if isinstance(value, list):
        return [_rewrite_refs(item, renames) for item in value]
    return value


def _merge_components(merged: dict[str, Any], service: str, components: Mapping[str, Any]) -> dict[str, str]:
    """Add ``service``'s components to ``merged``; return its renames ("schemas/X" -> "schemas/svc_X")."""
    renames: dict[str, str] = {}
    # Renaming one component can make another that refers to it differ too: repeat until stable.
    changed = True
    while changed:
        changed = False
        for section, entries in components.items():
            if not isinstance(entries, Mapping):
                continue
            existing = merged.get(section, {})
            for name, value in entries.items():
                ref = f"{section}/{name}"
                if ref in renames or name not in existing:
                    continue
                if existing[name] != _rewrite_refs(value, renames):
                    renames[ref] = f"{section}/{_free_name(f'{service}_{name}', existing, entries)}"
                    changed = True
    for section, entries in components.items():
        if not isinstance(entries, Mapping):
            continue
        target = merged.setdefault(section, {})
        for name, value in entries.items():
            ref = f"{section}/{name}"
            new_name = renames.get(ref, ref).split("/", 1)[1]
            target.setdefault(new_name, _rewrite_refs(value, renames))
    return renames


def _free_name(candidate: str, *taken: Mapping[str, Any]) -> str:
    name, n = candidate, 2
    while any(name in names for names in taken):
        name, n = f"{candidate}_{n}", n + 1
    return name


def _secure(operation: dict[str, Any], *, proxied: bool) -> None:
    operation["security"] = [{SECURITY_SCHEME: []}]
    responses = operation.setdefault("responses", {})
    for status, response in _GATEWAY_RESPONSES.items():
        if proxied or status not in _UPSTREAM_ONLY:
            entry = copy.deepcopy(response)
            entry["content"] = {"application/json": {"schema": dict(_ERROR_REF)}}
            responses.setdefault(status, entry)


def merge_openapi(
    gateway: Mapping[str, Any], specs: Mapping[str, Mapping[str, Any]], table: RouteTable
) -> dict[str, Any]:
    """The gateway's own document with every routed service operation added under its gateway path."""
    merged: dict[str, Any] = copy.deepcopy(dict(gateway))
    merged["info"] = {
        **merged.get("info", {}),
        "title": "Guardian API",
        "description": "Every Guardian service behind one gateway. Send 'Authorization: Bearer <key>'.",
    }
    paths: dict[str, Any] = merged.setdefault("paths", {})
    components: dict[str, Any] = merged.setdefault("components", {})
    components.setdefault("schemas", {})

    for path, item in paths.items():
        if path.startswith(ROUTED_PREFIX):
            for operation in item.values():
                _secure(operation, proxied=False)

    for service, spec in specs.items():
        renames = _merge_components(components, service, spec.get("components", {}))
        service_paths: Mapping[str, Any] = spec.get("paths", {})
        for route in table.for_service(service):
            operation = _rewrite_refs(copy.deepcopy(service_paths[route.upstream][route.method.lower()]), renames)
            if "operationId" in operation:
                operation["operationId"] = f"{service}_{operation['operationId']}"
            if not operation.get("tags"):
                operation["tags"] = [service]
            _secure(operation, proxied=True)
            paths.setdefault(route.path, {})[route.method.lower()] = operation

    components.setdefault("schemas", {}).setdefault(
        "ErrorBody",
        {
            "type": "object",
            "title": "ErrorBody",
            "required": ["error", "detail"],
            "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
        },
    )
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A Guardian API key (gdk_...), created by an admin and shown once.",
    }
    merged["paths"] = dict(sorted(paths.items()))
    return merged
