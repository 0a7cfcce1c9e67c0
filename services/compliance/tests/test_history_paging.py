"""Paged deviations and populations: pages add up to the unpaged answer, summaries are counted alike.

The days, the app and the scan feed are those of ``test_history_service`` (loaded from its file: the
test modules are not a package), with more buckets so that pages cut through controls, and an
acceptance whose ARN pattern is a wildcard (matched by the database for the summaries and by Python
for the items).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import asyncpg
import pytest
from support import history_days

from guardian_compliance.history.repository import fnmatch_regex

days = history_days()

app = days.app  # the fixture
App = days.App
Status = days.Status
PERIOD = days.PERIOD
BUCKETS = [f"arn:aws:s3:::acme-{name}" for name in ("alpha", "beta", "gamma", "log-a", "log-b", "zeta")]


async def many_days(app: App) -> None:
    """``six_days`` plus six more buckets failing on and off, and a wildcard acceptance of two of them."""
    await days.six_days(app)
    app.clock.set(days.day(5, 7))
    body = {
        "check_id": days.ENC,
        "arn_pattern": "arn:aws:s3:::acme-log-?",
        "justification": "Log buckets hold no customer data until the log pipeline rebuild",
        "compensating_control": "Bucket policies deny every principal but the log writer",
        "expires_at": days.iso(days.day(60)),
    }
    requested = await app.http.post("/api/v1/acceptances", headers=app.who("admin"), json=body)
    assert requested.status_code == 201, requested.text
    approved = await app.http.post(f"/api/v1/acceptances/{requested.json()['id']}/approve", headers=app.who("admin2"))
    assert approved.status_code == 200, approved.text
    # Days 6 to 9: each bucket fails on the days where (bucket index + day) is odd.
    for n in range(6, 10):
        seen = [days.bucket(days.DATA, False, Status.FAIL), days.user(True, Status.PASS)]
        for i, arn in enumerate(BUCKETS):
            failing = (i + n) % 2 == 1
            seen.append(days.bucket(arn, not failing, Status.FAIL if failing else Status.PASS))
        await days.scan(app, n, seen)
    app.clock.set(days.day(9, 12))


async def all_pages(app: App, path: str, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    pages = [await app.get(path, **params, limit=limit)]
    while pages[-1]["next_cursor"] is not None:
        assert len(pages) < 100
        pages.append(await app.get(path, **params, limit=limit, cursor=pages[-1]["next_cursor"]))
    return pages


SUMMARY = ("control_id", "checks", "deviation_count", "open_count", "sla_misses", "accepted_count", "share_passing")


async def test_deviation_pages_add_up_to_every_control_in_full_with_the_same_counts(app: App) -> None:
    await many_days(app)
    period = {"from": "2026-03-02", "to": "2026-03-11"}
    whole = await app.get("/api/v1/deviations", **period)
    assert whole["paged"] is False
    assert whole["items"] == []
    pages = await all_pages(app, "/api/v1/deviations", period, limit=4)
    assert len(pages) > 3
    first = pages[0]
    assert first["paged"] is True
    # Summaries: counted in the database, equal to the full answer's, with no lists built.
    assert [{k: c[k] for k in SUMMARY} for c in first["controls"]] == [
        {k: c[k] for k in SUMMARY} for c in whole["controls"]
    ]
    assert all(c["deviations"] == [] and c["failures"] == [] for c in first["controls"])
    assert {(p["deviation_count"], p["sla_misses"]) for p in pages} == {(whole["deviation_count"], whole["sla_misses"])}
    assert all(p["controls"] == [] for p in pages[1:])  # summaries come with the first page
    accepted = {c["control_id"]: c["accepted_count"] for c in whole["controls"] if c["accepted_count"]}
    # acme-logs (one interval), acme-log-a (failing days 6 and 8) and acme-log-b (days 7 and 9).
    assert accepted == {"GRD-ENC-01": 5, "TST-ENC": 5}

    # Items: every control's deviations in full, in order, each once, with acceptances resolved.
    paged = [item for page in pages for item in page["items"]]
    assert all(len(p["items"]) == 4 for p in pages[:-1])
    expected = [{**d, "control_id": c["control_id"]} for c in whole["controls"] for d in c["deviations"]]
    assert paged == expected
    assert len(paged) == whole["deviation_count"]

    # One control, paged: its own rows only.
    one = await all_pages(app, "/api/v1/deviations", {**period, "control_id": "TST-MFA"}, limit=1)
    assert [(i["control_id"], i["resource_arn"]) for p in one for i in p["items"]] == [("TST-MFA", days.ALICE)]
    assert [c["control_id"] for c in one[0]["controls"]] == ["TST-MFA"]


async def test_population_pages_carry_the_total_and_bad_paging_is_refused(app: App) -> None:
    await many_days(app)
    whole = await app.get("/api/v1/populations", as_of="2026-03-10")
    assert whole["total"] is None
    pages = await all_pages(app, "/api/v1/populations", {"as_of": "2026-03-10"}, limit=3)
    assert [p["total"] for p in pages] == [whole["count"]] + [None] * (len(pages) - 1)  # counted once
    assert [i for p in pages for i in p["items"]] == whole["items"]
    buckets = await app.get("/api/v1/populations", as_of="2026-03-10", resource_type="AWS::S3::Bucket", limit=1)
    assert buckets["total"] == 1 + len(BUCKETS)  # acme-data and the six: acme-logs left the scans

    for path, params, code in (
        ("/api/v1/deviations", {**PERIOD, "cursor": "not-a-cursor"}, "invalid_cursor"),
        ("/api/v1/deviations", {**PERIOD, "cursor": "WyJhIiwiYiJd"}, "invalid_cursor"),
        ("/api/v1/deviations", {**PERIOD, "limit": "0"}, "invalid_request"),
        ("/api/v1/deviations", {**PERIOD, "limit": "10001"}, "invalid_request"),
        ("/api/v1/populations", {"as_of": "2026-03-10", "limit": "many"}, "invalid_request"),
    ):
        refused = await app.http.get(path, headers=app.who("auditor"), params=params)
        assert (refused.status_code, refused.json()["error"]) == (422, code), (path, params)
        assert refused.json()["detail"]


@pytest.mark.parametrize(
    "pattern",
    ["arn:aws:s3:::acme-*", "arn:aws:s3:::acme-log-?", "*[!a-c]", "a.b*", "x[ab]y", "x[]]y", "x[y", "x\\y*", "[^a]*"],
)
async def test_acceptance_arn_patterns_match_in_the_database_as_in_python(database: str, pattern: str) -> None:
    arns = [
        *BUCKETS,
        "arn:aws:s3:::acme-log-ab",
        "a.bc",
        "axbc",
        "xay",
        "xby",
        "x]y",
        "x[y",
        "x\\yz",
        "^b",
        "ab",
        "bz",
    ]
    conn = await asyncpg.connect(database)
    try:
        matched = await conn.fetch("SELECT a FROM unnest($1::text[]) AS a WHERE a ~ $2", arns, fnmatch_regex(pattern))
    finally:
        await conn.close()
    assert sorted(r["a"] for r in matched) == sorted(a for a in arns if fnmatchcase(a, pattern))


async def test_a_paged_answer_without_any_acceptance_lists_the_failures(app: App) -> None:
    await days.catalogue(app.pool)
    await days.scan(app, 0, [days.bucket(days.LOGS, False, Status.FAIL), days.user(True, Status.PASS)])
    app.clock.set(days.day(0, 12))
    page = await app.get("/api/v1/deviations", **PERIOD, limit=10)
    assert [(i["control_id"], i["resource_arn"], i["accepted"]) for i in page["items"]] == [
        ("GRD-ENC-01", days.LOGS, False)
    ]
    assert page["next_cursor"] is None
    assert {c["control_id"]: c["deviation_count"] for c in page["controls"] if c["deviation_count"]} == {
        "GRD-ENC-01": 1
    }
