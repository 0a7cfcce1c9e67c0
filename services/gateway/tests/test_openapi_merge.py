"""The merged OpenAPI document: every service's operations under their gateway paths, one set of components."""

from __future__ import annotations

import json
import re
from typing import Any

from guardian_gateway.routing.openapi import merge_openapi
from guardian_gateway.routing.table import build_route_table

ERROR_BODY = {"type": "object", "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}


def op(ref: str) -> dict[str, Any]:
    return {
        "operationId": "op",
        "responses": {"200": {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}},
    }


def service(paths: dict[str, dict[str, Any]], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": {"ErrorBody": ERROR_BODY, **schemas}}}


COLLECTOR = service(
    {"/api/v1/scans/{scan_id}": {"get": op("ScanOut")}, "/api/v1/scans": {"get": op("ScanList")}},
    {
        "ScanOut": {"type": "object", "properties": {"units": {"type": "array"}}},
        "ScanList": {"type": "object", "properties": {"items": {"items": {"$ref": "#/components/schemas/ScanOut"}}}},
    },
)
COMPLIANCE = service(
    {"/api/v1/scans/{scan_id}": {"get": op("ScanOut")}, "/api/v1/scans": {"get": op("ScanList")}},
    {
        "ScanOut": {"type": "object", "properties": {"readiness": {"type": "object"}}},
        # Identical text to the collector's ScanList, but its ScanOut is another schema.
        "ScanList": {"type": "object", "properties": {"items": {"items": {"$ref": "#/components/schemas/ScanOut"}}}},
    },
)
GATEWAY = {
    "openapi": "3.1.0",
    "info": {"title": "Guardian gateway", "version": "0.1.0"},
    "paths": {"/healthz": {"get": {"responses": {}}}, "/api/v1/keys": {"get": {"responses": {}}}},
    "components": {"schemas": {"ErrorBody": ERROR_BODY}},
}


def merged() -> dict[str, Any]:
    specs = {"collector": COLLECTOR, "compliance": COMPLIANCE}
    table = build_route_table(specs, reserved=[("GET", "/api/v1/keys")])
    return merge_openapi(GATEWAY, specs, table)


def schema_of(document: dict[str, Any], path: str) -> str:
    ref: str = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


def test_operations_appear_under_their_gateway_paths() -> None:
    document = merged()
    assert set(document["paths"]) == {
        "/healthz",
        "/api/v1/keys",
        "/api/v1/scans",
        "/api/v1/scans/{scan_id}",
        "/api/v1/scans/{scan_id}/evaluation",
        "/api/v1/evaluations",
    }
    assert document["paths"]["/api/v1/scans"]["get"]["operationId"] == "collector_op"
    assert document["paths"]["/api/v1/evaluations"]["get"]["operationId"] == "compliance_op"
    assert document["info"]["title"] == "Guardian API"


def test_components_that_differ_are_kept_apart_and_references_follow_them() -> None:
    document = merged()
    schemas = document["components"]["schemas"]
    assert schema_of(document, "/api/v1/scans/{scan_id}") == "ScanOut"
    assert schema_of(document, "/api/v1/scans/{scan_id}/evaluation") == "compliance_ScanOut"
    assert "readiness" in schemas["compliance_ScanOut"]["properties"]
    # ScanList read the same in both services but points at a different ScanOut: it must split too.
    assert schema_of(document, "/api/v1/evaluations") == "compliance_ScanList"
    assert schemas["compliance_ScanList"]["properties"]["items"]["items"]["$ref"].endswith("/compliance_ScanOut")
    assert "compliance_ErrorBody" not in schemas


def test_every_reference_resolves() -> None:
    document = merged()
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs
    assert refs <= set(document["components"]["schemas"])


def test_api_operations_need_a_bearer_key_and_operations_endpoints_do_not() -> None:
    document = merged()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    for path, item in document["paths"].items():
        for operation in item.values():
            if path.startswith("/api/"):
                assert operation["security"] == [{"bearer": []}]
                assert "401" in operation["responses"]
            else:
                assert "security" not in operation
    proxied = document["paths"]["/api/v1/scans"]["get"]["responses"]
    assert {"413", "429", "502", "504"} <= set(proxied)
    assert "Retry-After" in proxied["429"]["headers"]
    assert "429" not in document["paths"]["/healthz"]["get"]["responses"]
    own = document["paths"]["/api/v1/keys"]["get"]["responses"]
    assert {"401", "413", "429"} <= set(own)
    assert "502" not in own


def test_the_services_documents_are_not_changed() -> None:
    before = json.dumps([COLLECTOR, COMPLIANCE, GATEWAY], sort_keys=True)
    merged()
    assert json.dumps([COLLECTOR, COMPLIANCE, GATEWAY], sort_keys=True) == before
