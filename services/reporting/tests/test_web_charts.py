"""Dashboard charts and the small pieces pages are built from: SVG with text alternatives, drawn once per
data; filter validation; paging; period windows; the Server-Timing arithmetic."""

from __future__ import annotations

import asyncio
import base64
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from guardian_common.auth import Principal, Role
from guardian_common.errors import BadRequest
from guardian_reporting import charts
from guardian_reporting.sources import CollectorScan, EvaluationScan, HistoryData, NotAvailable, Period, Scope
from guardian_reporting.web import views
from guardian_reporting.web.cache import ReadCache
from guardian_reporting.web.render import Frame, environment
from guardian_reporting.web.timing import CURRENT, PageTiming, TimedTransport

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}svg"


def svg_root(chart: charts.Chart) -> ET.Element:
    decoded = base64.b64decode(chart.data_uri.split(",", 1)[1]).decode()
    assert decoded == chart.svg
    return ET.fromstring(chart.svg)


def test_readiness_trend_is_an_svg_whose_text_alternative_states_the_data() -> None:
    points = [(T0 + timedelta(days=d), score) for d, score in enumerate([40.0, 55.5, None, 62.25])]
    chart = charts.readiness_trend(points, "Readiness in Q1")
    assert svg_root(chart).tag == SVG
    assert chart.alt == (
        "Readiness in Q1: 3 results from 2027-03-01 to 2027-03-04;"
        " first 40.0%, latest 62.2%, lowest 40.0%, highest 62.2%."
    )
    # The table alternative keeps every stored result, the unscored one included.
    assert chart.rows == (
        ("2027-03-01 09:00", "40.0%"),
        ("2027-03-02 09:00", "55.5%"),
        ("2027-03-03 09:00", "no score"),
        ("2027-03-04 09:00", "62.2%"),
    )
    assert chart.headers == ("Result at (UTC)", "Readiness")


def test_a_trend_with_no_result_says_so() -> None:
    chart = charts.readiness_trend([], "Readiness")
    assert chart.alt == "Readiness: no stored results yet."
    assert chart.rows == ()
    assert "No stored results yet" in chart.svg


def test_the_same_data_is_drawn_once() -> None:
    points = [(T0, 10.0), (T0 + timedelta(hours=5), 20.0)]
    first = charts.readiness_trend(points, "Cached")
    before = charts.cache_info()
    # Same points in another order: the same chart, from the cache.
    again = charts.readiness_trend(list(reversed(points)), "Cached")
    after = charts.cache_info()
    assert again is first
    assert after["hits"] == before["hits"] + 1
    assert after["misses"] == before["misses"]


def test_status_by_category_counts_every_status_in_words_and_in_a_table() -> None:
    chart = charts.status_by_category(
        [("Security", {"PASS": 5, "FAIL": 2, "NOT_APPLICABLE": 1}), ("Availability", {"ERROR": 3})]
    )
    assert svg_root(chart).tag == SVG
    assert chart.alt == (
        "Control status by category. Security: 5 pass, 2 fail, 1 not applicable; Availability: 3 error."
    )
    assert chart.headers == ("Category", "Pass", "Fail", "Error", "Evidence Required", "Not Applicable")
    assert chart.rows == (("Security", "5", "2", "0", "0", "1"), ("Availability", "0", "0", "3", "0", "0"))
    # Text stays text in the SVG: the category names are there to read.
    assert "Security" in chart.svg
    assert "Availability" in chart.svg


def test_no_controls_draws_an_empty_chart_without_warnings() -> None:
    chart = charts.status_by_category([("Security", {})])
    assert chart.alt == "Control status by category. Security: no controls."
    assert charts.status_by_category([]).alt == "Control status by category. No controls in scope."


def frame(period: Period | None = None, **params: str) -> Frame:
    scope = Scope.model_validate(
        {"id": "prod", "name": "Production", "categories": ["security"], "boundary": {}, "version": 3}
    )
    return Frame(
        principal=Principal("k1", Role.AUDITOR, "audrey"),
        cache=ReadCache(0),
        scopes=[scope],
        scope=scope,
        period=period,
        path="/dashboard/findings",
        active="findings",
        params=params,
    )


def test_filters_refuse_values_outside_their_choices_with_a_code() -> None:
    assert views.choice("status", "", views.FINDING_STATUSES) is None
    assert views.choice("status", "ACCEPTED", views.FINDING_STATUSES) == "ACCEPTED"
    with pytest.raises(BadRequest) as refused:
        views.choice("severity", "urgent", views.SEVERITIES)
    assert refused.value.code == "invalid_severity"
    assert "critical, high, medium, low, info" in refused.value.detail
    with pytest.raises(BadRequest) as bad_account:
        views.word("account", "12345", views._ACCOUNT)
    assert bad_account.value.code == "invalid_account"
    assert views.word("region", "  eu-west-1 ") == "eu-west-1"
    with pytest.raises(BadRequest):
        views.word("check", "drop table;")
    with pytest.raises(BadRequest):
        views.offset_of("-5")
    assert views.text("  Legacy  ") == "legacy"


def test_paging_keeps_scope_period_and_filters_and_stops_at_the_ends() -> None:
    period = Period.model_validate(
        {
            "id": "p1",
            "scope_id": "prod",
            "name": "FY27",
            "start_date": "2027-01-01",
            "end_date": "2027-12-31",
            "type": "type2",
            "locked": False,
        }
    )
    f = frame(period, status="FAIL")
    first = views.paging(f, total=120, offset=0)
    assert first.previous_url is None
    assert first.next_url == "/dashboard/findings?scope=prod&period=p1&status=FAIL&offset=50"
    assert (first.first, first.last) == (1, 50)
    last = views.paging(f, total=120, offset=100)
    assert last.next_url is None
    assert last.previous_url == "/dashboard/findings?scope=prod&period=p1&status=FAIL&offset=50"
    assert (last.first, last.last) == (101, 120)
    second = views.paging(f, total=120, offset=50)
    # Back to the first page drops the offset rather than sending offset=0.
    assert second.previous_url == "/dashboard/findings?scope=prod&period=p1&status=FAIL"
    empty = views.paging(f, total=0, offset=0)
    assert (empty.first, empty.last, empty.next_url) == (0, 0, None)


def test_a_period_is_its_days_from_the_first_start_to_the_last_end_in_utc() -> None:
    period = Period.model_validate(
        {
            "id": "p1",
            "scope_id": "prod",
            "name": "Q1",
            "start_date": date(2027, 1, 1),
            "end_date": date(2027, 3, 31),
            "type": "type2",
            "locked": True,
        }
    )
    assert views.window(period) == (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))
    assert views.window(None) is None


def test_history_that_compliance_does_not_offer_is_said_never_shown_as_empty() -> None:
    missing = NotAvailable(feature="deviations", reason="This deployment's compliance service does not offer it.")
    for table in (views.coverage_table(missing), views.deviations_table(missing)):
        assert table.unavailable == "This deployment's compliance service does not offer it."
        assert table.rows == []


def test_coverage_and_deviations_read_compliances_history_answers() -> None:
    coverage = HistoryData(
        feature="coverage",
        data={
            "units": [
                {
                    "account_id": "111111111111",
                    "region": "us-east-1",
                    "service": "s3",
                    "complete_collections": 4,
                    "monitored_seconds": 7200,
                    "share_monitored": 0.5,
                }
            ],
            "not_monitored": [
                {"start": "2027-03-01T00:00:00+00:00", "end": "2027-03-01T02:00:00+00:00", "seconds": 7200}
            ],
        },
    )
    table = views.coverage_table(coverage)
    assert table.rows == [["111111111111", "us-east-1", "s3", "4", "2.0 h", "50.0%"]]
    assert "1 stretch(es)" in table.summary
    assert "2.0 h in all" in table.summary
    deviation = {
        "check_id": "s3_bucket_default_encryption",
        "resource_arn": "arn:aws:s3:::logs",
        "resource_name": "logs",
        "severity": "high",
        "detected_at": "2027-03-01T09:00:00+00:00",
        "resolved_at": "2027-03-02T09:00:00+00:00",
        "hours_to_resolve": 24.0,
        "sla": "met",
        "accepted": False,
    }
    deviations = HistoryData(
        feature="deviations",
        data={
            "deviation_count": 1,
            "sla_misses": 0,
            "controls": [
                {
                    "control_id": "GRD-ENC-01",
                    "deviation_count": 1,
                    "open_count": 0,
                    "sla_misses": 0,
                    "accepted_count": 0,
                    "share_passing": None,
                    "deviations": [deviation],
                },
                {"control_id": "GRD-IAM-01", "deviation_count": 0, "open_count": 0, "deviations": []},
            ],
        },
    )
    per_control = views.deviations_table(deviations)
    assert per_control.rows == [["GRD-ENC-01", "1", "0", "0", "0", "not monitored"]]
    assert per_control.summary == "1 deviation(s), 0 past their SLA."
    one = views.control_deviations_table(deviations, "GRD-ENC-01")
    assert one.rows == [
        [
            "logs",
            "s3_bucket_default_encryption",
            "high",
            "2027-03-01 09:00 UTC",
            "2027-03-02 09:00 UTC",
            "24.0 h",
            "met",
            "no",
        ]
    ]


def test_upstream_time_counts_concurrent_calls_once() -> None:
    timing = PageTiming(started=0.0)
    timing.calls = [(0.0, 0.3), (0.1, 0.2), (0.25, 0.5), (0.7, 0.8)]
    assert timing.upstream_seconds() == pytest.approx(0.6)
    header = timing.header()
    assert header.startswith('upstream;dur=600.0;desc="4 calls", render;dur=0.0, total;dur=')


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_live_read_is_shared_for_its_ttl_and_then_read_again() -> None:
    clock = Clock()
    cache = ReadCache(15, clock)
    calls: list[str] = []

    async def load() -> str:
        calls.append("read")
        await asyncio.sleep(0)
        return f"posture #{len(calls)}"

    # Concurrent pages asking for the same read share one upstream call.
    first, second = await asyncio.gather(cache.get(("controls", "prod"), load), cache.get(("controls", "prod"), load))
    assert (first, second) == ("posture #1", "posture #1")
    clock.now += 14.9
    assert await cache.get(("controls", "prod"), load) == "posture #1"
    assert await cache.get(("controls", "staging"), load) == "posture #2"
    clock.now += 0.2
    assert await cache.get(("controls", "prod"), load) == "posture #3"
    assert (cache.loads, cache.hits) == (3, 2)


async def test_the_ttl_counts_from_when_a_slow_read_completed() -> None:
    clock = Clock()
    cache = ReadCache(15, clock)
    reads = 0

    async def slow() -> int:
        nonlocal reads
        reads += 1
        clock.now += 40  # slower than the ttl
        return reads

    assert await cache.get("overview", slow) == 1
    clock.now += 10
    assert await cache.get("overview", slow) == 1
    clock.now += 6
    assert await cache.get("overview", slow) == 2


async def test_failed_reads_are_not_kept_and_a_zero_ttl_reads_every_time() -> None:
    cache = ReadCache(15, Clock())
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise BadRequest("upstream said no", code="nope")
        return "ok"

    with pytest.raises(BadRequest):
        await cache.get("k", flaky)
    assert await cache.get("k", flaky) == "ok"
    assert attempts == 2

    off = ReadCache(0, Clock())
    counter = 0

    async def count() -> int:
        nonlocal counter
        counter += 1
        return counter

    assert [await off.get("k", count) for _ in range(3)] == [1, 2, 3]


def test_a_running_scan_row_is_polled_and_shows_progress_over_collection_then_evaluation() -> None:
    collection = CollectorScan.model_validate(
        {
            "scan_id": "scan-1",
            "account_id": "111111111111",
            "regions": ["us-east-1"],
            "services": ["s3", "ec2", "rds", "iam"],
            "state": "running",
            "started_at": "2027-03-01T09:00:00+00:00",
            "published": 120,
            "units": [
                {"region": "global", "service": "s3", "status": "complete", "snapshots": 100, "errors": 0},
                {
                    "region": "us-east-1",
                    "service": "ec2",
                    "status": "partial",
                    "snapshots": 20,
                    "errors": 2,
                    "first_error": "Throttling",
                },
                {"region": "us-east-1", "service": "rds", "status": "pending", "snapshots": 0, "errors": 0},
                {"region": "global", "service": "iam", "status": "pending", "snapshots": 0, "errors": 0},
            ],
        }
    )
    evaluation = EvaluationScan.model_validate(
        {
            "scan_id": "scan-1",
            "state": "evaluating",
            "final": False,
            "partial": False,
            "evaluated": 60,
            "total_snapshots": 120,
        }
    )
    row = views._row("scan-1", collection, evaluation)
    assert row.running
    assert (row.units_done, row.units_total) == (2, 4)
    # Half the bar is collection (2 of 4 units), half evaluation (60 of 120): 25 + 25.
    assert row.percent == 50
    assert row.problems == ["us-east-1/ec2: partial (Throttling)"]
    html = environment().get_template("dashboard/_scan_row.html").render(row=row)
    assert 'data-progress-url="/dashboard/scans/scan-1/progress"' in html
    assert 'aria-label="Scan scan-1 progress"' in html

    finished = views._row(
        "scan-1",
        collection.model_copy(update={"state": "completed", "units": []}),
        evaluation.model_copy(update={"state": "final", "final": True, "evaluated": 120}),
    )
    assert not finished.running
    assert finished.percent == 100
    assert "data-progress-url" not in environment().get_template("dashboard/_scan_row.html").render(row=finished)


async def test_a_read_on_a_connection_the_upstream_just_closed_is_sent_once_more() -> None:
    attempts: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        if len(attempts) == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(200, json={"ok": True})

    timing = PageTiming()
    token = CURRENT.set(timing)
    try:
        async with httpx.AsyncClient(transport=TimedTransport(httpx.MockTransport(upstream))) as client:
            response = await client.get("http://compliance/api/v1/scopes")
            assert response.json() == {"ok": True}
            assert attempts == ["GET", "GET"]
            # Changes are never repeated.
            attempts.clear()
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post("http://compliance/api/v1/scopes")
            assert attempts == ["POST"]
    finally:
        CURRENT.reset(token)
    assert len(timing.calls) == 2
