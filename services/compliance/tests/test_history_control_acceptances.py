"""Risk acceptances that name a control: they accept that control's deviations and no other's.

The paged deviation summaries decide acceptance once per failure interval (an acceptance naming no
control covers it, or the list of controls named by acceptances covering it) before counting per
check; the unpaged answer decides it per (control, deviation) in Python. Here the check
``s3_bucket_default_encryption`` serves two controls (the bundled GRD-ENC-01 and the test's TST-ENC),
and acceptances name one of them, name the same control twice, or name a control for an interval a
control-less acceptance already covers: both answers must count each accepted deviation once, for
the named control only. The days are those of ``test_history_service`` (loaded from its file, as
``test_history_paging`` does).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from support import history_days

days = history_days()

app = days.app  # the fixture
App = days.App
PERIOD = days.PERIOD
SUMMARY = ("control_id", "checks", "deviation_count", "open_count", "sla_misses", "accepted_count", "share_passing")


async def accept(app: App, **selectors: Any) -> str:
    """An approved acceptance starting now (the service clock) with the given selectors."""
    body = {
        **selectors,
        "justification": "The data bucket is being re-keyed; its control owner accepts the gap meanwhile",
        "compensating_control": "Bucket policy denies every principal but the application role",
        "expires_at": days.iso(days.day(40)),
    }
    requested = await app.http.post("/api/v1/acceptances", headers=app.who("admin"), json=body)
    assert requested.status_code == 201, requested.text
    acceptance_id: str = requested.json()["id"]
    approved = await app.http.post(f"/api/v1/acceptances/{acceptance_id}/approve", headers=app.who("admin2"))
    assert approved.status_code == 200, approved.text
    return acceptance_id


async def all_pages(app: App, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    pages = [await app.get("/api/v1/deviations", **params, limit=limit)]
    while pages[-1]["next_cursor"] is not None:
        assert len(pages) < 100
        pages.append(await app.get("/api/v1/deviations", **params, limit=limit, cursor=pages[-1]["next_cursor"]))
    return pages


async def test_an_acceptance_naming_a_control_accepts_its_deviations_only(app: App) -> None:
    everyone = await days.six_days(app)  # acme-logs accepted for every control, from day 0
    # On day 5 at 12:00 (never retroactive): the data bucket's open failure, accepted for TST-ENC
    # twice over (by check and ARN, and by an ARN pattern alone), and acme-logs once more, for
    # GRD-ENC-01 only, though an acceptance naming no control already covers it.
    for_enc = await accept(app, control_id="TST-ENC", check_id=days.ENC, arn_pattern=days.DATA)
    for_enc_again = await accept(app, control_id="TST-ENC", arn_pattern="arn:aws:s3:::acme-d*")
    for_grd = await accept(app, control_id="GRD-ENC-01", arn_pattern=days.LOGS)
    app.clock.set(days.ASKED_AT + timedelta(hours=1))

    whole = await app.get("/api/v1/deviations", **PERIOD)
    controls = {c["control_id"]: c for c in whole["controls"]}
    enc, grd, mfa = controls["TST-ENC"], controls["GRD-ENC-01"], controls["TST-MFA"]
    # Each control lists the check's three failure intervals alike; only acceptance differs.
    # The data bucket's first interval ended on day 4, before any control-scoped acceptance began.
    assert [(d["resource_arn"], d["accepted"], d["acceptance_ids"]) for d in enc["deviations"]] == [
        (days.LOGS, True, [everyone]),
        (days.DATA, False, []),
        (days.DATA, True, sorted([for_enc, for_enc_again])),
    ]
    assert [(d["resource_arn"], d["accepted"], d["acceptance_ids"]) for d in grd["deviations"]] == [
        (days.LOGS, True, sorted([everyone, for_grd])),
        (days.DATA, False, []),
        (days.DATA, False, []),  # accepted for TST-ENC only, though the check is the same
    ]
    assert (enc["accepted_count"], grd["accepted_count"], mfa["accepted_count"]) == (2, 1, 0)

    # Paged: the summaries (counted per interval in the database) equal the unpaged answer's, and
    # the pages' items are the unpaged deviations, acceptances resolved per control alike.
    expected = [{**d, "control_id": c["control_id"]} for c in whole["controls"] for d in c["deviations"]]
    for limit in (1, 2, 1000):
        pages = await all_pages(app, PERIOD, limit)
        assert [{k: c[k] for k in SUMMARY} for c in pages[0]["controls"]] == [
            {k: c[k] for k in SUMMARY} for c in whole["controls"]
        ], limit
        assert [item for page in pages for item in page["items"]] == expected, limit

    # One control asked for: the same decision.
    one = await app.get("/api/v1/deviations", **PERIOD, control_id="GRD-ENC-01", limit=10)
    assert [c["accepted_count"] for c in one["controls"]] == [1]
    assert [(i["resource_arn"], i["accepted"]) for i in one["items"]] == [
        (days.LOGS, True),
        (days.DATA, False),
        (days.DATA, False),
    ]
