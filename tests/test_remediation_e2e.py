"""The Action Centre end to end: every in-place action turns its failing finding to PASS after a
verified, targeted re-scan; the guards (approval by another admin, hash, expiry, re-read) hold.

The whole stack runs on loopback; AWS is moto behind the fault proxy. Remediation reads and writes
AWS with its own clients; verification asks the collector for a targeted scan and reads compliance.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from conftest import Running
from remediation_support import CASES, EAST, MANUAL, Case, seed

from guardian_cli.follow import run_scan
from guardian_common.auth import Role
from guardian_gateway.keys.service import bootstrap_key
from guardian_remediation.actions import catalogue
from guardian_remediation.service import RemediationService
from guardian_testkit.faults import FaultRule
from guardian_testkit.moto import MotoServer

PLANS = "/api/v1/remediation/plans"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def remediation(running: Running) -> RemediationService:
    app: Any = running.stack.services["remediation"].server.config.app
    service: RemediationService = app.state.runtime.extras["remediation"]
    return service


@pytest.fixture
async def http(running: Running) -> AsyncIterator[httpx.AsyncClient]:
    # Idle connections are dropped before uvicorn's own keep-alive (5 s) ends, so no request goes out
    # on a connection the service is closing.
    limits = httpx.Limits(keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=running.stack.url("remediation"), timeout=120, limits=limits) as client:
        yield client


async def full_scan(running: Running, services: list[str] | None = None) -> None:
    outcome = await run_scan(running.client, regions=[EAST], services=services, poll_seconds=0.2, timeout_seconds=240)
    assert outcome.final, outcome


async def findings(running: Running, check_id: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=running.stack.url("compliance"), timeout=60) as client:
        answer = await client.get(
            "/api/v1/findings",
            params={"check_id": check_id, "include_closed": "true", "limit": 5000},
            headers=bearer(running.key(Role.AUDITOR)),
        )
    assert answer.status_code == 200, answer.text
    return {f["resource_arn"]: f for f in answer.json()["items"]}


async def plan(
    http: httpx.AsyncClient, key: str, check_id: str, arn: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"check_id": check_id, **extra}
    if arn is not None:
        body["resource_arn"] = arn
    answer = await http.post(PLANS, json=body, headers=bearer(key))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def approve(http: httpx.AsyncClient, key: str, created: dict[str, Any]) -> httpx.Response:
    return await http.post(
        f"{PLANS}/{created['plan_id']}/approve", json={"content_hash": created["content_hash"]}, headers=bearer(key)
    )


async def execute(http: httpx.AsyncClient, key: str, plan_id: str) -> httpx.Response:
    return await http.post(f"{PLANS}/{plan_id}/execute", headers=bearer(key))


async def verified(http: httpx.AsyncClient, key: str, plan_id: str) -> dict[str, Any]:
    answer = await http.post(f"{PLANS}/{plan_id}/verify", headers=bearer(key))
    assert answer.status_code == 202, answer.text
    for _ in range(600):
        current = (await http.get(f"{PLANS}/{plan_id}", headers=bearer(key))).json()
        if current["state"] != "verifying":
            return dict(current)
        await asyncio.sleep(0.5)
    raise AssertionError(f"plan {plan_id} is still verifying")


def expect(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


async def domain_events(running: Running) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(running.database_url)
    try:
        rows = await conn.fetch("SELECT event_type, payload::text AS payload FROM remediation.outbox ORDER BY id")
    finally:
        await conn.close()
    return [{"type": r["event_type"], "payload": r["payload"]} for r in rows]


# The catalogue in four stacks, each scanning only the services its actions need (keeps each test short).
GROUPS = {
    "s3-iam": (
        "s3_bucket_default_encryption",
        "s3_bucket_public_access_block",
        "s3_account_public_access_block",
        "iam_password_policy",
    ),
    "kms-cloudtrail-logs-sqs-sns": (
        "kms_key_rotation",
        "cloudtrail_log_file_validation",
        "logs_log_group_retention",
        "sqs_queue_encryption",
        "sns_topic_encryption",
    ),
    "ec2-elbv2": (
        "ec2_ebs_default_encryption",
        "ec2_vpc_flow_logs",
        "elbv2_deletion_protection",
        "ec2_ebs_volume_encryption",
    ),
    "rds-dynamodb-opensearch": (
        "rds_instance_backup_retention",
        "rds_instance_deletion_protection",
        "dynamodb_table_pitr",
        "dynamodb_table_deletion_protection",
        "opensearch_domain_encryption",
        "rds_instance_storage_encryption",
    ),
}


def test_the_catalogue_is_covered_and_large_enough() -> None:
    actions = catalogue()
    assert len(actions) >= 15
    in_place = {a.id for a in actions.values() if a.in_place}
    assert in_place == {c.action_id for c in CASES}
    assert {a.id for a in actions.values() if not a.in_place} == {c.action_id for c in MANUAL}
    assert sorted(a for group in GROUPS.values() for a in group) == sorted(actions)


@pytest.mark.parametrize("group", sorted(GROUPS))
async def test_every_action_turns_its_failing_finding_to_pass(
    group: str, running: Running, moto: MotoServer, http: httpx.AsyncClient
) -> None:
    cases = [c for c in CASES if c.action_id in GROUPS[group]]
    manual = [c for c in MANUAL if c.action_id in GROUPS[group]]
    ids = seed(moto)
    actions = catalogue()
    await full_scan(running, sorted({s for c in [*cases, *manual] for s in actions[c.action_id].verify_services}))
    editor, admin = running.key(Role.EDITOR), running.key(Role.ADMIN)
    before: dict[str, dict[str, dict[str, Any]]] = {}
    for case in [*cases, *manual]:
        before[case.check_id] = await findings(running, case.check_id)
        assert before[case.check_id][case.arn(ids)]["status"] == "FAIL", case.action_id

    async def run(case: Case) -> dict[str, Any]:
        created = await plan(
            http, editor, case.check_id, case.arn(ids), action_id=case.action_id, parameters=case.params
        )
        assert [i["disposition"] for i in created["items"]] == ["fix"], (case.action_id, created["items"])
        assert created["items"][0]["calls"], case.action_id
        approved = await approve(http, admin, created)
        assert approved.status_code == 200, approved.text
        ran = await execute(http, editor, created["plan_id"])
        assert ran.status_code == 200, ran.text
        results = ran.json()["execution"]["results"]
        assert [r["outcome"] for r in results] == ["fixed"], (case.action_id, results)
        return await verified(http, editor, created["plan_id"])

    gate = asyncio.Semaphore(4)

    async def limited(case: Case) -> dict[str, Any]:
        async with gate:
            return await run(case)

    done = await asyncio.gather(*(limited(case) for case in cases))
    targets = {c.arn(ids) for c in cases}
    for case, plan_out in zip(cases, done, strict=True):
        summary = (case.action_id, plan_out["verification_summary"], plan_out["verifications"])
        assert plan_out["state"] == "verified", summary
        # The verification scan was targeted: it published a snapshot of the target alone.
        scan = await running.client.collection(plan_out["verification_scan_id"])
        assert (scan["targeted"], scan["published"]) == (True, 1), scan
        after = await findings(running, case.check_id)
        assert after[case.arn(ids)]["status"] == "PASS", (case.action_id, after[case.arn(ids)])
        # Verification closed, staled or changed nothing outside its targets.
        for arn, finding in before[case.check_id].items():
            if arn not in targets:
                assert (after[arn]["status"], after[arn]["state"]) == (finding["status"], finding["state"]), arn
    if "s3_bucket_default_encryption" in GROUPS[group]:
        still = (await findings(running, "s3_bucket_default_encryption"))["arn:aws:s3:::rem-untouched"]
        assert (still["status"], still["state"]) == ("FAIL", "active")

    # Where AWS cannot act in place, the plan lists the steps and nothing is changed.
    for case in manual:
        created = await plan(http, editor, case.check_id, case.arn(ids), action_id=case.action_id)
        item = created["items"][0]
        assert (item["disposition"], item["calls"]) == ("manual", [])
        assert len(item["steps"]) >= 3
        assert (await approve(http, admin, created)).status_code == 200
        ran = (await execute(http, editor, created["plan_id"])).json()
        assert [r["outcome"] for r in ran["execution"]["results"]] == ["manual"]
        assert ran["execution"]["results"][0]["calls_made"] == []
    if "ec2_ebs_volume_encryption" in GROUPS[group]:
        volume = ids["volume"].rsplit("/", 1)[1]
        assert moto.client("ec2", EAST).describe_volumes(VolumeIds=[volume])["Volumes"][0]["Encrypted"] is False
    if "rds_instance_storage_encryption" in GROUPS[group]:
        db = moto.client("rds", EAST).describe_db_instances(DBInstanceIdentifier="rem-db")["DBInstances"][0]
        assert db["StorageEncrypted"] is False

    # Every step left an audit entry and a domain event through the outbox.
    events = await domain_events(running)
    kinds = {e["type"] for e in events}
    assert {"remediation.planned", "remediation.approved", "remediation.executed", "remediation.verified"} <= kinds
    audited = [e["payload"] for e in events if e["type"] == "audit.recorded"]
    for action in (
        "remediation_plan.created",
        "remediation_plan.approved",
        "remediation_plan.executed",
        "remediation_plan.verified",
    ):
        assert any(f'"{action}"' in p for p in audited), action


async def guardian(where: dict[str, str], key: str, *args: str) -> tuple[int | None, str, str]:
    """Run the CLI as a user runs it: a separate process, pointed at the gateway or the service."""
    env = {**os.environ, "GUARDIAN_API_KEY": key, "COLUMNS": "250"}
    env.pop("GUARDIAN_URL", None)
    env.pop("GUARDIAN_REMEDIATION_URL", None)
    env.update(where)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian_cli.main",
        "actions",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, errs = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode(), errs.decode()


async def outbox_count(running: Running, event_type: str) -> int:
    return sum(1 for e in await domain_events(running) if e["type"] == event_type)


async def test_only_approved_unaltered_current_plans_run_and_results_are_per_resource(
    running: Running, moto: MotoServer, http: httpx.AsyncClient
) -> None:
    s3 = moto.client("s3", EAST)
    for bucket in ("g-a", "g-b", "g-c"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket="g-c", Tagging={"TagSet": [{"Key": "ManagedBy", "Value": "terraform"}]})
    await full_scan(running, ["s3"])
    service = remediation(running)
    editor, admin, auditor = running.key(Role.EDITOR), running.key(Role.ADMIN), running.key(Role.AUDITOR)
    arn = {b: f"arn:aws:s3:::{b}" for b in ("g-a", "g-b", "g-c")}

    # Outside the catalogue, or bad input: refused with a code, nothing planned.
    bad = {"check_id": "s3_bucket_default_encryption", "action_id": "s3_delete_bucket"}
    expect(await http.post(PLANS, json=bad, headers=bearer(editor)), 422, "action_not_in_catalogue")
    expect(
        await http.post(PLANS, json={"check_id": "iam_root_mfa"}, headers=bearer(editor)), 422, "no_action_for_check"
    )
    expect(await http.get("/api/v1/remediation/actions/rm_rf", headers=bearer(auditor)), 422, "action_not_in_catalogue")
    weak = {"check_id": "s3_bucket_default_encryption", "parameters": {"algorithm": "DES"}}
    expect(await http.post(PLANS, json=weak, headers=bearer(editor)), 422, "invalid_parameters")
    expect(
        await http.post(PLANS, json={"check_id": "s3_bucket_versioning"}, headers=bearer(editor)),
        422,
        "no_action_for_check",
    )
    expect(
        await http.post(PLANS, json={"check_id": "s3_bucket_default_encryption"}, headers=bearer(auditor)),
        403,
        "insufficient_role",
    )
    assert (await http.get(PLANS, headers=bearer(auditor))).json()["items"] == []

    # A bulk plan: every bucket failing the check, with the calls, the expected result, the IaC warning.
    bulk = await plan(http, editor, "s3_bucket_default_encryption")
    items = {i["resource_arn"]: i for i in bulk["items"]}
    assert sorted(items) == sorted(arn.values())
    assert items[arn["g-a"]]["calls"] == [
        {
            "service": "s3",
            "operation": "PutBucketEncryption",
            "region": EAST,
            "arguments": {
                "Bucket": "g-a",
                "ServerSideEncryptionConfiguration": {
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            },
            "permission": "s3:PutEncryptionConfiguration",
        }
    ]
    assert "AES256" in items[arn["g-a"]]["expected"]
    assert any("ManagedBy=terraform" in w for w in items[arn["g-c"]]["warnings"])
    assert items[arn["g-a"]]["warnings"] == []

    # Unapproved: cannot run. An editor cannot approve. A wrong hash is refused.
    expect(await execute(http, editor, bulk["plan_id"]), 409, "plan_not_approved")
    expect(await approve(http, editor, bulk), 403, "insufficient_role")
    wrong = await http.post(
        f"{PLANS}/{bulk['plan_id']}/approve", json={"content_hash": "0" * 64}, headers=bearer(admin)
    )
    expect(wrong, 409, "plan_hash_mismatch")

    # Self-approval: refused unless the deployment allows it, then recorded as such.
    own = await plan(http, admin, "s3_bucket_public_access_block", arn["g-a"])
    expect(await approve(http, admin, own), 403, "self_approval_forbidden")
    service.settings.allow_self_approval = True
    try:
        approved = await approve(http, admin, own)
        assert approved.status_code == 200, approved.text
        assert approved.json()["approval"]["self_approved"] is True
    finally:
        service.settings.allow_self_approval = False
    # Self-approval turned off again: the self-approved plan cannot run.
    expect(await execute(http, admin, own["plan_id"]), 403, "self_approval_forbidden")
    audited = [e["payload"] for e in await domain_events(running) if e["type"] == "audit.recorded"]
    assert any('"remediation_plan.self_approved"' in p for p in audited)

    # Expired approval: the injectable clock moves past the approval's lifetime.
    expiring = await plan(http, editor, "s3_bucket_public_access_block", arn["g-b"])
    assert (await approve(http, admin, expiring)).status_code == 200
    real_now = service.now
    service.now = lambda: real_now() + timedelta(seconds=service.settings.approval_ttl_seconds + 1)
    try:
        expect(await execute(http, editor, expiring["plan_id"]), 409, "approval_expired")
    finally:
        service.now = real_now

    # Altered after approval: the stored calls now name another bucket; the plan will not run.
    altered = await plan(http, editor, "s3_bucket_public_access_block", arn["g-c"])
    assert (await approve(http, admin, altered)).status_code == 200
    conn = await asyncpg.connect(running.database_url)
    try:
        await conn.execute(
            "UPDATE remediation.plan_items SET calls = jsonb_set(calls, '{0,arguments,Bucket}', '\"g-b\"')"
            " WHERE plan_id = $1",
            altered["plan_id"],
        )
    finally:
        await conn.close()
    expect(await execute(http, editor, altered["plan_id"]), 409, "plan_altered")
    for bucket in ("g-a", "g-b", "g-c"):
        with pytest.raises(s3.exceptions.ClientError):
            s3.get_public_access_block(Bucket=bucket)

    # Rejected: cannot run.
    rejected = await plan(http, editor, "s3_bucket_public_access_block", arn["g-a"])
    answer = await http.post(f"{PLANS}/{rejected['plan_id']}/reject", json={"reason": "not now"}, headers=bearer(admin))
    assert answer.json()["state"] == "rejected"
    expect(await execute(http, editor, rejected["plan_id"]), 409, "plan_not_approved")

    # The bulk plan, approved; then g-b changes (skipped) and AWS refuses the first write (g-a fails).
    assert (await approve(http, admin, bulk)).status_code == 200
    s3.put_bucket_encryption(
        Bucket="g-b",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    rule = running.proxy.add_rule(
        FaultRule(service="s3", operation="PutBucketEncryption", fault="access_denied", times=1)
    )
    ran = await execute(http, editor, bulk["plan_id"])
    assert ran.status_code == 200, ran.text
    assert running.proxy.fired(rule) == 1
    results = {r["resource_arn"]: r for r in ran.json()["execution"]["results"]}
    assert {a: r["outcome"] for a, r in results.items()} == {
        arn["g-a"]: "failed",
        arn["g-b"]: "skipped_changed",
        arn["g-c"]: "fixed",
    }
    assert "AccessDenied" in results[arn["g-a"]]["detail"]
    assert ran.json()["execution"]["summary"] == {"failed": 1, "skipped_changed": 1, "fixed": 1}

    def algorithm(bucket: str) -> str | None:
        try:
            rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        except s3.exceptions.ClientError:
            return None
        return str(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"])

    # The rest is consistent: g-a untouched, g-b as its owner left it, g-c fixed.
    assert [algorithm(b) for b in ("g-a", "g-b", "g-c")] == [None, "aws:kms", "AES256"]
    audited = [e["payload"] for e in await domain_events(running) if e["type"] == "audit.recorded"]
    assert any('"remediation_item.skipped"' in p and "g-b" in p for p in audited)

    # Re-running a done plan changes nothing: same results, no new event, g-a still unencrypted.
    executed_events = await outbox_count(running, "remediation.executed")
    again = await execute(http, editor, bulk["plan_id"])
    assert again.status_code == 200, again.text
    assert again.json()["execution"]["rerun"] is True
    assert again.json()["execution"]["results"] == ran.json()["execution"]["results"]
    assert await outbox_count(running, "remediation.executed") == executed_events
    assert algorithm("g-a") is None

    # The CLI: through the gateway with a key the gateway issued, and straight to the service.
    root = (await bootstrap_key(running.database_url, "test-root")).key
    gateway = {"GUARDIAN_URL": running.stack.url("gateway")}
    direct = {"GUARDIAN_REMEDIATION_URL": running.stack.url("remediation")}
    code, out, errs = await guardian(gateway, root, "list")
    assert code == 0, errs
    assert "s3_bucket_default_encryption" in out
    code, out, errs = await guardian(direct, auditor, "show", bulk["plan_id"])
    assert code == 0, errs
    assert "PutBucketEncryption" in out
    assert "ManagedBy=terraform" in out
    assert "skipped_changed" in out
    code, _, errs = await guardian(direct, editor, "plan", "iam_root_mfa")
    assert (code, "no_action_for_check" in errs) == (1, True), errs
    code, _, errs = await guardian(direct, editor, "plan", "s3_bucket_default_encryption", "--param", "oops")
    assert (code, "NAME=VALUE" in errs) == (2, True), errs
    code, _, errs = await guardian({}, editor, "list")
    assert (code, "GUARDIAN_URL" in errs) == (2, True), errs

    # The gateway routes the Action Centre like any other service.
    async with httpx.AsyncClient(base_url=running.stack.url("gateway"), timeout=30) as through:
        listed = await through.get("/api/v1/remediation/actions", headers=bearer(root))
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == len(catalogue())


async def test_a_target_deleted_after_planning_is_reported_gone_never_fixed_and_never_blocks_the_plan(
    running: Running, moto: MotoServer, http: httpx.AsyncClient
) -> None:
    s3 = moto.client("s3", EAST)
    buckets = ("d-before-run", "d-before-verify", "d-kept")
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    await full_scan(running, ["s3"])
    editor, admin = running.key(Role.EDITOR), running.key(Role.ADMIN)
    arn = {b: f"arn:aws:s3:::{b}" for b in buckets}
    created = await plan(http, editor, "s3_bucket_default_encryption")
    assert sorted(i["resource_arn"] for i in created["items"]) == sorted(arn.values())
    assert (await approve(http, admin, created)).status_code == 200

    # Deleted between planning and execution: reported per resource, nothing attempted, not a failure.
    s3.delete_bucket(Bucket="d-before-run")
    ran = await execute(http, editor, created["plan_id"])
    assert ran.status_code == 200, ran.text
    results = {r["resource_arn"]: r for r in ran.json()["execution"]["results"]}
    assert {a: r["outcome"] for a, r in results.items()} == {
        arn["d-before-run"]: "gone",
        arn["d-before-verify"]: "fixed",
        arn["d-kept"]: "fixed",
    }
    assert results[arn["d-before-run"]]["detail"].startswith("Resource no longer exists")
    assert results[arn["d-before-run"]]["calls_made"] == []

    # Deleted between execution and verification: the re-collection does not find it.
    s3.delete_bucket(Bucket="d-before-verify")
    done = await verified(http, editor, created["plan_id"])
    by_arn = {v["resource_arn"]: v for v in done["verifications"]}
    assert {a: v["status"] for a, v in by_arn.items()} == {
        arn["d-before-run"]: "GONE",
        arn["d-before-verify"]: "GONE",
        arn["d-kept"]: "PASS",
    }, done["verifications"]
    for bucket in ("d-before-run", "d-before-verify"):
        assert by_arn[arn[bucket]]["reason"].startswith("Resource no longer exists"), by_arn[arn[bucket]]
    # The plan is concluded by the resource that still exists; the deleted ones are neither fixed nor errors.
    assert done["state"] == "verified", done["verification_summary"]
    summary = done["verification_summary"]
    assert (summary["passed"], summary["gone"], summary["resources"], summary["problem"]) == (1, 2, 3, None)
    after = await findings(running, "s3_bucket_default_encryption")
    assert (after[arn["d-kept"]]["status"], after[arn["d-kept"]]["state"]) == ("PASS", "active")
    # The verification's complete re-collection did not find the deleted buckets: their findings
    # close now, with the reason, instead of failing until the next full scan.
    for bucket in ("d-before-run", "d-before-verify"):
        gone = after[arn[bucket]]
        assert (gone["state"], gone["closed_at"] is not None) == ("closed", True), gone
