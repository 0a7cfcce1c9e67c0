"""Organisations: discover member accounts through AWS Organizations, assume a role in each, scan them
in parallel, and keep every account's findings apart; an account whose role cannot be assumed is ERROR
for that account only.

moto serves Organizations and STS (an assumed role's credentials act in the role's account) but ignores
trust policies, so the unreachable account is produced with the fault proxy refusing its AssumeRole.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from conftest import Running

from guardian_common.auth import Role
from guardian_testkit.faults import FaultRule
from guardian_testkit.moto import MotoServer

MANAGEMENT = "123456789012"
ROLE = "GuardianReadOnly"
SERVICES = ["s3", "iam"]


def member_client(moto: MotoServer, service: str, account_id: str) -> Any:
    sts = boto3.client("sts", endpoint_url=moto.url, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{ROLE}", RoleSessionName="seed")["Credentials"]
    return boto3.client(
        service,
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def seed_organisation(moto: MotoServer) -> dict[str, str]:
    """A management account with three members: production, staging, and one that will close."""
    org = boto3.client("organizations", endpoint_url=moto.url, region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    ids: dict[str, str] = {}
    for name, env in (("prod", "production"), ("staging", "staging"), ("old", "staging")):
        status = org.create_account(
            Email=f"{name}@example.com", AccountName=f"acme-{name}", Tags=[{"Key": "environment", "Value": env}]
        )["CreateAccountStatus"]
        ids[name] = status["AccountId"]
    # One bucket per member, named after it; the production one is public-readable by policy-less ACL? no:
    # simply unversioned, so each account has its own failing S3 findings to tell apart.
    for name in ("prod", "staging"):
        member_client(moto, "s3", ids[name]).create_bucket(Bucket=f"acme-{name}-data")
    return ids


async def call(running: Running, method: str, path: str, role: Role = Role.ADMIN, **kwargs: Any) -> httpx.Response:
    """Straight to the service that owns the path (the gateway's own keys are tested elsewhere)."""
    service = "collector" if path.startswith("/api/v1/accounts") else "compliance"
    headers = {"Authorization": f"Bearer {running.key(role)}"}
    async with httpx.AsyncClient(base_url=running.stack.url(service), headers=headers, timeout=60) as http:
        return await http.request(method, path, **kwargs)


async def wait_final(running: Running, scan_ids: list[str]) -> dict[str, dict[str, Any]]:
    final: dict[str, dict[str, Any]] = {}
    for _ in range(1200):
        for scan_id in scan_ids:
            if scan_id in final:
                continue
            response = await call(running, "GET", f"/api/v1/scans/{scan_id}", Role.AUDITOR)
            if response.status_code == 200 and response.json().get("final"):
                final[scan_id] = response.json()
        if len(final) == len(scan_ids):
            return final
        await asyncio.sleep(0.1)
    raise AssertionError(f"scans never became final: {sorted(set(scan_ids) - set(final))}")


async def findings_of(running: Running, account_id: str) -> list[dict[str, Any]]:
    response = await call(
        running, "GET", "/api/v1/findings", Role.AUDITOR, params={"account_id": account_id, "limit": 5000}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_discovery_registers_members_and_retires_closed_ones(running: Running, moto: MotoServer) -> None:
    ids = seed_organisation(moto)
    response = await call(running, "POST", "/api/v1/accounts/discover", json={"member_role_name": ROLE})
    assert response.status_code == 200, response.text
    first = response.json()
    assert first["management_account_id"] == MANAGEMENT
    assert sorted(first["added"]) == sorted([MANAGEMENT, *ids.values()])

    listed = {
        a["account_id"]: a for a in (await call(running, "GET", "/api/v1/accounts", Role.AUDITOR)).json()["items"]
    }
    prod = listed[ids["prod"]]
    assert prod["environment"] == "production"
    assert prod["role_arn"] == f"arn:aws:iam::{ids['prod']}:role/{ROLE}"
    assert prod["source"] == "organizations"
    assert prod["state"] == "active"
    assert listed[ids["staging"]]["environment"] == "staging"

    # Discovery again changes nothing; after an account closes it is retired, never deleted.
    again = (await call(running, "POST", "/api/v1/accounts/discover", json={"member_role_name": ROLE})).json()
    assert again["added"] == []
    assert sorted(again["unchanged"]) == sorted(first["added"])
    boto3.client("organizations", endpoint_url=moto.url, region_name="us-east-1").close_account(AccountId=ids["old"])
    third = (await call(running, "POST", "/api/v1/accounts/discover", json={"member_role_name": ROLE})).json()
    assert third["retired"] == [ids["old"]]
    old = (await call(running, "GET", f"/api/v1/accounts/{ids['old']}", Role.AUDITOR)).json()
    assert old["state"] == "retired"
    assert "AWS Organizations" in old["retired_reason"]
    active = (await call(running, "GET", "/api/v1/accounts", Role.AUDITOR, params={"state": "active"})).json()
    assert ids["old"] not in {a["account_id"] for a in active["items"]}


async def test_accounts_are_scanned_in_parallel_with_their_own_findings_and_one_unreachable(
    running: Running, moto: MotoServer
) -> None:
    ids = seed_organisation(moto)
    for name in ("prod", "staging"):
        body = {"account_id": ids[name], "name": f"acme-{name}", "role_arn": f"arn:aws:iam::{ids[name]}:role/{ROLE}"}
        body["environment"] = "production" if name == "prod" else "staging"
        body["regions"] = ["us-east-1"]
        assert (await call(running, "POST", "/api/v1/accounts", json=body)).status_code == 201

    response = await call(running, "POST", "/api/v1/accounts/scans", Role.EDITOR, json={"services": SERVICES})
    assert response.status_code == 202, response.text
    scans = {s["account_id"]: s for s in response.json()["items"]}
    assert set(scans) == {ids["prod"], ids["staging"]}
    await wait_final(running, [s["scan_id"] for s in scans.values()])

    prod_buckets = {f["resource_name"] for f in await findings_of(running, ids["prod"]) if f["service"] == "s3"}
    staging_buckets = {f["resource_name"] for f in await findings_of(running, ids["staging"]) if f["service"] == "s3"}
    assert prod_buckets == {"acme-prod-data"}
    assert staging_buckets == {"acme-staging-data"}

    scope = {"id": "production", "name": "Production", "boundary": {"environments": ["production"]}}
    created = await call(running, "POST", "/api/v1/scopes", json=scope)
    assert created.status_code == 201, created.text
    assert created.json()["boundary"]["environments"] == ["production"]
    before = await call(
        running, "GET", "/api/v1/frameworks/soc2/readiness", Role.AUDITOR, params={"scope": "production"}
    )
    assert before.status_code == 200, before.text
    prod_before = before.json()

    # Staging's role can no longer be assumed: its scan fails as a whole, production's does not.
    running.proxy.add_rule(FaultRule(service="sts", operation="AssumeRole", contains=f"::{ids['staging']}:role/"))
    response = await call(running, "POST", "/api/v1/accounts/scans", Role.EDITOR, json={"services": SERVICES})
    assert response.status_code == 202, response.text
    second = {s["account_id"]: s for s in response.json()["items"]}
    assert all(u["status"] == "failed" for u in second[ids["staging"]]["units"])
    assert "AccessDenied" in (second[ids["staging"]]["error"] or "")
    await wait_final(running, [s["scan_id"] for s in second.values()])

    # Posture by environment: a production-only scope is untouched by staging's failure; the breakdown
    # shows staging's ERRORs apart, and the organisation as a whole carries them.
    prod_now = await call(
        running, "GET", "/api/v1/frameworks/soc2/readiness", Role.AUDITOR, params={"scope": "production"}
    )
    assert prod_now.status_code == 200, prod_now.text
    assert prod_now.json()["readiness"]["by_status"] == prod_before["readiness"]["by_status"]
    breakdown = await call(running, "GET", "/api/v1/frameworks/soc2/readiness/breakdown", Role.AUDITOR)
    assert breakdown.status_code == 200, breakdown.text
    parts = {a["account_id"]: a for a in breakdown.json()["accounts"]}
    assert parts[ids["staging"]]["environment"] == "staging"
    staging_errors = parts[ids["staging"]]["readiness"]["by_status"].get("ERROR", 0)
    prod_errors = parts[ids["prod"]]["readiness"]["by_status"].get("ERROR", 0)
    assert staging_errors > prod_errors
    envs = {e["environment"]: e for e in breakdown.json()["environments"]}
    assert envs["production"]["account_ids"] == [ids["prod"]]
    assert envs["production"]["readiness"] == parts[ids["prod"]]["readiness"]
    assert breakdown.json()["organisation"]["by_status"].get("ERROR", 0) >= staging_errors
    scoped = await call(
        running, "GET", "/api/v1/frameworks/soc2/readiness/breakdown", Role.AUDITOR, params={"scope": "production"}
    )
    assert [a["account_id"] for a in scoped.json()["accounts"]] == [ids["prod"]]
    bad_scope = {"id": "bad", "name": "Bad", "boundary": {"environments": ["Prod!"]}}
    refused = await call(running, "POST", "/api/v1/scopes", json=bad_scope)
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid_environment"

    prod_findings = await findings_of(running, ids["prod"])
    staging_findings = await findings_of(running, ids["staging"])
    assert prod_findings
    assert all(f["status"] != "ERROR" for f in prod_findings if f["service"] == "s3")
    assert any(f["status"] == "ERROR" for f in staging_findings), staging_findings


async def test_bad_account_input_is_refused_with_the_reason(running: Running) -> None:
    cases = [
        ({"account_id": "12345", "name": "x"}, "account_id"),
        ({"account_id": "111122223333", "role_arn": "arn:aws:iam::111122223333:user/bob"}, "is not an IAM role ARN"),
        (
            {"account_id": "111122223333", "role_arn": "arn:aws:iam::444455556666:role/r"},
            "belongs to account 444455556666",
        ),
        ({"account_id": "111122223333", "regions": ["us-east-1", "mars-north-1"]}, "not an AWS region: mars-north-1"),
    ]
    for body, reason in cases:
        response = await call(running, "POST", "/api/v1/accounts", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_request"
        assert reason in response.json()["detail"]
    missing = await call(running, "GET", "/api/v1/accounts/999988887777", Role.AUDITOR)
    assert missing.status_code == 404
    assert missing.json()["error"] == "account_not_found"
    unknown_scan = await call(
        running, "POST", "/api/v1/accounts/scans", Role.EDITOR, json={"accounts": ["999988887777"]}
    )
    assert unknown_scan.status_code == 404
    assert unknown_scan.json()["error"] == "account_not_found"
    bad_id = await call(running, "GET", "/api/v1/accounts/abc", Role.AUDITOR)
    assert bad_id.status_code == 422
    assert bad_id.json()["error"] == "invalid_account_id"
    # An auditor reads the registry but cannot change it.
    forbidden = await call(running, "POST", "/api/v1/accounts", Role.AUDITOR, json={"account_id": "111122223333"})
    assert forbidden.status_code == 403
    assert (await call(running, "GET", "/api/v1/accounts", Role.AUDITOR)).json()["items"] == []


@pytest.mark.parametrize("reason", ["", "x"])
async def test_retiring_needs_a_reason(running: Running, reason: str) -> None:
    body = {"account_id": "111122223333", "name": "solo"}
    assert (await call(running, "POST", "/api/v1/accounts", json=body)).status_code == 201
    response = await call(running, "POST", "/api/v1/accounts/111122223333/retire", json={"reason": reason})
    assert response.status_code == 422
    assert (await call(running, "GET", "/api/v1/accounts/111122223333", Role.AUDITOR)).json()["state"] == "active"


@pytest.mark.slow  # CLI subprocesses; the same calls run over REST in the tests above
async def test_accounts_cli_adds_lists_and_retires(running: Running, tmp_path: Path) -> None:
    from test_model_cli import guardian

    admin = running.key(Role.ADMIN)
    added = await guardian(
        running, admin, tmp_path, "accounts", "add", "111122223333", "--name", "acme-prod",
        "--role-arn", "arn:aws:iam::111122223333:role/GuardianReadOnly", "--environment", "production",
        "--region", "us-east-1,eu-west-1", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert added.json()["regions"] == ["eu-west-1", "us-east-1"]
    assert added.json()["has_external_id"] is False

    listed = await guardian(running, admin, tmp_path, "accounts", "list", "--environment", "production", "--json")
    assert [a["account_id"] for a in listed.json()["items"]] == ["111122223333"]

    bad = await guardian(running, admin, tmp_path, "accounts", "add", "111122223333", "--role-arn", "nonsense")
    assert bad.code == 2
    assert "is not an IAM role ARN" in bad.err

    retired = await guardian(
        running, admin, tmp_path, "accounts", "retire", "111122223333", "--reason", "sold", "--json"
    )
    assert retired.code == 0, retired.err
    assert retired.json()["state"] == "retired"
    unknown = await guardian(running, admin, tmp_path, "accounts", "show", "999988887777")
    assert unknown.code == 2
    assert "account_not_found" in unknown.err
