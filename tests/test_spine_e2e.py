"""The spine end to end: moto -> collector -> NATS -> evaluator -> compliance -> REST and CLI.

Real services on loopback, real NATS and PostgreSQL, AWS served by moto through our fault proxy.
Regions are pinned to us-east-1 and eu-west-1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx
from conftest import Running

from guardian_cli.follow import ScanOutcome, run_scan
from guardian_common.auth import Role
from guardian_testkit.faults import FaultRule
from guardian_testkit.moto import MotoServer

ACCOUNT = "123456789012"
TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::acme-customer-data", "arn:aws:s3:::acme-customer-data/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def seed(moto: MotoServer) -> dict[str, str]:
    """A small account: one good and one bad resource for S3, EBS, IAM and RDS."""
    s3 = moto.client("s3")
    kms = moto.client("kms")
    key_id = kms.create_key(Description="data")["KeyMetadata"]["KeyId"]
    s3.create_bucket(Bucket="acme-logs")
    s3.create_bucket(Bucket="acme-customer-data")
    s3.put_bucket_encryption(
        Bucket="acme-customer-data",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}]
        },
    )
    s3.put_public_access_block(
        Bucket="acme-customer-data",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket="acme-customer-data", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket="acme-customer-data", Policy=json.dumps(TLS_ONLY))
    s3.put_bucket_acl(
        Bucket="acme-logs",
        GrantWrite="uri=http://acs.amazonaws.com/groups/s3/LogDelivery",
        GrantReadACP="uri=http://acs.amazonaws.com/groups/s3/LogDelivery",
    )
    s3.put_bucket_logging(
        Bucket="acme-customer-data",
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "acme-logs", "TargetPrefix": "data/"}},
    )
    s3.create_bucket(Bucket="acme-legacy-exports")
    s3.put_bucket_acl(Bucket="acme-legacy-exports", ACL="public-read")

    ec2 = moto.client("ec2")
    good_vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, Encrypted=True)["VolumeId"]
    bad_vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, Encrypted=False)["VolumeId"]

    iam = moto.client("iam")
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password="A-long-passphrase-1!")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName="alice", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    iam.create_user(UserName="bob")
    iam.create_login_profile(UserName="bob", Password="A-long-passphrase-2!")

    rds = moto.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="app",
        MasterUserPassword="secret-password-1",
        AllocatedStorage=20,
        StorageEncrypted=True,
        MultiAZ=True,
        BackupRetentionPeriod=14,
        DeletionProtection=True,
        PubliclyAccessible=False,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="legacy-db",
        Engine="mysql",
        DBInstanceClass="db.t3.micro",
        MasterUsername="app",
        MasterUserPassword="secret-password-2",
        AllocatedStorage=20,
        StorageEncrypted=False,
        MultiAZ=False,
        BackupRetentionPeriod=0,
        PubliclyAccessible=True,
    )
    return {"good_volume": good_vol, "bad_volume": bad_vol}


# The services this test seeds; the others (which moto serves only in part) have their own golden tests.
SPINE_SERVICES = ["cloudtrail", "ec2", "iam", "rds", "s3"]


async def scan(running: Running, services: list[str] | None = None) -> ScanOutcome:
    outcome = await run_scan(
        running.client,
        regions=["us-east-1", "eu-west-1"],
        services=services or SPINE_SERVICES,
        poll_seconds=0.1,
        timeout_seconds=120,
    )
    assert outcome.final, outcome
    return outcome


async def findings(running: Running, **params: Any) -> list[dict[str, Any]]:
    url = f"{running.stack.url('compliance')}/api/v1/findings"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {running.key(Role.AUDITOR)}"}) as http:
        response = await http.get(url, params={"limit": 5000, **params})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def expect(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


def verdicts(items: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(f["check_id"], f["resource_name"]): f["status"] for f in items}


def controls_with(export: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [c for c in export["controls"] if check_id in c["checks"]]


async def test_scan_reaches_final_soc2_statuses_with_exact_findings(running: Running, moto: MotoServer) -> None:
    ids = seed(moto)
    outcome = await scan(running)
    assert outcome.evaluation is not None
    assert outcome.evaluation["state"] == "final"
    assert outcome.evaluation["partial"] is False, outcome.unread_units
    assert outcome.exit_code() == 0

    got = verdicts(await findings(running))
    expected = {
        ("s3_bucket_default_encryption", "acme-customer-data"): "PASS",
        ("s3_bucket_default_encryption", "acme-legacy-exports"): "FAIL",
        ("s3_bucket_not_public", "acme-customer-data"): "PASS",
        ("s3_bucket_not_public", "acme-legacy-exports"): "FAIL",
        ("s3_bucket_public_access_block", "acme-customer-data"): "PASS",
        ("s3_bucket_public_access_block", "acme-legacy-exports"): "FAIL",
        ("s3_bucket_access_logging", "acme-customer-data"): "PASS",
        ("s3_bucket_access_logging", "acme-legacy-exports"): "FAIL",
        ("s3_bucket_versioning", "acme-customer-data"): "PASS",
        ("s3_bucket_versioning", "acme-legacy-exports"): "FAIL",
        ("s3_bucket_secure_transport", "acme-customer-data"): "PASS",
        ("s3_bucket_secure_transport", "acme-legacy-exports"): "FAIL",
        ("ec2_ebs_volume_encrypted", ids["good_volume"]): "PASS",
        ("ec2_ebs_volume_encrypted", ids["bad_volume"]): "FAIL",
        ("iam_user_console_mfa", "alice"): "PASS",
        ("iam_user_console_mfa", "bob"): "FAIL",
        ("rds_instance_storage_encrypted", "orders-db"): "PASS",
        ("rds_instance_storage_encrypted", "legacy-db"): "FAIL",
        ("rds_instance_not_public", "orders-db"): "PASS",
        ("rds_instance_not_public", "legacy-db"): "FAIL",
        ("rds_instance_multi_az", "orders-db"): "PASS",
        ("rds_instance_multi_az", "legacy-db"): "FAIL",
        ("rds_instance_backups_enabled", "orders-db"): "PASS",
        ("rds_instance_backups_enabled", "legacy-db"): "FAIL",
    }
    assert {k: got.get(k) for k in expected} == expected
    # No finding anywhere is ERROR: every service was readable.
    assert not [f for f in await findings(running, status="ERROR")]

    export = await running.client.export("soc2")
    assert export["framework"] == "soc2"
    assert export["scan_id"] == outcome.scan_id
    assert len({r["id"] for r in export["requirements"]}) == 61
    for check_id in ("s3_bucket_default_encryption", "iam_user_console_mfa", "rds_instance_storage_encrypted"):
        mapped = controls_with(export, check_id)
        assert mapped, check_id
        assert all(c["status"] == "FAIL" for c in mapped), (check_id, mapped)
    status_of = {r["id"]: r["status"] for r in export["requirements"]}
    failing_control_reqs = {req for c in export["controls"] if c["status"] == "FAIL" for req in c["requirements"]}
    assert all(status_of[r] == "FAIL" for r in failing_control_reqs)
    procedural = [c for c in export["controls"] if c["kind"] == "procedural"]
    assert procedural
    assert all(c["status"] == "EVIDENCE_REQUIRED" for c in procedural)

    readiness = export["readiness"]
    applicable = [c for c in export["controls"] if c["status"] != "NOT_APPLICABLE"]
    passing = [c for c in applicable if c["status"] == "PASS"]
    assert readiness["applicable"] == len(applicable)
    assert readiness["passing"] == len(passing)
    assert readiness["score"] == round(100 * len(passing) / len(applicable), 1)
    assert "PASS controls" in readiness["formula"]
    assert set(export["versions"]) >= {"framework", "control_library", "check_catalogue", "checks"}

    auditor = {"Authorization": f"Bearer {running.key(Role.AUDITOR)}"}
    async with httpx.AsyncClient(headers=auditor) as http:
        inventory = (await http.get(f"{running.stack.url('compliance')}/api/v1/inventory/encryption")).json()
    states = {(s["resource_type"], s["resource_name"]): s["state"] for s in inventory["items"]}
    assert states[("AWS::S3::Bucket", "acme-legacy-exports")] == "unencrypted"
    assert states[("AWS::S3::Bucket", "acme-customer-data")] == "encrypted"
    assert states[("AWS::EC2::Volume", ids["bad_volume"])] == "unencrypted"
    assert states[("AWS::RDS::DBInstance", "legacy-db")] == "unencrypted"
    assert states[("AWS::RDS::DBInstance", "orders-db")] == "encrypted"
    assert inventory["unknown"] == 0
    customer = next(s for s in inventory["items"] if s["resource_name"] == "acme-customer-data")
    assert customer["kms_key_id"]

    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{running.stack.url('compliance')}/metrics")).text
    for family in (
        "guardian_scans_finalised_total",
        "guardian_verdicts_applied_total",
        "guardian_scan_duration_seconds",
        "guardian_messages_handled_total",
        "guardian_consumer_lag_messages",
    ):
        assert family in metrics, family
    assert re.search(r'guardian_verdicts_applied_total\{status="FAIL"\} [1-9]', metrics)


async def test_control_view_lists_failing_resources_and_filters(running: Running, moto: MotoServer) -> None:
    seed(moto)
    await scan(running)
    export = await running.client.export("soc2")
    control = controls_with(export, "s3_bucket_default_encryption")[0]
    detail = await running.client.control("soc2", control["id"])
    failing = {(r["check_id"], r["resource_name"]) for r in detail["failing_resources"]}
    assert ("s3_bucket_default_encryption", "acme-legacy-exports") in failing
    assert all(r["reason"] for r in detail["failing_resources"])
    assert detail["rationale"]
    assert all(detail["rationale"].values())
    remediation = {c["check_id"]: c["remediation"] for c in detail["checks"]}
    assert remediation["s3_bucket_default_encryption"]

    failing_controls = await running.client.controls("soc2", status="FAIL")
    assert failing_controls["total"] == len([c for c in export["controls"] if c["status"] == "FAIL"])
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {running.key(Role.AUDITOR)}"}) as http:
        base = f"{running.stack.url('compliance')}/api/v1/frameworks/soc2"
        availability = (await http.get(f"{base}/requirements", params={"category": "availability"})).json()
        assert {r["id"] for r in availability["items"]} == {"A1.1", "A1.2", "A1.3"}
        bad = await http.get(f"{base}/requirements", params={"category": "nonsense"})
        expect(bad, 422, "unknown_category")
        by_type = (
            await http.get(
                f"{running.stack.url('compliance')}/api/v1/findings",
                params={
                    "resource_type": "AWS::RDS::DBInstance",
                    "status": "FAIL",
                    "region": "us-east-1",
                    "account_id": ACCOUNT,
                    "check_id": ["rds_instance_storage_encrypted", "rds_instance_not_public", "rds_instance_multi_az"],
                },
            )
        ).json()
        assert by_type["total"] > 0
        assert {f["resource_name"] for f in by_type["items"]} == {"legacy-db"}


async def test_access_denied_on_s3_makes_its_checks_error_and_cli_exit_1(
    running: Running, moto: MotoServer, tmp_path: Path
) -> None:
    seed(moto)
    running.proxy.add_rule(FaultRule(service="s3", fault="access_denied"))
    env = {
        **os.environ,
        "GUARDIAN_COLLECTOR_URL": running.stack.url("collector"),
        "GUARDIAN_COMPLIANCE_URL": running.stack.url("compliance"),
        "GUARDIAN_API_KEY": running.key(Role.EDITOR),
        "GUARDIAN_HOME": str(tmp_path),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian_cli.main",
        "scan",
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
        *(arg for service in SPINE_SERVICES for arg in ("--service", service)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, errs = await asyncio.wait_for(proc.communicate(), timeout=180)
    text = out.decode() + errs.decode()
    assert proc.returncode == 1, text
    assert "s3 in global" in text

    s3_findings = [f for f in await findings(running) if f["service"] == "s3"]
    assert s3_findings
    assert all(f["status"] == "ERROR" for f in s3_findings)
    assert not [f for f in s3_findings if f["status"] == "PASS"]
    export = await running.client.export("soc2")
    for control in controls_with(export, "s3_bucket_default_encryption"):
        assert control["status"] in {"ERROR", "FAIL"}
    # Other services were read normally.
    assert any(f["status"] == "PASS" for f in await findings(running) if f["service"] == "rds")


async def test_api_refuses_missing_keys_auditor_changes_bad_input_and_unknown_scans(running: Running) -> None:
    collector = running.stack.url("collector")
    compliance = running.stack.url("compliance")
    async with httpx.AsyncClient() as http:
        for url in (
            f"{collector}/api/v1/scans",
            f"{compliance}/api/v1/frameworks",
            f"{compliance}/api/v1/findings",
            f"{running.stack.url('evaluator')}/api/v1/checks",
        ):
            response = await http.get(url)
            assert response.status_code == 401, url
            assert response.json()["error"] == "missing_api_key"
        forged = await http.get(f"{compliance}/api/v1/frameworks", headers={"Authorization": "Bearer gk1.x.y"})
        expect(forged, 401, "invalid_api_key")
        for url in ("/healthz", "/readyz", "/metrics"):
            assert (await http.get(f"{compliance}{url}")).status_code == 200

        auditor = {"Authorization": f"Bearer {running.key(Role.AUDITOR)}"}
        denied = await http.post(f"{collector}/api/v1/scans", json={}, headers=auditor)
        expect(denied, 403, "insufficient_role")
        denied = await http.put(f"{compliance}/api/v1/frameworks/soc2/subscription", headers=auditor)
        assert denied.status_code == 403

        editor = {"Authorization": f"Bearer {running.key(Role.EDITOR)}"}
        bad = await http.post(f"{collector}/api/v1/scans", json={"regions": ["mars-1"]}, headers=editor)
        expect(bad, 422, "invalid_scan_request")
        bad = await http.post(f"{collector}/api/v1/scans", json={"services": ["nosuch"]}, headers=editor)
        assert bad.status_code == 422
        assert "nosuch" in bad.json()["detail"]
        bad = await http.post(f"{collector}/api/v1/scans", json={"regions": "us-east-1"}, headers=editor)
        expect(bad, 422, "invalid_request")

        for url in (f"{collector}/api/v1/scans/scan-nope", f"{compliance}/api/v1/scans/scan-nope"):
            missing = await http.get(url, headers=auditor)
            expect(missing, 404, "scan_not_found")
        unknown = await http.get(f"{compliance}/api/v1/frameworks/pci", headers=auditor)
        expect(unknown, 404, "framework_not_found")
        none_yet = await http.get(f"{compliance}/api/v1/frameworks/soc2/readiness", headers=auditor)
        expect(none_yet, 409, "no_results_yet")


async def test_every_api_endpoint_needs_a_key_except_operations(running: Running) -> None:
    open_paths = {"/healthz", "/readyz", "/metrics"}
    async with httpx.AsyncClient() as http:
        for name in ("collector", "evaluator", "compliance"):
            base = running.stack.url(name)
            spec = (await http.get(f"{base}/openapi.json")).json()
            operations = [
                (method.upper(), path)
                for path, item in spec["paths"].items()
                for method in item
                if path not in open_paths
            ]
            assert operations, name
            for method, path in operations:
                concrete = re.sub(r"\{[^}]+\}", "x", path)
                response = await http.request(method, f"{base}{concrete}")
                assert response.status_code == 401, (name, method, path, response.status_code)
                assert response.json()["error"] == "missing_api_key"


async def test_a_second_scan_of_the_same_scope_is_refused_while_one_runs(running: Running, moto: MotoServer) -> None:
    seed(moto)
    running.proxy.delay_all(0.2)
    editor = {"Authorization": f"Bearer {running.key(Role.EDITOR)}"}
    body = {"regions": ["us-east-1"], "services": ["s3"]}
    async with httpx.AsyncClient(headers=editor, timeout=30) as http:
        url = f"{running.stack.url('collector')}/api/v1/scans"
        first = await http.post(url, json=body)
        assert first.status_code == 202, first.text
        second = await http.post(url, json=body)
        expect(second, 409, "scan_already_running")
        assert first.json()["scan_id"] in second.json()["detail"]
        other_scope = await http.post(url, json={"regions": ["eu-west-1"], "services": ["s3"]})
        assert other_scope.status_code == 202
        running.proxy.delay_all(0)
        for _ in range(600):
            states = [(await http.get(f"{url}/{s.json()['scan_id']}")).json()["state"] for s in (first, other_scope)]
            if all(state == "completed" for state in states):
                break
            await asyncio.sleep(0.1)
        assert states == ["completed", "completed"]
        progress = (await http.get(f"{url}/{first.json()['scan_id']}")).json()
        assert {(u["region"], u["service"]) for u in progress["units"]} == {
            ("global", "s3"),
            ("global", "account"),
            ("us-east-1", "account"),
        }
        assert all(u["status"] == "complete" for u in progress["units"])
        again = await http.post(url, json=body)
        assert again.status_code == 202
