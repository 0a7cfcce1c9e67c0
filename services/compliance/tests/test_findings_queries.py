"""Findings lists and scope postures answered by SQL, checked against the scope and acceptance rules.

The findings below are written straight into compliance's tables (as a finished scan leaves them),
with a mix of accounts, regions, services, severities, states, inventory tags and risk acceptances.
Every answer of ``/api/v1/findings`` and of the posture endpoints is compared with what
:meth:`Scope.contains` and :func:`acceptances.matching.coverage` decide for each finding in Python:
the rules the service applied row by row before its queries moved into PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from support import Service, check_info, compliance_service, store_checks

from guardian_common import db
from guardian_common.events import CheckCatalogue
from guardian_compliance.acceptances.matching import Rule, coverage
from guardian_compliance.clock import ManualClock
from guardian_compliance.scope.service import load_scope

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNTS = ["111111111111", "222222222222"]
ENC = "s3_bucket_default_encryption"
BACKUP = "rds_instance_backups_enabled"
CHECKS = {ENC: ("s3", "AWS::S3::Bucket"), BACKUP: ("rds", "AWS::RDS::DBInstance")}
CONTROL_OF = {ENC: "TST-ENC", BACKUP: "TST-BKP"}
SEVERITIES = ["critical", "high", "medium", "low", "info"]
STATUS_RANK = {"FAIL": 0, "ERROR": 1, "PASS": 2}
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
# Scopes created over REST in the module's data: a tag boundary, and a region-and-account one.
SCOPES = {
    "prod": {"tags": {"env": ["prod"]}},
    "eu-a": {"regions": ["eu-west-1"], "account_ids": [ACCOUNTS[0]]},
}


@pytest.fixture
async def api(servers: tuple[str, str], database: str) -> AsyncIterator[Service]:
    async with compliance_service(database, servers[1], "fq", ManualClock(T0)) as service:
        await seed(service)
        yield service


def finding(i: int) -> dict[str, Any]:
    """Finding ``i``: a deterministic mix of every attribute the filters and rules look at."""
    check = ENC if i % 2 == 0 else BACKUP
    service, rtype = CHECKS[check]
    account = ACCOUNTS[(i // 2) % 2]
    region = "global" if service == "s3" else ["us-east-1", "eu-west-1"][(i // 4) % 2]
    prefix = "acc" if i % 5 == 0 else "data"
    arn = f"arn:aws:s3:::{prefix}-{i}" if service == "s3" else f"arn:aws:rds:{region}:{account}:db:{prefix}-{i}"
    status = ["FAIL", "PASS", "FAIL", "ERROR", "PASS", "FAIL", "PASS"][i % 7]
    state = "closed" if i % 11 == 0 else "stale" if i % 13 == 0 else "active"
    return {
        "check_id": check,
        "resource_arn": arn,
        "resource_type": rtype,
        "resource_name": f"{prefix}-{i}",
        "account_id": account,
        "region": region,
        "collection_region": region,
        "service": service,
        "status": status,
        "severity": SEVERITIES[i % 5],
        "reason": f"{prefix}-{i} is {status.lower()}{' (Logs_bucket)' if i % 9 == 0 else ''}",
        "state": state,
        "status_since": T0 - timedelta(hours=i),
        # Every third resource is unknown to the inventory (tags unknown); the others are prod or dev.
        "tags": None if i % 3 == 0 else {"env": "prod" if i % 4 < 2 else "dev"},
    }


FINDINGS = [finding(i) for i in range(1, 120)]
ACCEPTANCES = [
    # Everywhere: the "acc-" S3 buckets.
    {"acceptance_id": "RA-1", "control_id": None, "check_id": ENC, "arn_pattern": "arn:aws:s3:::acc-*"},
    # Only in one control: backups of the second account.
    {"acceptance_id": "RA-2", "control_id": "TST-BKP", "check_id": BACKUP, "account_id": ACCOUNTS[1]},
]


async def seed(api: Service) -> None:
    checks = [check_info(cid, service, rtype, version=3) for cid, (service, rtype) in CHECKS.items()]
    version = CheckCatalogue.version_of(checks)
    await store_checks(api.pool, checks, T0, version)
    async with db.transaction(api.pool) as conn:
        for n, account in enumerate(ACCOUNTS):
            scan_id = f"scan-{n}"
            await conn.execute(
                "INSERT INTO scans (scan_id, account_id, regions, services, started_at, collected_at,"
                " total_snapshots, evaluated, state, partial, finalised_at, catalogue_version)"
                " VALUES ($1, $2, $3, $4, $5, $5, 0, 0, 'final', false, $5, $6)",
                scan_id,
                account,
                ["us-east-1", "eu-west-1"],
                ["s3", "rds"],
                T0 - timedelta(minutes=5),
                version,
            )
            await conn.executemany(
                "INSERT INTO scan_units (scan_id, region, service, status, snapshots, errors)"
                " VALUES ($1, $2, $3, 'complete', 0, 0)",
                [(scan_id, "global", "s3"), (scan_id, "us-east-1", "rds"), (scan_id, "eu-west-1", "rds")],
            )
        for f in FINDINGS:
            await conn.execute(
                "INSERT INTO findings (check_id, resource_arn, resource_type, resource_name, account_id, region,"
                " collection_region, service, status, severity, reason, evidence, check_version, observed_at,"
                " first_seen, last_seen, status_since, last_scan_id, state, closed_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '{}', 3, $12, $12, $12, $13, 'scan-0', $14,"
                " CASE WHEN $14 = 'closed' THEN $12::timestamptz END)",
                f["check_id"],
                f["resource_arn"],
                f["resource_type"],
                f["resource_name"],
                f["account_id"],
                f["region"],
                f["collection_region"],
                f["service"],
                f["status"],
                f["severity"],
                f["reason"],
                T0 - timedelta(minutes=5),
                f["status_since"],
                f["state"],
            )
            if f["tags"] is not None:
                await conn.execute(
                    "INSERT INTO resources (arn, resource_type, name, account_id, region, collection_region,"
                    " service, tags, config_hash, configuration, observed_at, first_seen, last_seen, last_scan_id)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'h', '{}', $9, $9, $9, 'scan-0')",
                    f["resource_arn"],
                    f["resource_type"],
                    f["resource_name"],
                    f["account_id"],
                    f["region"],
                    f["collection_region"],
                    f["service"],
                    f["tags"],
                    T0 - timedelta(minutes=5),
                )
        for a in ACCEPTANCES:
            await insert_acceptance(conn, a)
    for check, control_id in CONTROL_OF.items():
        response = await api.http.post(
            "/api/v1/controls",
            headers=api.as_("editor"),
            json={
                "id": control_id,
                "title": f"{control_id} title",
                "description": f"What {control_id} does.",
                "owner": "Platform",
                "frequency": "continuous",
                "requirements": [{"id": "CC6.1", "rationale": f"{control_id} serves CC6.1"}],
                "checks": [check],
            },
        )
        assert response.status_code == 201, response.text
    for scope_id, boundary in SCOPES.items():
        response = await api.http.post(
            "/api/v1/scopes", headers=api.as_("editor"), json={"id": scope_id, "name": scope_id, "boundary": boundary}
        )
        assert response.status_code == 201, response.text
    response = await api.http.put("/api/v1/frameworks/soc2/subscription", headers=api.as_("admin"))
    assert response.status_code in (200, 201), response.text


async def insert_acceptance(conn: asyncpg.Connection, a: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO acceptances (acceptance_id, control_id, check_id, arn_pattern, account_id, region,"
        " justification, compensating_control, requested_by, requested_at, starts_at, expires_at, state,"
        " decided_by, decided_at) VALUES ($1, $2, $3, $4, $5, $6, 'Low risk.', 'Reviewed monthly.',"
        " 'erin-editor', $7, $7, $8, 'approved', 'alice-admin', $7)",
        a["acceptance_id"],
        a.get("control_id"),
        a.get("check_id"),
        a.get("arn_pattern"),
        a.get("account_id"),
        a.get("region"),
        T0 - timedelta(days=1),
        T0 + timedelta(days=30),
    )


async def reference(api: Service, scope_id: str | None) -> list[dict[str, Any]]:
    """Every finding inside the scope (closed ones too), with its display status, decided in Python."""
    async with api.pool.acquire() as conn:
        scope = await load_scope(conn, scope_id) if scope_id else None
        rows = await conn.fetch("SELECT * FROM findings")
        tags = {r["arn"]: r["tags"] for r in await conn.fetch("SELECT arn, tags FROM resources")}
        rules = [Rule.of(r) for r in await conn.fetch("SELECT * FROM acceptances WHERE state = 'approved'")]
    out = []
    for r in rows:
        row = dict(r)
        row["resource_tags"] = tags.get(r["resource_arn"])
        if scope is not None and not scope.contains(
            account_id=row["account_id"],
            region=row["region"],
            resource_type=row["resource_type"],
            arn=row["resource_arn"],
            tags=row["resource_tags"],
        ):
            continue
        cov = coverage(
            rules if row["state"] != "closed" else [],
            status=row["status"],
            check_id=row["check_id"],
            arn=row["resource_arn"],
            account_id=row["account_id"],
            region=row["region"],
            tags=row["resource_tags"],
        )
        row["display"] = "ACCEPTED" if cov.everywhere is not None else row["status"]
        row["per_control"] = sorted(cov.per_control)
        out.append(row)
    return out


def default_order(row: dict[str, Any]) -> tuple[Any, ...]:
    return (STATUS_RANK[row["status"]], SEVERITY_RANK[row["severity"]], row["check_id"], row["resource_arn"])


async def every_page(api: Service, limit: int, **params: Any) -> tuple[int, list[dict[str, Any]]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        body = await api.get("/api/v1/findings", limit=limit, offset=offset, **params)
        items.extend(body["items"])
        offset += limit
        if offset >= body["total"]:
            return body["total"], items


async def test_findings_list_and_its_filters_agree_with_the_scope_and_acceptance_rules(api: Service) -> None:
    for scope_id in (None, "prod", "eu-a"):
        await agree(api, scope_id)


async def agree(api: Service, scope_id: str | None) -> None:
    truth = [r for r in await reference(api, scope_id) if r["state"] != "closed"]
    base = {"scope": scope_id} if scope_id else {}
    cases: list[tuple[dict[str, Any], Any]] = [
        ({}, lambda r: True),
        ({"status": "FAIL"}, lambda r: r["display"] == "FAIL"),
        ({"status": "ACCEPTED"}, lambda r: r["display"] == "ACCEPTED"),
        ({"status": "ERROR"}, lambda r: r["display"] == "ERROR"),
        ({"severity": ["high", "low"]}, lambda r: r["severity"] in ("high", "low")),
        ({"service": "rds", "status": "FAIL"}, lambda r: r["service"] == "rds" and r["display"] == "FAIL"),
        # Text matches name, ARN, check id, reason or type, whatever the case; % and _ are literal.
        ({"q": "LOGS_b"}, lambda r: "logs_b" in r["reason"].lower()),
        ({"q": "acc-1"}, lambda r: "acc-1" in r["resource_name"]),
        ({"q": "%"}, lambda r: False),
    ]
    for params, keep in cases:
        expected = sorted((r for r in truth if keep(r)), key=default_order)
        total, items = await every_page(api, 7, **base, **params)
        assert total == len(expected), (scope_id, params)
        assert [(i["check_id"], i["resource_arn"], i["status"]) for i in items] == [
            (r["check_id"], r["resource_arn"], r["display"]) for r in expected
        ], (scope_id, params)
    accepted = [r for r in truth if r["display"] == "ACCEPTED"]
    fails = [r for r in truth if r["display"] == "FAIL"]
    assert accepted
    assert fails


async def test_findings_sorts_page_without_overlap_and_closed_ones_on_request(api: Service) -> None:
    truth = await reference(api, None)
    total, newest = await every_page(api, 10, sort="newest")
    open_rows = [r for r in truth if r["state"] != "closed"]
    assert total == len(open_rows)
    expected = sorted(open_rows, key=lambda r: (-r["status_since"].timestamp(), r["check_id"], r["resource_arn"]))
    assert [i["resource_arn"] for i in newest] == [r["resource_arn"] for r in expected]
    total, with_closed = await every_page(api, 10, include_closed="true", sort="resource")
    assert total == len(truth)
    assert len({(i["check_id"], i["resource_arn"]) for i in with_closed}) == len(truth)
    names = [i["resource_name"] for i in with_closed]
    assert names == sorted(names)
    # Past the end: the total, and no items.
    body = await api.get("/api/v1/findings", offset=total + 5)
    assert (body["total"], body["items"]) == (len(open_rows), [])


async def test_bad_findings_filters_answer_422_with_a_code(api: Service) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"severity": "urgent"}, "invalid_request", "severity"),
        ({"sort": "random"}, "invalid_request", "sort"),
        ({"q": "x" * 201}, "invalid_request", "q"),
        ({"limit": 0}, "invalid_request", "limit"),
        ({"service": "S3; drop"}, "invalid_service", "service"),
    ]
    for params, code, word in cases:
        response = await api.http.get("/api/v1/findings", headers=api.as_("auditor"), params=params)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == code
        assert word in body["detail"]


def expected_checks(truth: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per custom control, its one check's counts (an acceptance for that control only counts there)."""
    out: dict[str, dict[str, int]] = {}
    for r in truth:
        if r["state"] == "closed":
            continue
        control_id = CONTROL_OF[r["check_id"]]
        counts = out.setdefault(control_id, {"passed": 0, "failed": 0, "errored": 0, "accepted": 0})
        status = "ERROR" if r["state"] == "stale" and r["status"] == "PASS" else r["status"]
        if status == "PASS":
            counts["passed"] += 1
        elif status == "FAIL" and (r["display"] == "ACCEPTED" or control_id in r["per_control"]):
            counts["accepted"] += 1
        elif status == "FAIL":
            counts["failed"] += 1
        else:
            counts["errored"] += 1
    return out


async def posture_checks(api: Service, scope_id: str) -> dict[str, dict[str, int]]:
    body = await api.get("/api/v1/frameworks/soc2/controls", scope=scope_id)
    return {
        control["id"]: {k: control["checks"][0][k] for k in ("passed", "failed", "errored", "accepted")}
        for control in body["items"]
        if control["id"] in CONTROL_OF.values()
    }


async def test_posture_counts_agree_with_the_rules_and_a_change_shows_on_the_next_call(api: Service) -> None:
    for scope_id in ("default", *SCOPES):
        assert await posture_checks(api, scope_id) == expected_checks(await reference(api, scope_id)), scope_id

    # A failing bucket turns PASS and a new acceptance covers every failing backup: the next call shows both.
    flipped = next(f for f in FINDINGS if f["check_id"] == ENC and f["status"] == "FAIL" and f["state"] == "active")
    async with db.transaction(api.pool) as conn:
        await conn.execute(
            "UPDATE findings SET status = 'PASS' WHERE check_id = $1 AND resource_arn = $2",
            ENC,
            flipped["resource_arn"],
        )
        await insert_acceptance(conn, {"acceptance_id": "RA-3", "check_id": BACKUP})
    after = await posture_checks(api, "default")
    assert after == expected_checks(await reference(api, "default"))
    assert after["TST-BKP"]["failed"] == 0
    assert after["TST-BKP"]["accepted"] > 0
    # The control page's failing resources are the same findings, read by check in SQL.
    detail = await api.get("/api/v1/frameworks/soc2/controls/TST-ENC")
    failing = {r["resource_arn"] for r in detail["failing_resources"]}
    truth = await reference(api, "default")
    assert failing == {
        r["resource_arn"] for r in truth if r["check_id"] == ENC and r["state"] != "closed" and r["status"] != "PASS"
    }
    assert flipped["resource_arn"] not in failing
