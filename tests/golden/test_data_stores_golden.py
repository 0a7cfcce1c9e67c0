"""Golden tests for the data-store checks: moto seeded with good and bad RDS clusters, snapshots and
parameter groups, DynamoDB tables, OpenSearch domains, ElastiCache replication groups, Redshift clusters,
EFS file systems, AWS Backup plans and vaults, KMS keys and secrets; the real collectors; the real checks.

Every check is shown PASS on a good resource and FAIL on a bad one produced by the collectors from moto,
and each service has a case where a listing or a detail read is denied, turning its checks ERROR (or its
unit FAILED), never PASS.

What moto lacks, and how this module makes up for it (all answers are given by a botocore ``before-call``
handler on the collectors' session, the mechanism botocore's Stubber uses; every substitute answer is first
validated against the service's output model, as the Stubber does):

- ``backup:ListProtectedResources`` is not implemented (moto answers 404). The tests answer it with
  model-validated lists of protected resources.
- ``redshift:ModifyClusterParameterGroup`` fails in moto (HTML 500), so no group can be given
  ``require_ssl=true``. The good cluster uses a group named ``secure-ssl`` whose DescribeClusterParameters
  is answered with ``require_ssl=true``; the bad cluster keeps moto's own default group (``false``).
- moto stores an automated snapshot retention of 0 as 1, so the failing Redshift retention case uses the
  check's own parameter (a company threshold of 7 days) against a cluster that keeps 1 day.
- moto reports the AWS managed ``aws/dynamodb`` key as customer managed and creates Backup vaults without a
  key when none is given (real AWS uses ``aws/backup``); the cases here avoid relying on either: the
  restricted table uses a key created in the test, and the keyless vault fails because it reports no key.
- Denials are injected the same way: the handler answers ``AccessDenied`` in moto's place, which
  aiobotocore turns into the ``ClientError`` a real denial raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import golden_support
from aiobotocore.session import get_session
from golden_support import (
    ACCOUNT,
    Answer,
    Emitted,
    answering_with,
    by_type,
    contexts,
    model_checked,
    refusal,
    request_body,
    status,
    unit_status,
    verdict,
    with_metadata,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_collector.collection import CollectionOutcome
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_testkit.moto import MotoServer

EAST = "us-east-1"
WEST = "eu-west-1"
REGIONS = [EAST, WEST]
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

load_all()

Intercept = Callable[[str, str, str, Any], "Answer | None"]
"""intercept(service, operation, region, request body) -> (HTTP status, parsed answer), or None for moto."""


# --- plumbing --------------------------------------------------------------------------------------


def validated(service: str, operation: str, answer: dict[str, Any]) -> Answer:
    """An answer moto cannot give, checked against the service's output model first."""
    return 200, with_metadata(model_checked(service, operation, answer))


def denied(operation: str, code: str = "AccessDenied") -> Answer:
    return refusal(code, f"injected denial of {operation}", metadata=True)


def protected(region: str, arns: list[str]) -> Answer:
    results = [
        {
            "ResourceArn": arn,
            "ResourceType": arn.split(":")[2],
            "LastBackupTime": datetime(2024, 6, 1, tzinfo=UTC),
            "ResourceName": arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
        }
        for arn in arns
        if arn.split(":")[3] == region
    ]
    return validated("backup", "ListProtectedResources", {"Results": results})


def _current(service: str, operation: str, region: str, body: Any) -> Answer | None:
    """The current test's intercept answers, or moto does."""
    intercept = _INTERCEPT[0]
    return None if intercept is None else intercept(service, operation, region, body)


# One session for the module: it keeps the parsed service models, which makes each collection several
# times faster than a fresh session would. Each collection sets the intercept it needs.
_SESSION = get_session()
_SESSION.register("before-call", answering_with(_current, request_body))
_INTERCEPT: list[Intercept | None] = [None]


async def collect(
    moto: MotoServer, services: list[str], intercept: Intercept | None = None
) -> tuple[Emitted, CollectionOutcome]:
    _INTERCEPT[0] = intercept
    try:
        return await golden_support.collect(moto, services, regions=REGIONS, session=_SESSION)
    finally:
        _INTERCEPT[0] = None


def statuses(emitted: Emitted, resource_type: str, check_ids: tuple[str, ...]) -> dict[str, tuple[Status | None, ...]]:
    return {
        name: tuple(status(c, resource) for c in check_ids)
        for name, resource in by_type(emitted, resource_type).items()
    }


# --- RDS clusters, snapshots, parameter groups, instance log exports --------------------------------


def seed_rds(moto: MotoServer) -> None:
    rds = moto.client("rds", EAST)
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="aurora-tls", DBParameterGroupFamily="aurora-mysql8.0", Description="TLS only"
    )
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName="aurora-tls",
        Parameters=[{"ParameterName": "require_secure_transport", "ParameterValue": "ON", "ApplyMethod": "immediate"}],
    )
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="aurora-open", DBParameterGroupFamily="aurora-postgresql15", Description="as is"
    )
    common: dict[str, Any] = {"MasterUsername": "admin", "MasterUserPassword": "correct-horse-battery"}
    rds.create_db_cluster(
        DBClusterIdentifier="ledger-good",
        Engine="aurora-mysql",
        StorageEncrypted=True,
        DeletionProtection=True,
        BackupRetentionPeriod=14,
        EnableCloudwatchLogsExports=["audit", "error", "slowquery"],
        EnableIAMDatabaseAuthentication=True,
        DBClusterParameterGroupName="aurora-tls",
        Tags=[{"Key": "env", "Value": "prod"}],
        **common,
    )
    rds.create_db_cluster(
        DBClusterIdentifier="ledger-bad",
        Engine="aurora-postgresql",
        StorageEncrypted=False,
        DeletionProtection=False,
        BackupRetentionPeriod=1,
        DBClusterParameterGroupName="aurora-open",
        **common,
    )
    member: dict[str, Any] = {"DBInstanceClass": "db.r6g.large"}
    for name, cluster, engine, zone in (
        ("ledger-good-1", "ledger-good", "aurora-mysql", f"{EAST}a"),
        ("ledger-good-2", "ledger-good", "aurora-mysql", f"{EAST}b"),
        ("ledger-bad-1", "ledger-bad", "aurora-postgresql", f"{EAST}a"),
    ):
        rds.create_db_instance(
            DBInstanceIdentifier=name, DBClusterIdentifier=cluster, Engine=engine, AvailabilityZone=zone, **member
        )

    rds.create_db_parameter_group(
        DBParameterGroupName="billing-tls", DBParameterGroupFamily="postgres16", Description="TLS"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="billing-tls",
        Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}],
    )
    single: dict[str, Any] = {"DBInstanceClass": "db.t3.micro", "AllocatedStorage": 20, **common}
    rds.create_db_instance(
        DBInstanceIdentifier="billing-good",
        Engine="postgres",
        EngineVersion="16.3",
        StorageEncrypted=True,
        EnableCloudwatchLogsExports=["postgresql", "upgrade"],
        DBParameterGroupName="billing-tls",
        **single,
    )
    # Default parameter group (moto lists no parameters for it), no log exports, unencrypted.
    rds.create_db_instance(DBInstanceIdentifier="legacy-bad", Engine="mysql", StorageEncrypted=False, **single)

    rds.create_db_snapshot(DBSnapshotIdentifier="billing-private", DBInstanceIdentifier="billing-good")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="billing-private", AttributeName="restore", ValuesToAdd=["210987654321"]
    )
    rds.create_db_snapshot(DBSnapshotIdentifier="legacy-public", DBInstanceIdentifier="legacy-bad")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="legacy-public", AttributeName="restore", ValuesToAdd=["all"])
    rds.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="ledger-good-snap", DBClusterIdentifier="ledger-good")
    rds.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="ledger-bad-snap", DBClusterIdentifier="ledger-bad")
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="ledger-bad-snap", AttributeName="restore", ValuesToAdd=["all"]
    )


CLUSTER_CHECKS = (
    "rds_cluster_storage_encrypted",
    "rds_cluster_deletion_protection",
    "rds_cluster_backup_retention",
    "rds_cluster_multi_az",
    "rds_cluster_log_exports",
    "rds_cluster_iam_auth",
)
SNAPSHOT_CHECKS = ("rds_snapshot_not_public", "rds_snapshot_encrypted")
CLUSTER_SNAPSHOT_CHECKS = ("rds_cluster_snapshot_not_public", "rds_cluster_snapshot_encrypted")


async def test_rds_clusters_snapshots_and_parameter_groups(moto: MotoServer) -> None:
    seed_rds(moto)
    emitted, outcome = await collect(moto, ["rds", "rdsextra"])
    for region in REGIONS:
        assert unit_status(outcome, "rdsextra", region) == UnitStatus.COMPLETE

    assert statuses(emitted, "AWS::RDS::DBCluster", CLUSTER_CHECKS) == {
        "ledger-good": (PASS,) * 6,
        "ledger-bad": (FAIL,) * 6,
    }
    assert statuses(emitted, "AWS::RDS::DBSnapshot", SNAPSHOT_CHECKS) == {
        "billing-private": (PASS, PASS),
        "legacy-public": (FAIL, FAIL),
    }
    assert statuses(emitted, "AWS::RDS::DBClusterSnapshot", CLUSTER_SNAPSHOT_CHECKS) == {
        "ledger-good-snap": (PASS, PASS),
        "ledger-bad-snap": (FAIL, FAIL),
    }
    groups = by_type(emitted, "AWS::RDS::DBParameterGroup")
    # Only stand-alone instances' groups are read; cluster members use the cluster parameter group.
    assert sorted(groups) == ["billing-tls", "default.mysql5.6"]
    assert status("rds_parameter_group_tls_enforced", groups["billing-tls"]) == PASS
    assert verdict("rds_parameter_group_tls_enforced", groups["default.mysql5.6"]) == (
        FAIL,
        "DB parameter group default.mysql5.6 (used by legacy-bad) does not set require_secure_transport, so mysql "
        "accepts unencrypted connections",
    )
    cluster_groups = by_type(emitted, "AWS::RDS::DBClusterParameterGroup")
    assert {n: status("rds_cluster_parameter_group_tls_enforced", g) for n, g in cluster_groups.items()} == {
        "aurora-tls": PASS,
        "aurora-open": FAIL,
    }
    instances = by_type(emitted, "AWS::RDS::DBInstance")
    assert {n: status("rds_instance_log_exports", i) for n, i in instances.items()} == {
        "billing-good": PASS,
        "legacy-bad": FAIL,
        # Cluster members: their logs are the cluster's business.
        "ledger-good-1": None,
        "ledger-good-2": None,
        "ledger-bad-1": None,
    }

    good = by_type(emitted, "AWS::RDS::DBCluster")["ledger-good"]
    assert good.arn == f"arn:aws:rds:{EAST}:{ACCOUNT}:cluster:ledger-good"
    assert good.tags == {"env": "prod"}
    assert good.configuration["member_availability_zones"] == [f"{EAST}a", f"{EAST}b"]
    assert good.configuration["parameter_group"] == "aurora-tls"
    bad = verdict("rds_cluster_multi_az", by_type(emitted, "AWS::RDS::DBCluster")["ledger-bad"])
    assert bad == (FAIL, f"RDS cluster ledger-bad has instances only in {EAST}a; at least 2 zones are required")
    logs = verdict("rds_cluster_log_exports", by_type(emitted, "AWS::RDS::DBCluster")["ledger-bad"])
    assert logs is not None
    assert "does not export postgresql logs" in logs[1]
    private = by_type(emitted, "AWS::RDS::DBSnapshot")["billing-private"]
    assert private.configuration["shared_with"] == ["210987654321"]
    assert groups["billing-tls"].configuration == {
        "name": "billing-tls",
        "engine": "postgres",
        "attached_instances": ["billing-good"],
        "family": "postgres16",
        "tls_parameters": {"rds.force_ssl": {"value": "1", "source": None}},
    }
    assert groups["billing-tls"].arn == f"arn:aws:rds:{EAST}:{ACCOUNT}:pg:billing-tls"


async def test_rds_denials_are_errors_or_failed_units(moto: MotoServer) -> None:
    seed_rds(moto)

    def intercept(service: str, operation: str, region: str, body: Any) -> tuple[int, dict[str, Any]] | None:
        if operation in ("DescribeDBSnapshotAttributes", "DescribeDBClusterParameters"):
            return denied(operation)
        if operation == "DescribeDBClusterSnapshots":
            return denied(operation)
        return None

    emitted, outcome = await collect(moto, ["rdsextra"], intercept)
    # The cluster snapshot listing is primary: the unit fails, yet what the other listings read is emitted.
    assert unit_status(outcome, "rdsextra", EAST) == UnitStatus.FAILED
    assert by_type(emitted, "AWS::RDS::DBClusterSnapshot") == {}
    for snapshot in by_type(emitted, "AWS::RDS::DBSnapshot").values():
        result = verdict("rds_snapshot_not_public", snapshot)
        assert result is not None
        assert result[0] == ERROR
        assert "AccessDenied on describe_db_snapshot_attributes" in result[1]
        assert status("rds_snapshot_encrypted", snapshot) in (PASS, FAIL)  # read from the listing itself
    for group in by_type(emitted, "AWS::RDS::DBClusterParameterGroup").values():
        assert status("rds_cluster_parameter_group_tls_enforced", group) == ERROR
    assert status("rds_cluster_storage_encrypted", by_type(emitted, "AWS::RDS::DBCluster")["ledger-good"]) == PASS

    # A denied instance listing leaves the clusters' member zones unreadable.
    emitted, outcome = await collect(
        moto, ["rdsextra"], lambda s, o, r, b: denied(o) if o == "DescribeDBInstances" else None
    )
    assert unit_status(outcome, "rdsextra", EAST) == UnitStatus.FAILED
    assert status("rds_cluster_multi_az", by_type(emitted, "AWS::RDS::DBCluster")["ledger-good"]) == ERROR
    assert by_type(emitted, "AWS::RDS::DBParameterGroup") == {}


# --- DynamoDB, OpenSearch, ElastiCache --------------------------------------------------------------


def seed_dynamodb_opensearch_elasticache(moto: MotoServer) -> str:
    key = str(moto.client("kms", EAST).create_key(Description="restricted data")["KeyMetadata"]["Arn"])
    ddb = moto.client("dynamodb", EAST)
    table: dict[str, Any] = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    ddb.create_table(
        TableName="customers",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
        DeletionProtectionEnabled=True,
        Tags=[{"Key": "data-classification", "Value": "restricted"}],
        **table,
    )
    ddb.update_continuous_backups(
        TableName="customers", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    # AWS owned key (no SSE specification), no PITR, no deletion protection; classified restricted too.
    ddb.create_table(TableName="scratch", Tags=[{"Key": "data-classification", "Value": "restricted"}], **table)

    search = moto.client("opensearch", EAST)
    search.create_domain(
        DomainName="search-good",
        EngineVersion="OpenSearch_2.11",
        NodeToNodeEncryptionOptions={"Enabled": True},
        EncryptionAtRestOptions={"Enabled": True},
        DomainEndpointOptions={"EnforceHTTPS": True, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10"},
        LogPublishingOptions={
            "AUDIT_LOGS": {
                "CloudWatchLogsLogGroupArn": f"arn:aws:logs:{EAST}:{ACCOUNT}:log-group:search-audit",
                "Enabled": True,
            }
        },
        AdvancedSecurityOptions={
            "Enabled": True,
            "InternalUserDatabaseEnabled": True,
            "MasterUserOptions": {"MasterUserName": "admin", "MasterUserPassword": "Correct-Horse-1"},
        },
        VPCOptions={"SubnetIds": ["subnet-0private"]},
        TagList=[{"Key": "team", "Value": "search"}],
    )
    search.create_domain(
        DomainName="search-bad",
        DomainEndpointOptions={"EnforceHTTPS": False, "TLSSecurityPolicy": "Policy-Min-TLS-1-0-2019-07"},
    )

    cache = moto.client("elasticache", EAST)
    cache.create_replication_group(
        ReplicationGroupId="sessions-good",
        ReplicationGroupDescription="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=2,
        AutomaticFailoverEnabled=True,
        MultiAZEnabled=True,
        AtRestEncryptionEnabled=True,
        TransitEncryptionEnabled=True,
        AuthToken="a-long-auth-token-1234",
        SnapshotRetentionLimit=5,
    )
    cache.create_replication_group(
        ReplicationGroupId="sessions-bad",
        ReplicationGroupDescription="cache",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=1,
    )
    return key


DYNAMODB_CHECKS = ("dynamodb_table_pitr_enabled", "dynamodb_table_encrypted_kms", "dynamodb_table_deletion_protection")
OPENSEARCH_CHECKS = (
    "opensearch_domain_node_to_node_encryption",
    "opensearch_domain_encrypted_at_rest",
    "opensearch_domain_https_required",
    "opensearch_domain_audit_logs",
    "opensearch_domain_in_vpc",
    "opensearch_domain_fine_grained_access",
)
ELASTICACHE_CHECKS = (
    "elasticache_replication_group_encrypted_at_rest",
    "elasticache_replication_group_encrypted_in_transit",
    "elasticache_replication_group_automatic_failover",
    "elasticache_replication_group_backups",
    "elasticache_replication_group_auth",
)


async def test_dynamodb_opensearch_elasticache(moto: MotoServer) -> None:
    key = seed_dynamodb_opensearch_elasticache(moto)
    emitted, outcome = await collect(moto, ["dynamodb", "opensearch", "elasticache"])
    for service in ("dynamodb", "opensearch", "elasticache"):
        for region in REGIONS:
            assert unit_status(outcome, service, region) == UnitStatus.COMPLETE, (service, region)

    assert statuses(emitted, "AWS::DynamoDB::Table", DYNAMODB_CHECKS) == {
        "customers": (PASS, PASS, PASS),
        "scratch": (FAIL, FAIL, FAIL),
    }
    assert statuses(emitted, "AWS::OpenSearchService::Domain", OPENSEARCH_CHECKS) == {
        "search-good": (PASS,) * 6,
        "search-bad": (FAIL,) * 6,
    }
    assert statuses(emitted, "AWS::ElastiCache::ReplicationGroup", ELASTICACHE_CHECKS) == {
        "sessions-good": (PASS,) * 5,
        "sessions-bad": (FAIL,) * 5,
    }

    customers = by_type(emitted, "AWS::DynamoDB::Table")["customers"]
    assert customers.tags == {"data-classification": "restricted"}
    assert customers.configuration["encryption"] == {
        "key_type": "KMS",
        "status": "ENABLED",
        "kms_key_arn": key,
        "key_manager": "CUSTOMER",
    }
    assert verdict("dynamodb_table_encrypted_kms", by_type(emitted, "AWS::DynamoDB::Table")["scratch"]) == (
        FAIL,
        "DynamoDB table scratch is encrypted only with the AWS owned key, not a KMS key in the account",
    )
    good_domain = by_type(emitted, "AWS::OpenSearchService::Domain")["search-good"]
    assert good_domain.arn == f"arn:aws:es:{EAST}:{ACCOUNT}:domain/search-good"
    assert good_domain.tags == {"team": "search"}
    https = verdict(
        "opensearch_domain_https_required", by_type(emitted, "AWS::OpenSearchService::Domain")["search-bad"]
    )
    assert https == (
        FAIL,
        "OpenSearch domain search-bad accepts plain HTTP (EnforceHTTPS is off) and its TLS policy "
        "Policy-Min-TLS-1-0-2019-07 accepts TLS 1.0, older than 1.2",
    )
    failover = verdict(
        "elasticache_replication_group_automatic_failover",
        by_type(emitted, "AWS::ElastiCache::ReplicationGroup")["sessions-bad"],
    )
    assert failover == (
        FAIL,
        "ElastiCache replication group sessions-bad: automatic failover is disabled and Multi-AZ is disabled",
    )


async def test_dynamodb_opensearch_elasticache_denials(moto: MotoServer) -> None:
    seed_dynamodb_opensearch_elasticache(moto)

    def intercept(service: str, operation: str, region: str, body: Any) -> tuple[int, dict[str, Any]] | None:
        if operation in ("DescribeContinuousBackups", "DescribeDomains"):
            return denied(operation, "AccessDeniedException")
        if operation == "DescribeReplicationGroups":
            return denied(operation)
        return None

    emitted, outcome = await collect(moto, ["dynamodb", "opensearch", "elasticache"], intercept)
    assert unit_status(outcome, "dynamodb", EAST) == UnitStatus.PARTIAL
    assert unit_status(outcome, "opensearch", EAST) == UnitStatus.PARTIAL
    assert unit_status(outcome, "elasticache", EAST) == UnitStatus.FAILED
    for table in by_type(emitted, "AWS::DynamoDB::Table").values():
        assert status("dynamodb_table_pitr_enabled", table) == ERROR
    domains = by_type(emitted, "AWS::OpenSearchService::Domain")
    assert sorted(domains) == ["search-bad", "search-good"]
    for domain in domains.values():
        assert {status(c, domain) for c in OPENSEARCH_CHECKS} == {ERROR}
    assert by_type(emitted, "AWS::ElastiCache::ReplicationGroup") == {}


# --- Redshift and EFS --------------------------------------------------------------------------------


def seed_redshift_efs(moto: MotoServer) -> dict[str, str]:
    redshift = moto.client("redshift", EAST)
    redshift.create_cluster_parameter_group(
        ParameterGroupName="secure-ssl", ParameterGroupFamily="redshift-1.0", Description="TLS only"
    )
    common: dict[str, Any] = {
        "NodeType": "ra3.xlplus",
        "MasterUsername": "admin",
        "MasterUserPassword": "Correct-Horse-1",
    }
    redshift.create_cluster(
        ClusterIdentifier="warehouse-good",
        Encrypted=True,
        PubliclyAccessible=False,
        AutomatedSnapshotRetentionPeriod=7,
        ClusterParameterGroupName="secure-ssl",
        Tags=[{"Key": "env", "Value": "prod"}],
        **common,
    )
    redshift.enable_logging(ClusterIdentifier="warehouse-good", BucketName="warehouse-audit-logs")
    redshift.create_cluster(
        ClusterIdentifier="warehouse-bad",
        Encrypted=False,
        PubliclyAccessible=True,
        AutomatedSnapshotRetentionPeriod=1,
        **common,
    )
    efs = moto.client("efs", EAST)
    good = efs.create_file_system(
        CreationToken="shared-good", Encrypted=True, Backup=True, Tags=[{"Key": "Name", "Value": "shared"}]
    )
    bad = efs.create_file_system(CreationToken="scratch-bad", Encrypted=False)
    return {"good": str(good["FileSystemId"]), "bad": str(bad["FileSystemId"])}


REQUIRE_SSL_TRUE = {
    "Parameters": [
        {
            "ParameterName": "require_ssl",
            "ParameterValue": "true",
            "Description": "require TLS",
            "Source": "user",
            "DataType": "boolean",
            "ApplyType": "static",
            "IsModifiable": True,
        }
    ]
}


def redshift_stub(service: str, operation: str, region: str, body: Any) -> tuple[int, dict[str, Any]] | None:
    if (
        operation == "DescribeClusterParameters"
        and isinstance(body, dict)
        and body.get("ParameterGroupName") == "secure-ssl"
    ):
        return validated("redshift", operation, REQUIRE_SSL_TRUE)
    return None


REDSHIFT_CHECKS = (
    "redshift_cluster_encrypted",
    "redshift_cluster_not_public",
    "redshift_cluster_audit_logging",
    "redshift_cluster_require_ssl",
    "redshift_cluster_snapshot_retention",
)


async def test_redshift_and_efs(moto: MotoServer) -> None:
    ids = seed_redshift_efs(moto)
    emitted, outcome = await collect(moto, ["redshift", "efs"], redshift_stub)
    for service in ("redshift", "efs"):
        for region in REGIONS:
            assert unit_status(outcome, service, region) == UnitStatus.COMPLETE, (service, region)

    clusters = by_type(emitted, "AWS::Redshift::Cluster")
    assert statuses(emitted, "AWS::Redshift::Cluster", REDSHIFT_CHECKS) == {
        "warehouse-good": (PASS,) * 5,
        # moto keeps at least one day of snapshots: see the parameterised case below.
        "warehouse-bad": (FAIL, FAIL, FAIL, FAIL, PASS),
    }
    assert verdict("redshift_cluster_snapshot_retention", clusters["warehouse-bad"], min_retention_days=7) == (
        FAIL,
        "Redshift cluster warehouse-bad keeps automated snapshots for 1 day(s), fewer than the required 7",
    )
    assert status("redshift_cluster_snapshot_retention", clusters["warehouse-good"], min_retention_days=7) == PASS
    assert verdict("redshift_cluster_require_ssl", clusters["warehouse-bad"]) == (
        FAIL,
        "Redshift cluster warehouse-bad accepts unencrypted connections (require_ssl=false in default.redshift-1.0)",
    )
    good = clusters["warehouse-good"]
    assert good.arn == f"arn:aws:redshift:{EAST}:{ACCOUNT}:cluster:warehouse-good"
    assert good.tags == {"env": "prod"}
    assert good.configuration["audit_logging"]["bucket"] == "warehouse-audit-logs"

    systems = by_type(emitted, "AWS::EFS::FileSystem")
    assert {
        n: (status("efs_file_system_encrypted", f), status("efs_file_system_backup_policy", f))
        for n, f in systems.items()
    } == {
        ids["good"]: (PASS, PASS),
        ids["bad"]: (FAIL, FAIL),
    }
    assert systems[ids["bad"]].configuration["backup_policy"] == "DISABLED"
    assert systems[ids["good"]].tags == {"Name": "shared"}


async def test_redshift_and_efs_denials(moto: MotoServer) -> None:
    ids = seed_redshift_efs(moto)

    def intercept(service: str, operation: str, region: str, body: Any) -> tuple[int, dict[str, Any]] | None:
        if operation in ("DescribeLoggingStatus", "DescribeClusterParameters"):
            return denied(operation)
        if operation == "DescribeBackupPolicy":
            return denied(operation, "AccessDeniedException")
        return None

    emitted, outcome = await collect(moto, ["redshift", "efs"], intercept)
    assert unit_status(outcome, "redshift", EAST) == UnitStatus.PARTIAL
    assert unit_status(outcome, "efs", EAST) == UnitStatus.PARTIAL
    for cluster in by_type(emitted, "AWS::Redshift::Cluster").values():
        assert status("redshift_cluster_audit_logging", cluster) == ERROR
        assert status("redshift_cluster_require_ssl", cluster) == ERROR
    for fs in by_type(emitted, "AWS::EFS::FileSystem").values():
        assert status("efs_file_system_backup_policy", fs) == ERROR
    assert status("efs_file_system_encrypted", by_type(emitted, "AWS::EFS::FileSystem")[ids["good"]]) == PASS

    emitted, outcome = await collect(
        moto,
        ["redshift", "efs"],
        lambda s, o, r, b: denied(o) if o in ("DescribeClusters", "DescribeFileSystems") else None,
    )
    for service in ("redshift", "efs"):
        assert unit_status(outcome, service, EAST) == UnitStatus.FAILED
    assert by_type(emitted, "AWS::Redshift::Cluster") == {}
    assert by_type(emitted, "AWS::EFS::FileSystem") == {}


# --- AWS Backup --------------------------------------------------------------------------------------


def seed_backup(moto: MotoServer) -> dict[str, str]:
    key = str(moto.client("kms", EAST).create_key(Description="backups")["KeyMetadata"]["Arn"])
    backup = moto.client("backup", EAST)
    backup.create_backup_vault(BackupVaultName="primary", EncryptionKeyArn=key)
    backup.put_backup_vault_lock_configuration(BackupVaultName="primary", MinRetentionDays=7, MaxRetentionDays=365)
    backup.create_backup_vault(BackupVaultName="loose")
    backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "daily",
            "Rules": [
                {
                    "RuleName": "daily",
                    "TargetBackupVaultName": "primary",
                    "ScheduleExpression": "cron(0 5 * * ? *)",
                    "Lifecycle": {"DeleteAfterDays": 35},
                    "CopyActions": [
                        {
                            "DestinationBackupVaultArn": f"arn:aws:backup:{WEST}:{ACCOUNT}:backup-vault:dr",
                            "Lifecycle": {"DeleteAfterDays": 35},
                        }
                    ],
                }
            ],
        }
    )
    backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "forever",
            "Rules": [
                {"RuleName": "monthly", "TargetBackupVaultName": "loose", "ScheduleExpression": "cron(0 5 1 * ? *)"}
            ],
        }
    )
    table: dict[str, Any] = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    moto.client("dynamodb", EAST).create_table(TableName="orders", **table)
    # West holds a table and no plan at all.
    moto.client("dynamodb", WEST).create_table(TableName="orders-replica", **table)
    fs = moto.client("efs", EAST).create_file_system(CreationToken="shared", Tags=[{"Key": "Name", "Value": "shared"}])
    moto.client("rds", EAST).create_db_instance(
        DBInstanceIdentifier="billing",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="correct-horse-battery",
    )
    return {
        "key": key,
        "table": f"arn:aws:dynamodb:{EAST}:{ACCOUNT}:table/orders",
        "fs": str(fs["FileSystemArn"]),
    }


def backup_stub(protected_arns: list[str]) -> Intercept:
    def intercept(service: str, operation: str, region: str, body: Any) -> tuple[int, dict[str, Any]] | None:
        if operation == "ListProtectedResources":
            return protected(region, protected_arns)
        return None

    return intercept


async def test_backup_plans_vaults_and_coverage(moto: MotoServer) -> None:
    ids = seed_backup(moto)
    emitted, outcome = await collect(moto, ["backup"], backup_stub([ids["table"]]))
    for region in REGIONS:
        assert unit_status(outcome, "backup", region) == UnitStatus.COMPLETE, region

    vaults = by_type(emitted, "AWS::Backup::BackupVault")
    assert {
        n: (status("backup_vault_encrypted_kms", v), status("backup_vault_lock", v)) for n, v in vaults.items()
    } == {
        "primary": (PASS, PASS),
        "loose": (FAIL, FAIL),
    }
    assert status("backup_vault_encrypted_kms", vaults["primary"], require_customer_managed_key=True) == PASS
    assert vaults["primary"].configuration["key_manager"] == "CUSTOMER"
    plans = by_type(emitted, "AWS::Backup::BackupPlan")
    assert {n: status("backup_plan_retention_defined", p) for n, p in plans.items()} == {"daily": PASS, "forever": FAIL}
    assert verdict("backup_plan_retention_defined", plans["forever"]) == (
        FAIL,
        "Backup plan forever: rule monthly never expires",
    )

    ctx = contexts(emitted)
    east, west = ctx[EAST], ctx[WEST]
    assert status("backup_plan_exists", east) == PASS
    assert verdict("backup_cross_region_copy", east) == (
        PASS,
        f"{EAST} copies backups to another region: daily/daily -> {WEST}",
    )
    coverage = verdict("backup_data_stores_covered", east)
    assert coverage == (
        FAIL,
        f"2 of 3 data store(s) in {EAST} have no AWS Backup recovery point: EFS file system shared, "
        "RDS instance billing",
    )
    assert verdict("backup_plan_exists", west) == (FAIL, f"{WEST} holds 1 data store(s) but has no backup plan")
    assert status("backup_cross_region_copy", west) == FAIL
    assert status("backup_data_stores_covered", west) == FAIL
    for check_id in ("backup_plan_exists", "backup_cross_region_copy", "backup_data_stores_covered"):
        assert status(check_id, ctx["global"]) is None

    # Once every east store has a recovery point, the coverage check passes there.
    emitted, _ = await collect(
        moto,
        ["backup"],
        backup_stub([ids["table"], ids["fs"], f"arn:aws:rds:{EAST}:{ACCOUNT}:db:billing"]),
    )
    assert verdict("backup_data_stores_covered", contexts(emitted)[EAST]) == (
        PASS,
        f"All 3 data store(s) in {EAST} have an AWS Backup recovery point",
    )


async def test_backup_denials_are_errors(moto: MotoServer) -> None:
    seed_backup(moto)

    def intercept(service: str, operation: str, region: str, body: Any) -> tuple[int, dict[str, Any]] | None:
        if operation in ("ListProtectedResources", "GetBackupPlan"):
            return denied(operation, "AccessDeniedException")
        if operation == "DescribeDBClusters":
            return denied(operation)
        return None

    emitted, outcome = await collect(moto, ["backup"], intercept)
    assert unit_status(outcome, "backup", EAST) == UnitStatus.PARTIAL
    east = contexts(emitted)[EAST]
    assert set(east.configuration["_errors"]) == {"backup_data_stores", "backup_protected_resources"}
    for check_id in ("backup_plan_exists", "backup_cross_region_copy", "backup_data_stores_covered"):
        assert status(check_id, east) == ERROR, check_id
    for plan in by_type(emitted, "AWS::Backup::BackupPlan").values():
        assert status("backup_plan_retention_defined", plan) == ERROR

    emitted, outcome = await collect(
        moto, ["backup"], lambda s, o, r, b: denied(o, "AccessDeniedException") if o == "ListBackupVaults" else None
    )
    assert unit_status(outcome, "backup", EAST) == UnitStatus.FAILED
    assert by_type(emitted, "AWS::Backup::BackupVault") == {}


# --- KMS and Secrets Manager -------------------------------------------------------------------------


def seed_kms_secrets(moto: MotoServer) -> dict[str, str]:
    kms = moto.client("kms", EAST)
    good = str(kms.create_key(Description="application data")["KeyMetadata"]["KeyId"])
    kms.enable_key_rotation(KeyId=good)
    kms.create_alias(AliasName="alias/app-data", TargetKeyId=good)
    open_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Owner",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {"Sid": "Everyone", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"},
        ],
    }
    bad = str(kms.create_key(Description="shared", Policy=json.dumps(open_policy))["KeyMetadata"]["KeyId"])
    doomed = str(kms.create_key(Description="old")["KeyMetadata"]["KeyId"])
    kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)

    secrets = moto.client("secretsmanager", EAST)
    secrets.create_secret(Name="db/password", SecretString="s3cret", KmsKeyId=good)
    secrets.rotate_secret(SecretId="db/password", RotationRules={"AutomaticallyAfterDays": 30})
    secrets.create_secret(Name="legacy/token", SecretString="t0ken")
    return {"good": good, "bad": bad, "doomed": doomed}


async def test_kms_keys_and_secrets(moto: MotoServer) -> None:
    ids = seed_kms_secrets(moto)
    emitted, outcome = await collect(moto, ["kms", "secretsmanager"])
    for service in ("kms", "secretsmanager"):
        for region in REGIONS:
            assert unit_status(outcome, service, region) == UnitStatus.COMPLETE, (service, region)

    keys = by_type(emitted, "AWS::KMS::Key")
    key_checks = ("kms_key_rotation_enabled", "kms_key_policy_no_public_principal", "kms_key_not_pending_deletion")
    assert {n: tuple(status(c, k) for c in key_checks) for n, k in keys.items()} == {
        ids["good"]: (PASS, PASS, PASS),
        ids["bad"]: (FAIL, FAIL, PASS),
        # A key on its way out is not judged on rotation.
        ids["doomed"]: (None, PASS, FAIL),
    }
    assert keys[ids["good"]].configuration["aliases"] == ["alias/app-data"]
    assert verdict("kms_key_policy_no_public_principal", keys[ids["bad"]]) == (
        FAIL,
        f"The policy of KMS key {ids['bad']} allows any principal without a condition in: Everyone (kms:Decrypt)",
    )

    secrets = by_type(emitted, "AWS::SecretsManager::Secret")
    good, bad = secrets["db/password"], secrets["legacy/token"]
    for check_id in ("secretsmanager_secret_rotation_enabled", "secretsmanager_secret_customer_kms_key"):
        assert (status(check_id, good), status(check_id, bad)) == (PASS, FAIL), check_id
    assert good.configuration["key_manager"] == "CUSTOMER"
    # Both secrets are new, so the age rule is shown failing by evaluating the never-rotated one as it will
    # stand 120 days from now.
    assert status("secretsmanager_secret_rotated_recently", good) == PASS
    later = (datetime.now(UTC) + timedelta(days=120)).isoformat()
    stale = verdict("secretsmanager_secret_rotated_recently", bad, now=later)
    assert stale is not None
    assert stale[0] == FAIL
    assert "has never been rotated" in stale[1]


async def test_kms_and_secrets_denials(moto: MotoServer) -> None:
    ids = seed_kms_secrets(moto)

    def intercept(service: str, operation: str, region: str, body: Any) -> tuple[int, dict[str, Any]] | None:
        if service == "kms" and operation in ("GetKeyPolicy", "GetKeyRotationStatus"):
            return denied(operation, "AccessDeniedException")
        if operation == "ListSecrets":
            return denied(operation, "AccessDeniedException")
        return None

    emitted, outcome = await collect(moto, ["kms", "secretsmanager"], intercept)
    assert unit_status(outcome, "kms", EAST) == UnitStatus.PARTIAL
    assert unit_status(outcome, "secretsmanager", EAST) == UnitStatus.FAILED
    keys = by_type(emitted, "AWS::KMS::Key")
    assert status("kms_key_policy_no_public_principal", keys[ids["good"]]) == ERROR
    assert status("kms_key_rotation_enabled", keys[ids["good"]]) == ERROR
    assert by_type(emitted, "AWS::SecretsManager::Secret") == {}

    # A key that cannot be described is still emitted, with every check ERROR.
    emitted, outcome = await collect(
        moto, ["kms"], lambda s, o, r, b: denied(o, "AccessDeniedException") if o == "DescribeKey" else None
    )
    assert unit_status(outcome, "kms", EAST) == UnitStatus.PARTIAL
    keys = by_type(emitted, "AWS::KMS::Key")
    assert len(keys) == 3
    for key in keys.values():
        assert {
            status(c, key)
            for c in ("kms_key_rotation_enabled", "kms_key_policy_no_public_principal", "kms_key_not_pending_deletion")
        } == {ERROR}
