"""The bundled demo environment: what seed() creates exists in moto, and scans to what it documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from guardian_cli import demo_env
from guardian_cli.demo_env import AlreadySeeded, DemoManifest, demo_services, seed
from guardian_collector.collection import AwsTarget, ClientPool, collect_account
from guardian_collector.collectors.base import Resource
from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.engine import fed_by_this_scan
from guardian_evaluator.registry import REGISTRY, Snapshot
from guardian_testkit.moto import MotoServer

REGIONS = ("us-east-1", "eu-west-1")

AGREED_CHECKS = {
    "s3_bucket_default_encryption",
    "s3_bucket_public_access_block",
    "s3_bucket_not_public",
    "s3_bucket_access_logging",
    "s3_bucket_versioning",
    "s3_bucket_secure_transport",
    "s3_account_public_access_block",
    "cloudtrail_logging_enabled",
    "cloudtrail_log_file_validation",
    "cloudtrail_kms_encryption",
    "cloudtrail_cloudwatch_logs",
    "cloudtrail_bucket_not_public",
    "cloudtrail_multi_region_enabled",
    "ec2_ebs_volume_encrypted",
    "ec2_sg_no_open_admin_ports",
    "ec2_sg_no_open_database_ports",
    "ec2_sg_no_open_all_traffic",
    "ec2_default_sg_restricts_all",
    "ec2_vpc_flow_logs_enabled",
    "ec2_ebs_default_encryption",
    "rds_instance_storage_encrypted",
    "rds_instance_not_public",
    "rds_instance_multi_az",
    "rds_instance_backups_enabled",
    "rds_instance_deletion_protection",
    "rds_instance_minor_version_upgrade",
    "iam_user_console_mfa",
    "iam_user_access_key_rotated",
    "iam_user_unused_credentials",
    "iam_user_no_direct_policies",
    "iam_policy_no_full_admin",
    "iam_root_mfa",
    "iam_root_no_access_keys",
    "iam_password_policy_strong",
}


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def seeded(moto_server: MotoServer) -> DemoManifest:
    """A fresh demo account (seeding takes about a second on a warm server)."""
    moto_server.reset()
    return seed(moto_server.url, REGIONS)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


class Clients:
    """boto3 clients on the moto server, closed at the end of the test."""

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        self._made: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str = "us-east-1") -> Any:
        if (service, region) not in self._made:
            self._made[(service, region)] = self.server.client(service, region)
        return self._made[(service, region)]

    def close(self) -> None:
        for client in self._made.values():
            client.close()


@pytest.fixture
def aws(moto_server: MotoServer) -> Iterator[Clients]:
    clients = Clients(moto_server)
    yield clients
    clients.close()


def test_manifest_resources_exist_in_moto(seeded: DemoManifest, aws: Clients) -> None:
    assert seeded.company == "Larkspur Health"
    assert seeded.regions == REGIONS

    listed = {b["Name"] for b in aws("s3").list_buckets()["Buckets"]}
    assert listed == set(seeded.buckets)
    assert len(listed) == 5

    for region in REGIONS:
        trails = aws("cloudtrail", region).describe_trails(includeShadowTrails=False)["trailList"]
        assert {t["Name"] for t in trails} == {n for n, r in seeded.trails.items() if r == region}

        vpcs = aws("ec2", region).describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        assert [v["VpcId"] for v in vpcs] == [seeded.default_vpcs[region]]

        instances = aws("rds", region).describe_db_instances()["DBInstances"]
        assert {i["DBInstanceIdentifier"] for i in instances} == {
            n for n, r in seeded.db_instances.items() if r == region
        }

    all_vpcs = {v["VpcId"] for r in REGIONS for v in aws("ec2", r).describe_vpcs()["Vpcs"]}
    assert set(seeded.vpcs.values()) <= all_vpcs
    assert len(seeded.vpcs) == 3
    all_volumes = {v["VolumeId"] for r in REGIONS for v in aws("ec2", r).describe_volumes()["Volumes"]}
    assert all_volumes == set(seeded.volumes.values())
    all_groups = {
        g["GroupId"]: g["GroupName"]
        for r in REGIONS
        for g in aws("ec2", r).describe_security_groups()["SecurityGroups"]
    }
    for name, group_id in seeded.security_groups.items():
        assert all_groups[group_id] == name
    for group_id in seeded.default_security_groups.values():
        assert all_groups[group_id] == "default"
    assert len(seeded.db_instances) == 2

    iam = aws("iam")
    assert {u["UserName"] for u in iam.list_users()["Users"]} == set(seeded.users)
    assert len(seeded.users) == 4
    assert {g["GroupName"] for g in iam.list_groups()["Groups"]} == set(seeded.groups)
    local = {p["PolicyName"]: p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]}
    assert local == seeded.policies

    for key, arn in seeded.kms_keys.items():
        region, alias = key.split("/", 1)
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in aws("kms", region).list_aliases()["Aliases"]}
        assert aliases[alias] == arn.rsplit("/", 1)[-1]
    assert len(seeded.kms_keys) == 3
    assert {g["logGroupName"] for g in aws("logs").describe_log_groups()["logGroups"]} == set(seeded.log_groups)


def test_deliberate_gaps_are_really_there(seeded: DemoManifest, aws: Clients) -> None:
    s3 = aws("s3")
    rules = s3.get_bucket_encryption(Bucket=demo_env.CUSTOMER_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_encryption(Bucket=demo_env.EXPORT_BUCKET)
    assert missing.value.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError"
    assert s3.get_bucket_policy_status(Bucket=demo_env.MARKETING_BUCKET)["PolicyStatus"]["IsPublic"] is True
    assert s3.get_bucket_policy_status(Bucket=demo_env.CUSTOMER_BUCKET)["PolicyStatus"]["IsPublic"] is False

    assert aws("ec2", "us-east-1").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    assert aws("ec2", "eu-west-1").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    assert aws("cloudtrail").get_trail_status(Name=demo_env.ORG_TRAIL)["IsLogging"] is True
    assert aws("cloudtrail", "eu-west-1").get_trail_status(Name=demo_env.EU_TRAIL)["IsLogging"] is False

    legacy = aws("rds", "eu-west-1").describe_db_instances(DBInstanceIdentifier=demo_env.LEGACY_DB)
    assert legacy["DBInstances"][0]["BackupRetentionPeriod"] == 0
    assert legacy["DBInstances"][0]["PubliclyAccessible"] is True

    policy = aws("iam").get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 8
    assert policy["RequireSymbols"] is False
    assert aws("iam").list_mfa_devices(UserName=demo_env.ENGINEER)["MFADevices"]
    assert not aws("iam").list_mfa_devices(UserName=demo_env.CONTRACTOR)["MFADevices"]


def test_manifest_covers_every_agreed_check(seeded: DemoManifest) -> None:
    verdicts: dict[str, set[str]] = {}
    for expectation in seeded.expected:
        verdicts.setdefault(expectation.check_id, set()).add(expectation.status)
    assert set(verdicts) == AGREED_CHECKS
    for check_id, seen in verdicts.items():
        if seen != {"PASS", "FAIL"}:
            assert check_id in seeded.not_demonstrable, f"{check_id} shows only {seen} without saying why"
    assert len(set(seeded.expected)) == len(seeded.expected)  # no duplicate triple
    for resource in seeded.misconfigured:
        assert any(e.resource == resource and e.status == "FAIL" for e in seeded.expected), resource
    assert seeded.to_dict()["expected"][0] == list(seeded.expected[0])
    assert len(seeded.summary()) == 3


async def test_scanning_the_demo_gives_the_documented_verdicts(
    seeded: DemoManifest, moto_server: MotoServer, aws_env: None
) -> None:
    """The real collectors and checks on the demo reach exactly the verdicts the manifest documents."""
    emitted: list[Resource] = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append(resource)

    async with ClientPool(AwsTarget(endpoint_url=moto_server.url, max_attempts=2)) as pool:
        await collect_account(
            pool, account_id=seeded.account_id, regions=list(REGIONS), services=demo_services(), emit=emit
        )
    load_all()
    verdicts: dict[tuple[str, str], Status] = {}
    reasons: dict[tuple[str, str], str] = {}
    for chk in REGISTRY:
        for resource in emitted:
            if resource.resource_type != chk.resource_type:
                continue
            snapshot = Snapshot(
                resource_type=resource.resource_type,
                arn=resource.arn,
                name=resource.name,
                account_id=seeded.account_id,
                region=resource.region,
                tags=resource.tags,
                configuration=resource.configuration,
            )
            if not fed_by_this_scan(chk, snapshot):
                continue
            verdict = chk.fn(snapshot, chk.parameters)
            if verdict is not None:
                verdicts[(chk.id, resource.name)] = verdict.status
                reasons[(chk.id, resource.name)] = verdict.reason

    errors = {k: reasons[k] for k, status in verdicts.items() if status == Status.ERROR}
    assert errors == {}
    expected = {(e.check_id, e.resource): Status(e.status) for e in seeded.expected}
    # The manifest documents the spine's checks; later checks judge the same resources too.
    documented = {check_id for check_id, _ in expected}
    assert {k: v for k, v in verdicts.items() if k[0] in documented} == expected


def test_seeding_twice_into_a_reset_server(moto_server: MotoServer, aws: Clients) -> None:
    moto_server.reset()
    first = seed(moto_server.url, REGIONS)
    with pytest.raises(AlreadySeeded, match="reset the moto server"):
        seed(moto_server.url, REGIONS)  # the names are fixed: refused before creating anything
    moto_server.reset()
    second = seed(moto_server.url, REGIONS)
    assert set(second.buckets) == set(first.buckets)
    assert set(second.users) == set(first.users)
    assert len(second.expected) == len(first.expected)
    assert {b["Name"] for b in aws("s3").list_buckets()["Buckets"]} == set(second.buckets)
    assert second.seconds > 0  # the manifest records how long seeding took (timed in bench/, not here)


def test_single_region_seed_documents_what_it_cannot_show(moto_server: MotoServer, aws: Clients) -> None:
    moto_server.reset()
    manifest = seed(moto_server.url, ("us-east-1",))
    assert demo_env.EU_TRAIL not in manifest.trails
    assert demo_env.LEGACY_DB not in manifest.db_instances
    assert "rds_instance_storage_encrypted" in manifest.not_demonstrable
    assert manifest.expected_for("ec2_ebs_default_encryption") == {manifest.context_name("us-east-1"): "PASS"}
    assert aws("rds", "eu-west-1").describe_db_instances()["DBInstances"] == []
