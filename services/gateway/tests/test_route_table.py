"""The route table: built from the services' OpenAPI documents, with declared overrides and no silent conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_collector.app import create_app as collector_app
from guardian_collector.settings import CollectorSettings
from guardian_compliance.app import create_app as compliance_app
from guardian_compliance.settings import ComplianceSettings
from guardian_evaluator.app import create_app as evaluator_app
from guardian_evaluator.settings import EvaluatorSettings
from guardian_gateway.errors import MethodNotAllowed, RouteNotFound
from guardian_gateway.routing.table import Override, RouteTableError, build_route_table


def spec(*operations: str) -> dict[str, Any]:
    """A minimal OpenAPI document from "METHOD /path" strings."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        method, path = operation.split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = {"operationId": f"{method.lower()}_{path}", "responses": {}}
    return {"openapi": "3.1.0", "paths": paths}


COLLECTOR = spec(
    "POST /api/v1/scans",
    "GET /api/v1/scans",
    "GET /api/v1/scans/{scan_id}",
    "GET /api/v1/scans/{scan_id}/errors",
    "GET /healthz",
)
EVALUATOR = spec("GET /api/v1/checks", "GET /api/v1/checks/{check_id}", "GET /metrics")
COMPLIANCE = spec(
    "GET /api/v1/frameworks",
    "GET /api/v1/scans",
    "GET /api/v1/scans/{scan_id}",
    "GET /api/v1/dead-letters",
    "GET /readyz",
)


def table() -> Any:
    return build_route_table({"collector": COLLECTOR, "evaluator": EVALUATOR, "compliance": COMPLIANCE})


def target(method: str, path: str) -> tuple[str, str]:
    match = table().match(method, path)
    return match.route.service, match.upstream_path


def test_each_api_path_goes_to_the_service_that_declares_it() -> None:
    assert target("GET", "/api/v1/checks/s3_bucket_versioning") == ("evaluator", "/api/v1/checks/s3_bucket_versioning")
    assert target("GET", "/api/v1/frameworks") == ("compliance", "/api/v1/frameworks")
    assert target("POST", "/api/v1/scans") == ("collector", "/api/v1/scans")
    assert target("GET", "/api/v1/scans/scan-1/errors") == ("collector", "/api/v1/scans/scan-1/errors")


def test_the_shared_scan_paths_go_to_the_collector_and_compliance_answers_under_its_overrides() -> None:
    assert target("GET", "/api/v1/scans/scan-1") == ("collector", "/api/v1/scans/scan-1")
    assert target("GET", "/api/v1/scans") == ("collector", "/api/v1/scans")
    assert target("GET", "/api/v1/scans/scan-1/evaluation") == ("compliance", "/api/v1/scans/scan-1")
    assert target("GET", "/api/v1/evaluations") == ("compliance", "/api/v1/scans")


def test_without_the_overrides_the_shared_scan_paths_are_a_startup_error_naming_both_services() -> None:
    with pytest.raises(RouteTableError) as info:
        build_route_table({"collector": COLLECTOR, "compliance": COMPLIANCE}, overrides=())
    message = str(info.value)
    assert "collector" in message
    assert "compliance" in message
    assert "/api/v1/scans" in message


def test_a_conflict_is_found_whatever_the_services_call_their_parameters() -> None:
    one = spec("GET /api/v1/things/{thing_id}")
    other = spec("GET /api/v1/things/{name}")
    with pytest.raises(RouteTableError, match=r"both the alpha service .* and the beta service"):
        build_route_table({"alpha": one, "beta": other}, overrides=())


def test_a_service_may_not_claim_a_path_the_gateway_serves_itself() -> None:
    claiming = spec("GET /api/v1/keys")
    with pytest.raises(RouteTableError, match=r"gateway service .* and the rogue service"):
        build_route_table({"rogue": claiming}, reserved=[("GET", "/api/v1/keys")])


def test_the_same_path_with_different_methods_in_two_services_is_not_a_conflict() -> None:
    routes = build_route_table({"a": spec("GET /api/v1/items"), "b": spec("POST /api/v1/items")}, overrides=())
    assert routes.match("GET", "/api/v1/items").route.service == "a"
    assert routes.match("POST", "/api/v1/items").route.service == "b"


def test_override_parameters_correspond_by_position_and_keep_the_services_names() -> None:
    moved = Override("b", "GET", "/api/v1/items/{item}", "/api/v1/b-items/{whatever}")
    routes = build_route_table(
        {"a": spec("GET /api/v1/items/{id}"), "b": spec("GET /api/v1/items/{item}")}, overrides=[moved]
    )
    [route] = routes.for_service("b")
    assert route.path == "/api/v1/b-items/{item}"
    assert routes.match("GET", "/api/v1/b-items/42").upstream_path == "/api/v1/items/42"


def test_an_override_must_keep_the_number_of_parameters() -> None:
    with pytest.raises(RouteTableError, match="parameters"):
        Override("b", "GET", "/api/v1/items/{item}", "/api/v1/items")


def test_a_literal_segment_wins_over_a_parameter() -> None:
    routes = build_route_table(
        {"a": spec("GET /api/v1/items/{id}"), "b": spec("GET /api/v1/items/summary")}, overrides=()
    )
    assert routes.match("GET", "/api/v1/items/summary").route.service == "b"
    assert routes.match("GET", "/api/v1/items/7").route.service == "a"


def test_parameters_are_passed_on_still_encoded_and_never_split_into_segments() -> None:
    assert target("GET", "/api/v1/checks/a%2Fb") == ("evaluator", "/api/v1/checks/a%2Fb")
    with pytest.raises(RouteNotFound):
        table().match("GET", "/api/v1/checks/a/b/c")


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing", "/api/v2/checks", "/api/v1/checks/", "/api/v1/scans//errors", "/healthz", "/metrics"]
)
def test_paths_no_service_declares_under_the_api_are_not_found(path: str) -> None:
    with pytest.raises(RouteNotFound) as info:
        table().match("GET", path)
    assert info.value.code == "route_not_found"
    assert info.value.status == 404


def test_a_known_path_with_an_unknown_method_lists_the_allowed_ones() -> None:
    with pytest.raises(MethodNotAllowed) as info:
        table().match("DELETE", "/api/v1/scans")
    assert info.value.status == 405
    assert info.value.headers == {"Allow": "GET, POST"}


def test_a_parameter_must_fill_a_whole_segment() -> None:
    with pytest.raises(RouteTableError, match="whole segment"):
        build_route_table({"a": spec("GET /api/v1/files/{name}.json")})


def test_the_real_services_documents_combine_into_one_table() -> None:
    specs = {
        "collector": collector_app(CollectorSettings()).openapi(),
        "evaluator": evaluator_app(EvaluatorSettings()).openapi(),
        "compliance": compliance_app(ComplianceSettings()).openapi(),
    }
    routes = build_route_table(specs)
    served = {(r.method, r.path): r.service for r in routes.routes}
    assert served[("POST", "/api/v1/scans")] == "collector"
    assert served[("GET", "/api/v1/checks")] == "evaluator"
    assert served[("GET", "/api/v1/frameworks")] == "compliance"
    assert served[("GET", "/api/v1/scans/{scan_id}/evaluation")] == "compliance"
    assert served[("GET", "/api/v1/evaluations")] == "compliance"
    assert all(path.startswith("/api/") for _, path in served)
