"""Assembling a report from what compliance and evidence answer, with and without monitoring history.

Compliance and evidence are stood in for by an ``httpx.MockTransport`` answering their documented
shapes (the end-to-end test in tests/test_reports_e2e.py reads the real services); this lets each
case control exactly what upstream says, including a compliance that has no history routes yet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from guardian_common.auth import PRINCIPAL_HEADER, Principal, Role, verify_principal
from guardian_common.errors import BadRequest, Conflict, NotFound
from guardian_reporting.report.build import ReportBuilder, ReportRequest
from guardian_reporting.report.exports import render
from guardian_reporting.report.tables import to_csv
from guardian_reporting.settings import ReportingSettings
from guardian_reporting.sources import Sources

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SECRET = "internal-secret-for-tests"
AUDITOR = Principal(key_id="k-aud", role=Role.AUDITOR, name="auditor-jane")
BUCKET = "arn:aws:s3:::acme-legacy-exports"
OTHER_ACCOUNT_BUCKET = "arn:aws:s3:::someone-elses"
FORMULA = "readiness = PASS controls / in-scope controls that are not NOT_APPLICABLE"

Handler = Callable[[httpx.Request], httpx.Response]


def readiness(score: float, passing: int, applicable: int) -> dict[str, Any]:
    return {
        "score": score,
        "passing": passing,
        "applicable": applicable,
        "in_scope": applicable,
        "not_applicable": 0,
        "by_status": {"PASS": passing, "FAIL": applicable - passing},
        "by_category": [
            {"category": "security", "name": "Security", "score": score, "passing": passing, "applicable": applicable}
        ],
        "formula": FORMULA,
    }


def context(scan_id: str, live: bool) -> dict[str, Any]:
    return {
        "scan_id": scan_id,
        "scan_state": "final",
        "partial": False,
        "finalised_at": (NOW - timedelta(hours=3)).isoformat(),
        "framework_version": "2017.2",
        "library_version": "lib-7",
        "catalogue_version": "cat-19",
        "account_id": "123456789012",
        "regions": ["us-east-1"],
        "scope_id": "prod",
        "scope_version": 2,
        "computed_at": NOW.isoformat(),
        "live": live,
        "versions": {"checks": {"s3_bucket_default_encryption": 3}, "controls": {"GRD-ENC-01": 1}},
    }


CONTROL = {
    "id": "GRD-ENC-01",
    "title": "Data stores are encrypted at rest",
    "owner": "Platform",
    "kind": "automated",
    "status": "FAIL",
    "reason": "1 resource fails",
    "requirements": ["CC6.1"],
    "categories": ["security"],
    "checks": [
        {
            "check_id": "s3_bucket_default_encryption",
            "title": "Bucket default encryption",
            "severity": "high",
            "status": "FAIL",
            "passed": 0,
            "failed": 1,
            "errored": 0,
            "accepted": 0,
        }
    ],
    "evidence_required": [],
}
REQUIREMENT = {
    "id": "CC6.1",
    "category": "security",
    "title": "Logical access",
    "status": "FAIL",
    "controls": ["GRD-ENC-01"],
    "reason": "GRD-ENC-01 fails",
}
FINDING = {
    "check_id": "s3_bucket_default_encryption",
    "resource_arn": BUCKET,
    "resource_type": "AWS::S3::Bucket",
    "resource_name": "acme-legacy-exports",
    "account_id": "123456789012",
    "region": "us-east-1",
    "status": "FAIL",
    "severity": "high",
    "reason": "No default encryption",
    "observed_at": (NOW - timedelta(hours=3)).isoformat(),
    "status_since": (NOW - timedelta(days=4)).isoformat(),
    "evaluated_status": "FAIL",
    "accepted_for_controls": {},
}


def acceptance(acc_id: str, state: str, starts: datetime, expires: datetime) -> dict[str, Any]:
    return {
        "id": acc_id,
        "check_id": "s3_bucket_default_encryption",
        "arn_pattern": BUCKET,
        "justification": f"Justified {acc_id}",
        "compensating_control": "Manual review",
        "requested_by": "alice",
        "requested_at": (starts - timedelta(days=1)).isoformat(),
        "starts_at": starts.isoformat(),
        "expires_at": expires.isoformat(),
        "state": state,
        "status": "in_force" if state == "approved" else state,
        "approver": "bob" if state == "approved" else None,
    }


class Upstream:
    """Compliance and evidence as an ``httpx.MockTransport``; ``history`` switches the history routes on."""

    def __init__(self, *, history: bool) -> None:
        self.history = history
        self.seen: list[httpx.Request] = []
        self.routes: dict[str, Handler] = {
            "/api/v1/scopes/prod": lambda _: self.ok(self.scope()),
            "/api/v1/frameworks/soc2": lambda _: self.ok(
                {
                    "id": "soc2",
                    "name": "SOC 2",
                    "title": "SOC 2 TSC",
                    "version": "2017.2",
                    "subscribed": True,
                    "categories": [{"id": "security", "name": "Security"}],
                    "requirement_count": 61,
                }
            ),
            "/api/v1/frameworks/soc2/export": lambda _: self.ok(
                {
                    "readiness": readiness(0.0, 0, 1),
                    "deviations": [
                        {
                            "check_id": "s3_bucket_default_encryption",
                            "resource_arn": BUCKET,
                            "account_id": "123456789012",
                            "region": "us-east-1",
                            "status": "FAIL",
                            "reason": "No default encryption",
                            "acceptance_id": "acc-in",
                            "accepted_for_controls": {},
                        }
                    ],
                }
            ),
            "/api/v1/frameworks/soc2/posture": lambda _: self.ok(
                {
                    "framework": "soc2",
                    "result": context("scan-live", True),
                    "readiness": readiness(0.0, 0, 1),
                    "requirements": [REQUIREMENT],
                    "controls": [CONTROL],
                }
            ),
            "/api/v1/frameworks/soc2/results": lambda _: self.ok(
                {
                    "framework": "soc2",
                    "scope": "prod",
                    "items": [
                        self.summary("scan-new", NOW - timedelta(days=1)),
                        self.summary("scan-old", NOW - timedelta(days=10)),
                    ],
                }
            ),
            "/api/v1/frameworks/soc2/results/scan-old": lambda _: self.ok(
                {
                    "framework": "soc2",
                    "result": context("scan-old", False),
                    "readiness": readiness(1.0, 1, 1),
                    "requirements": [{**REQUIREMENT, "status": "PASS"}],
                    "controls": [{**CONTROL, "status": "PASS"}],
                    "deviations": [],
                }
            ),
            "/api/v1/findings": lambda _: self.ok({"total": 1, "limit": 5000, "offset": 0, "items": [FINDING]}),
            "/api/v1/acceptances": lambda _: self.ok(
                {
                    "total": 4,
                    "items": [
                        acceptance("acc-in", "approved", NOW - timedelta(days=5), NOW + timedelta(days=5)),
                        acceptance("acc-pending", "pending", NOW - timedelta(days=5), NOW + timedelta(days=5)),
                        acceptance("acc-expired", "approved", NOW - timedelta(days=90), NOW - timedelta(days=60)),
                        acceptance("acc-later", "approved", NOW + timedelta(days=1), NOW + timedelta(days=9)),
                    ],
                }
            ),
            "/api/v1/resources": lambda _: self.ok(
                {
                    "total": 2,
                    "items": [
                        self.resource(BUCKET, "123456789012"),
                        self.resource(OTHER_ACCOUNT_BUCKET, "999999999999"),
                    ],
                }
            ),
            "/api/v1/evidence/index": lambda r: self.ok(
                {
                    "window_from": r.url.params["from"],
                    "window_to": r.url.params["to"],
                    "entries": [
                        {
                            "item_id": "ev-00000000000000aa",
                            "title": "Security policy",
                            "type": "policy",
                            "control_ids": ["GRD-GOV-01"],
                            "version": 2,
                            "sha256": "ab" * 32,
                            "filename": "policy.pdf",
                            "reviewed_by": "carol",
                            "current_from": "2026-06-01T00:00:00+00:00",
                            "current_to": None,
                        }
                    ],
                    "uncovered": ["ev-00000000000000bb"],
                }
            ),
        }
        if history:
            self.routes.update(
                {
                    "/api/v1/coverage": lambda _: self.ok(self.coverage()),
                    "/api/v1/trends": lambda r: self.ok(
                        {
                            "period": self.deviations()["period"],
                            "framework_id": r.url.params["framework"],
                            "granularity": r.url.params["granularity"],
                            "points": [
                                {
                                    "bucket": "2026-11-01T00:00:00+00:00",
                                    "scans": 1,
                                    "monitored": True,
                                    "readiness": 0.5,
                                    "min": 0.5,
                                    "max": 0.5,
                                    "mean": 0.5,
                                    "categories": [],
                                },
                                {
                                    "bucket": "2026-11-02T00:00:00+00:00",
                                    "scans": 0,
                                    "monitored": False,
                                    "readiness": None,
                                    "min": None,
                                    "max": None,
                                    "mean": None,
                                    "categories": [],
                                },
                            ],
                        }
                    ),
                    "/api/v1/deviations": lambda _: self.ok(self.deviations()),
                    "/api/v1/populations": lambda r: self.ok(
                        {
                            "scope_id": "prod",
                            "as_of": r.url.params["as_of"],
                            "count": 1,
                            "items": [
                                {
                                    "arn": BUCKET,
                                    "resource_type": "AWS::S3::Bucket",
                                    "name": "acme-legacy-exports",
                                    "account_id": "123456789012",
                                    "region": "us-east-1",
                                    "service": "s3",
                                    "scan_id": "scan-new",
                                    "scanned_at": NOW.isoformat(),
                                    "stale": False,
                                    "config_hash": "h-then",
                                    "configuration": {"encryption": None},
                                }
                            ],
                        }
                    ),
                }
            )

    @staticmethod
    def ok(body: Any) -> httpx.Response:
        return httpx.Response(200, json=body)

    @staticmethod
    def scope() -> dict[str, Any]:
        return {
            "id": "prod",
            "name": "Production",
            "categories": ["security"],
            "boundary": {"account_ids": ["123456789012"], "regions": [], "tags": {}},
            "subservice_organisations": [
                {"name": "Amazon Web Services", "criteria": [{"id": "CC6.4", "coverage": "full"}]}
            ],
            "user_entity_controls": [],
            "not_applicable": [],
            "version": 2,
            "periods": [
                {
                    "id": "p-h2",
                    "scope_id": "prod",
                    "name": "FY26 H2",
                    "start_date": "2026-11-01",
                    "end_date": "2026-11-20",
                    "type": "type2",
                    "locked": False,
                },
                {
                    "id": "p-now",
                    "scope_id": "prod",
                    "name": "Current",
                    "start_date": "2026-11-20",
                    "end_date": "2026-11-30",
                    "type": "type2",
                    "locked": False,
                },
            ],
        }

    @staticmethod
    def summary(scan_id: str, at: datetime) -> dict[str, Any]:
        return {
            "scan_id": scan_id,
            "scope_id": "prod",
            "scope_version": 2,
            "computed_at": at.isoformat(),
            "scan_state": "final",
            "partial": False,
            "readiness": readiness(1.0, 1, 1),
        }

    @staticmethod
    def resource(arn: str, account: str) -> dict[str, Any]:
        return {
            "arn": arn,
            "resource_type": "AWS::S3::Bucket",
            "name": arn.rsplit(":", 1)[-1],
            "account_id": account,
            "region": "us-east-1",
            "tags": {},
            "config_hash": "h-now",
            "configuration": {"encryption": None},
        }

    @staticmethod
    def coverage() -> dict[str, Any]:
        start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
        gap = {"start": "2026-11-05T00:00:00+00:00", "end": "2026-11-07T00:00:00+00:00", "seconds": 172800.0}
        return {
            "period": {
                "scope_id": "prod",
                "start": start.isoformat(),
                "end": end.isoformat(),
                "elapsed_until": end.isoformat(),
            },
            "window_hours": 480.0,
            "units": [
                {
                    "account_id": "123456789012",
                    "region": "us-east-1",
                    "service": "s3",
                    "complete_collections": 18,
                    "monitored": [],
                    "not_monitored": [gap],
                    "monitored_seconds": 18 * 86400.0,
                    "share_monitored": 0.9,
                }
            ],
            "every_unit_monitored": [
                {"start": start.isoformat(), "end": gap["start"], "seconds": 4 * 86400.0},
                {"start": gap["end"], "end": end.isoformat(), "seconds": 14 * 86400.0},
            ],
            "not_monitored": [gap],
            "scans": [],
        }

    @staticmethod
    def deviations() -> dict[str, Any]:
        interval = {
            "check_id": "s3_bucket_default_encryption",
            "resource_arn": BUCKET,
            "resource_name": "acme-legacy-exports",
            "resource_type": "AWS::S3::Bucket",
            "account_id": "123456789012",
            "region": "us-east-1",
            "severity": "high",
            "detected_at": "2026-11-02T06:00:00+00:00",
            "detected_scan": "s1",
            "resolved_at": "2026-11-12T06:00:00+00:00",
            "resolved_scan": "s9",
            "resolved_as": "PASS",
            "reopened": False,
            "hours_to_resolve": 240.0,
            "hours_open": 240.0,
            "sla_days": 7.0,
            "sla": "missed",
            "accepted": False,
            "acceptance_ids": [],
        }

        def control(control_id: str) -> dict[str, Any]:
            return {
                "control_id": control_id,
                "checks": ["s3_bucket_default_encryption"],
                "monitored_seconds": 100.0,
                "passing_seconds": 50.0,
                "share_passing": 0.5,
                "deviation_count": 1,
                "open_count": 0,
                "sla_misses": 1,
                "accepted_count": 0,
                "failures": [],
                "deviations": [interval],
            }

        return {
            "period": {
                "scope_id": "prod",
                "start": "2026-11-01T00:00:00+00:00",
                "end": "2026-11-21T00:00:00+00:00",
                "elapsed_until": "2026-11-21T00:00:00+00:00",
            },
            "framework_id": "soc2",
            "sla_days": {"critical": 1, "high": 7, "medium": 30, "low": 90},
            "deviation_count": 1,
            "sla_misses": 1,
            "controls": [control("GRD-ENC-01"), control("GRD-LOG-02")],
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        route = self.routes.get(request.url.path)
        if route is None:
            return httpx.Response(404, json={"detail": "Not Found"})  # FastAPI's answer for an unknown route
        return route(request)


def settings(internal_secret: str | None = SECRET) -> ReportingSettings:
    return ReportingSettings(
        compliance_url="http://compliance.test",
        evidence_url="http://evidence.test",
        collector_url="http://collector.test",
        internal_secret=internal_secret,
    )


async def build(upstream: Upstream, request: ReportRequest, api_key: str | None = None) -> Any:
    transport = httpx.MockTransport(upstream.handle)
    async with Sources.for_user(settings(), AUDITOR, api_key=api_key, transport=transport) as sources:
        return await ReportBuilder(sources, generated_by="auditor-jane", now=NOW).build(request)


async def test_a_period_report_reads_coverage_deviations_and_populations_from_history() -> None:
    upstream = Upstream(history=True)
    report = await build(upstream, ReportRequest(scope_id="prod", period_id="FY26 H2"))
    assert (report.window.kind, report.window.start, report.window.end) == (
        "period",
        date(2026, 11, 1),
        date(2026, 11, 20),
    )
    assert report.basis.source == "stored"  # the period ended before now: the result stored before its end
    assert report.basis.scan_id == "scan-old"
    assert report.coverage.available
    assert report.coverage.monitored_share == pytest.approx(0.9)
    assert report.coverage.rows[0].gaps == ["2026-11-05 00:00 to 2026-11-07 00:00 UTC"]
    [deviation] = report.deviations.items  # one interval, shown once with both controls it touched
    assert deviation.control_ids == ["GRD-ENC-01", "GRD-LOG-02"]
    assert (deviation.time_to_resolve_days, deviation.sla_days, deviation.sla, deviation.sla_met) == (
        10.0,
        7.0,
        "missed",
        False,
    )
    assert report.deviations.sla_misses == 1
    assert report.populations.source == "history"
    assert [p.config_hash for p in report.populations.items] == ["h-then"]
    assert report.evidence.window_from == date(2026, 11, 1)
    assert report.evidence.uncovered == ["ev-00000000000000bb"]
    assert report.trend.granularity == "day"
    assert [(p.monitored, p.readiness) for p in report.trend.points] == [(True, 0.5), (False, None)]
    asked = [dict(r.url.params) for r in upstream.seen if r.url.path == "/api/v1/deviations"]
    # The whole period for its deviations; its last day for the resources failing at its end.
    assert asked == [
        {"scope_id": "prod", "from": "2026-11-20", "to": "2026-11-20"},
        {"scope_id": "prod", "from": "2026-11-01", "to": "2026-11-20"},
    ]
    control = report.control("GRD-ENC-01")
    assert control is not None
    assert control.failing_resources == []  # the one interval was resolved on 2026-11-12


async def test_without_history_a_period_report_says_what_is_missing_and_lists_accepted_failures() -> None:
    report = await build(Upstream(history=False), ReportRequest(scope_id="prod", period_id="p-now"))
    assert report.basis.source == "live"
    assert not report.coverage.available
    assert "/api/v1/coverage" in (report.coverage.reason or "")
    assert not report.trend.available
    assert "/api/v1/trends" in (report.trend.reason or "")
    assert report.deviations.source == "accepted_failures"
    assert [(d.resource_arn, d.acceptance_id, d.detected_at) for d in report.deviations.items] == [
        (BUCKET, "acc-in", NOW - timedelta(days=4))
    ]
    # Populations fall back to the inventory now, kept to the scope's accounts.
    assert report.populations.source == "inventory"
    assert [p.resource_arn for p in report.populations.items] == [BUCKET]
    assert any("Monitoring coverage is not available" in n for n in report.notes)
    assert any("Deviation intervals over the period are not available" in n for n in report.notes)


async def test_a_live_report_lists_failing_resources_and_only_approved_acceptances_in_the_window() -> None:
    report = await build(Upstream(history=False), ReportRequest(scope_id="prod"))
    assert report.window.kind == "point"
    assert report.readiness.percent == "0.0%"
    control = report.control("GRD-ENC-01")
    assert control is not None
    assert control.failing_resources is not None
    assert [(r.resource_arn, r.reason) for r in control.failing_resources] == [(BUCKET, "No default encryption")]
    assert [a.id for a in report.acceptances] == ["acc-in"]
    assert report.acceptances[0].approver == "bob"
    assert report.versions.check_catalogue == "cat-19"
    assert report.scope.carve_outs[0].criteria == ["CC6.4 (full)"]


async def test_a_past_point_reads_the_result_stored_before_it_and_never_the_live_findings() -> None:
    upstream = Upstream(history=False)
    report = await build(upstream, ReportRequest(scope_id="prod", at=NOW - timedelta(days=5)))
    assert report.basis.scan_id == "scan-old"
    assert report.readiness.percent == "100.0%"
    assert report.findings is None
    control = report.control("GRD-ENC-01")
    assert control is not None
    assert control.failing_resources is None
    assert "/api/v1/findings" not in {r.url.path for r in upstream.seen}
    assert any("failing resources are not listed" in n for n in report.notes)


async def test_a_past_points_failing_resources_are_the_history_intervals_open_at_that_instant() -> None:
    upstream = Upstream(history=True)
    at = NOW - timedelta(days=5)
    answer = upstream.deviations()
    [closed] = answer["controls"][0]["deviations"]
    still_open = {
        **closed,
        "resource_arn": OTHER_ACCOUNT_BUCKET,
        "detected_at": "2026-11-20T06:00:00+00:00",
        "resolved_at": None,
        "accepted": True,
        "acceptance_ids": ["acc-in"],
    }
    later = {
        **closed,
        "resource_arn": "arn:aws:s3:::later",
        "detected_at": "2026-11-22T06:00:00+00:00",
        "resolved_at": None,
    }
    answer["controls"][0]["deviations"] = [closed, still_open, later]
    upstream.routes["/api/v1/deviations"] = lambda _: httpx.Response(200, json=answer)
    report = await build(upstream, ReportRequest(scope_id="prod", at=at))
    control = report.control("GRD-ENC-01")
    assert control is not None
    assert control.failing_resources is not None
    assert [(r.resource_arn, r.status, r.acceptance_id) for r in control.failing_resources] == [
        (OTHER_ACCOUNT_BUCKET, "ACCEPTED", "acc-in")
    ]
    assert "Failing since 2026-11-20 06:00 UTC" in control.failing_resources[0].reason
    asked = next(r for r in upstream.seen if r.url.path == "/api/v1/deviations")
    assert (asked.url.params["from"], asked.url.params["to"]) == ("2026-11-21", "2026-11-21")
    assert any("monitoring history" in n for n in report.notes)


async def test_a_time_before_any_scan_is_not_monitored_never_passing() -> None:
    with pytest.raises(Conflict) as refused:
        await build(Upstream(history=True), ReportRequest(scope_id="prod", at=NOW - timedelta(days=30)))
    assert refused.value.code == "not_monitored"


async def test_bad_requests_are_refused_with_a_code() -> None:
    with pytest.raises(BadRequest) as both:
        ReportRequest(scope_id="prod", period_id="p-h2", at=NOW)
    assert both.value.code == "period_and_at"
    with pytest.raises(BadRequest) as naive:
        ReportRequest(scope_id="prod", at=datetime(2026, 1, 1))  # a naive time: refused
    assert naive.value.code == "naive_datetime"
    with pytest.raises(BadRequest) as future:
        await build(Upstream(history=False), ReportRequest(scope_id="prod", at=NOW + timedelta(days=1)))
    assert future.value.code == "at_in_future"
    with pytest.raises(NotFound) as period:
        await build(Upstream(history=False), ReportRequest(scope_id="prod", period_id="FY99"))
    assert period.value.code == "period_not_found"


async def test_reads_carry_the_users_signed_principal_or_else_their_key() -> None:
    upstream = Upstream(history=False)
    await build(upstream, ReportRequest(scope_id="prod"))
    for request in upstream.seen:
        assert verify_principal(SECRET, request.headers[PRINCIPAL_HEADER]) == AUDITOR
        assert "authorization" not in request.headers
    plain = Upstream(history=False)
    transport = httpx.MockTransport(plain.handle)
    async with Sources.for_user(settings(None), AUDITOR, api_key="gk1.users-key", transport=transport) as sources:
        await sources.scope("prod")
    assert plain.seen[0].headers["authorization"] == "Bearer gk1.users-key"
    assert PRINCIPAL_HEADER not in plain.seen[0].headers


async def test_a_domain_error_from_compliance_is_passed_on_not_taken_for_a_missing_route() -> None:
    upstream = Upstream(history=True)
    upstream.routes["/api/v1/coverage"] = lambda _: httpx.Response(
        404, json={"error": "period_not_found", "detail": "No such period."}
    )
    with pytest.raises(NotFound) as refused:
        await build(upstream, ReportRequest(scope_id="prod", period_id="p-h2"))
    assert refused.value.code == "period_not_found"


async def test_missed_and_late_evidence_occurrences_are_deviation_rows_in_every_export() -> None:
    upstream = Upstream(history=True)
    answer = upstream.deviations()
    review = {
        "control_id": "GRD-GOV-03",
        "checks": [],
        "monitored_seconds": 0.0,
        "passing_seconds": 0.0,
        "share_passing": None,
        "deviation_count": 2,
        "open_count": 1,
        "sla_misses": 0,
        "accepted_count": 0,
        "deviations": [],
        "evidence_deviations": [
            {
                "kind": "late",
                "label": "2026-10",
                "frequency": "monthly",
                "start": "2026-10-01T00:00:00+00:00",
                "end": "2026-11-01T00:00:00+00:00",
                "due": "2026-11-01T00:00:00+00:00",
                "detected_at": "2026-11-01T00:00:00+00:00",
                "resolved_at": "2026-11-04T12:00:00+00:00",
                "missing_types": [],
                "late_types": ["access_review"],
                "covered_late_by": ["ev-1@v2"],
                "reason": "access_review accepted after its due date",
            },
            {
                "kind": "missed",
                "label": "2026-11",
                "frequency": "monthly",
                "start": "2026-11-01T00:00:00+00:00",
                "end": "2026-12-01T00:00:00+00:00",
                "due": "2026-12-01T00:00:00+00:00",
                "detected_at": "2026-11-20T00:00:00+00:00",
                "resolved_at": None,
                "missing_types": ["access_review"],
                "late_types": [],
                "covered_late_by": [],
                "reason": "no accepted access_review",
            },
        ],
    }
    answer["controls"].append(review)
    answer["deviation_count"] = 3
    upstream.routes["/api/v1/deviations"] = lambda _: httpx.Response(200, json=answer)
    report = await build(upstream, ReportRequest(scope_id="prod", period_id="FY26 H2"))
    evidence_rows = [d for d in report.deviations.items if d.check_id is None]
    assert [(d.control_ids, d.detected_at, d.resolved_at, d.time_to_resolve_days) for d in evidence_rows] == [
        (["GRD-GOV-03"], datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, 12, tzinfo=UTC), 3.5),
        (["GRD-GOV-03"], datetime(2026, 11, 20, tzinfo=UTC), None, None),
    ]
    assert evidence_rows[0].reason == "Evidence for 2026-10 (monthly) late: access_review accepted after its due date"
    assert evidence_rows[1].reason == "Evidence for 2026-11 (monthly) missed: no accepted access_review"
    summary = next(c for c in report.deviations.controls if c.control_id == "GRD-GOV-03")
    assert (summary.deviation_count, summary.open_count) == (2, 1)
    # The same rows reach the CSV and the PDF.
    table = list(csv.DictReader(io.StringIO(to_csv(report, "deviations"))))  # type: ignore[arg-type]
    assert [r["reason"] for r in table if r["control_ids"] == "GRD-GOV-03"] == [d.reason for d in evidence_rows]
    pages = PdfReader(io.BytesIO(render(report, "pdf").content)).pages
    text = "".join("".join(page.extract_text() for page in pages).split())
    assert "Evidencefor2026-11(monthly)missed" in text
