"""Golden test: moto seeded with good and bad EC2 and RDS resources, the real collectors, the real checks.

Every check is shown PASS on a good resource and FAIL on a bad one, and the status of every check on
every resource the collectors emit is asserted exactly (moto's own default VPCs and groups included).

What moto lacks, and how this module makes up for it:

- ``GetEbsDefaultKmsKeyId`` is not implemented (moto answers an HTML 500 page). The main test answers
  it with a session ``before-call`` handler whose response is validated against botocore's EC2 model
  first, as botocore's Stubber does; a separate test keeps moto's answer and shows the unit turns
  PARTIAL while the setting itself is still evaluated.
- moto's default security group has only the outbound "all traffic" rule; real AWS also adds an
  inbound rule from the group itself. Either way the group fails ``ec2_default_sg_restricts_all``.
- Faults (access denied) are injected the same way, with ``before-call`` handlers answering an AWS
  error, which aiobotocore turns into the ``ClientError`` a real denial raises.
"""

from __future__ import annotations

from typing import Any

from golden_support import (
    ACCOUNT,
    Emitted,
    Handler,
    by_type,
    collector,
    contexts,
    fixed,
    judged,
    model_checked,
    refusal,
    status,
    unit_status,
    verdict,
    with_metadata,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_testkit.moto import MotoServer

EAST = "us-east-1"
WEST = "eu-west-1"
REGIONS = [EAST, WEST]
DEFAULT_EBS_KEY = f"arn:aws:kms:{EAST}:{ACCOUNT}:key/0b5e7f00-aaaa-4bbb-8ccc-123456789abc"
FLOW_LOG_BUCKET = "guardian-golden-flow-logs"

VOLUME = "AWS::EC2::Volume"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
VPC = "AWS::EC2::VPC"
DB_INSTANCE = "AWS::RDS::DBInstance"

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

load_all()


collect = collector(regions=REGIONS, max_attempts=2)
"""The real collectors against moto; ``handlers`` answer chosen operations instead of moto."""


# --- answering operations moto lacks, and injecting faults ---------------------------------


def model_validated(operation: str, response: dict[str, Any]) -> Handler:
    """A ``before-call`` handler answering ``operation`` with ``response``, checked against the model."""
    return fixed((200, with_metadata(model_checked("ec2", operation, response))))


def denied(code: str = "UnauthorizedOperation") -> Handler:
    return fixed(refusal(code, "You are not authorized to perform this operation.", metadata=True))


def crash(**_: Any) -> None:
    """A ``before-call`` handler that fails the way a collector bug would (not an AWS error)."""
    raise RuntimeError("connection reset while reading the answer")


KMS_KEY_STUB = {
    "before-call.ec2.GetEbsDefaultKmsKeyId": model_validated("GetEbsDefaultKmsKeyId", {"KmsKeyId": DEFAULT_EBS_KEY})
}


# --- seeding -------------------------------------------------------------------------------


def default_group_of(ec2: Any, vpc_id: str) -> str:
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    return str(groups[0]["GroupId"])


def default_vpc_of(ec2: Any) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    return str(vpcs[0]["VpcId"])


def seed(moto: MotoServer) -> dict[str, str]:
    """Good and bad resources; returns their ids by role."""
    ids: dict[str, str] = {}
    ec2 = moto.client("ec2", EAST)
    ec2.enable_ebs_encryption_by_default()
    ids["vol_encrypted"] = ec2.create_volume(AvailabilityZone=f"{EAST}a", Size=8, Encrypted=True, VolumeType="gp3")[
        "VolumeId"
    ]
    # moto does not apply encryption by default to new volumes, so this one stays unencrypted.
    ids["vol_plain"] = ec2.create_volume(
        AvailabilityZone=f"{EAST}b",
        Size=20,
        Encrypted=False,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "data"}]}],
    )["VolumeId"]

    ids["vpc_logged"] = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ids["vpc_unlogged"] = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    ids["vpc_accept_only"] = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    moto.client("s3", EAST).create_bucket(Bucket=FLOW_LOG_BUCKET)
    for vpc_key, traffic in (("vpc_logged", "ALL"), ("vpc_accept_only", "ACCEPT")):
        ec2.create_flow_logs(
            ResourceIds=[ids[vpc_key]],
            ResourceType="VPC",
            TrafficType=traffic,
            LogDestinationType="s3",
            LogDestination=f"arn:aws:s3:::{FLOW_LOG_BUCKET}",
        )

    vpc = ids["vpc_logged"]
    ids["sg_open"] = ec2.create_security_group(GroupName="open", Description="too open", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=ids["sg_open"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
        ],
    )
    ids["sg_tight"] = ec2.create_security_group(GroupName="tight", Description="least access", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=ids["sg_tight"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": ids["sg_open"]}],
            },
        ],
    )
    ids["sg_everything"] = ec2.create_security_group(GroupName="everything", Description="all traffic", VpcId=vpc)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=ids["sg_everything"],
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )

    # The logged VPC's default group is emptied (good); the other default groups keep their rules.
    ids["sg_default_clean"] = default_group_of(ec2, vpc)
    ec2.revoke_security_group_egress(
        GroupId=ids["sg_default_clean"],
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    ids["sg_default_unlogged"] = default_group_of(ec2, ids["vpc_unlogged"])
    ids["sg_default_accept_only"] = default_group_of(ec2, ids["vpc_accept_only"])
    ids["vpc_default_east"] = default_vpc_of(ec2)
    ids["sg_default_east"] = default_group_of(ec2, ids["vpc_default_east"])

    west = moto.client("ec2", WEST)
    west.disable_ebs_encryption_by_default()
    ids["vpc_default_west"] = default_vpc_of(west)
    ids["sg_default_west"] = default_group_of(west, ids["vpc_default_west"])

    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=f"{EAST}{zone}")["Subnet"]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    rds = moto.client("rds", EAST)
    rds.create_db_subnet_group(
        DBSubnetGroupName="private", DBSubnetGroupDescription="private subnets", SubnetIds=subnets
    )
    common: dict[str, Any] = {"DBInstanceClass": "db.t3.micro", "MasterUsername": "admin", "AllocatedStorage": 20}
    rds.create_db_instance(
        DBInstanceIdentifier="orders-good",
        Engine="postgres",
        MasterUserPassword="correct-horse-battery",
        StorageEncrypted=True,
        PubliclyAccessible=False,
        MultiAZ=True,
        BackupRetentionPeriod=7,
        DeletionProtection=True,
        AutoMinorVersionUpgrade=True,
        DBSubnetGroupName="private",
        VpcSecurityGroupIds=[ids["sg_tight"]],
        Tags=[{"Key": "env", "Value": "prod"}],
        **common,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="legacy-bad",
        Engine="mysql",
        MasterUserPassword="password-password",
        StorageEncrypted=False,
        PubliclyAccessible=True,
        MultiAZ=False,
        BackupRetentionPeriod=0,
        DeletionProtection=False,
        AutoMinorVersionUpgrade=False,
        **common,
    )
    return ids


# --- the golden expectations ---------------------------------------------------------------

SG_CHECKS = (
    "ec2_sg_no_open_admin_ports",
    "ec2_sg_no_open_database_ports",
    "ec2_sg_no_open_all_traffic",
    "ec2_default_sg_restricts_all",
)
RDS_CHECKS = (
    "rds_instance_storage_encrypted",
    "rds_instance_not_public",
    "rds_instance_multi_az",
    "rds_instance_backups_enabled",
    "rds_instance_deletion_protection",
    "rds_instance_minor_version_upgrade",
)


def expected_statuses(ids: dict[str, str]) -> dict[tuple[str, str], Status | None]:
    """(resource name, check id) -> status, for every check on every EC2 and RDS resource."""
    expected: dict[tuple[str, str], Status | None] = {
        (ids["vol_encrypted"], "ec2_ebs_volume_encrypted"): PASS,
        (ids["vol_plain"], "ec2_ebs_volume_encrypted"): FAIL,
        (ids["vpc_logged"], "ec2_vpc_flow_logs_enabled"): PASS,
        (ids["vpc_unlogged"], "ec2_vpc_flow_logs_enabled"): FAIL,
        (ids["vpc_accept_only"], "ec2_vpc_flow_logs_enabled"): FAIL,
        (ids["vpc_default_east"], "ec2_vpc_flow_logs_enabled"): FAIL,
        (ids["vpc_default_west"], "ec2_vpc_flow_logs_enabled"): FAIL,
    }
    groups: dict[str, tuple[Status | None, ...]] = {
        # admin ports, database ports, all traffic, default group restricts all
        "sg_open": (FAIL, FAIL, PASS, None),
        "sg_tight": (PASS, PASS, PASS, None),
        "sg_everything": (FAIL, FAIL, FAIL, None),
        "sg_default_clean": (PASS, PASS, PASS, PASS),
        "sg_default_unlogged": (PASS, PASS, PASS, FAIL),
        "sg_default_accept_only": (PASS, PASS, PASS, FAIL),
        "sg_default_east": (PASS, PASS, PASS, FAIL),
        "sg_default_west": (PASS, PASS, PASS, FAIL),
    }
    for role, statuses in groups.items():
        expected.update({(ids[role], c): s for c, s in zip(SG_CHECKS, statuses, strict=True)})
    expected.update({("orders-good", c): PASS for c in RDS_CHECKS})
    expected.update({("legacy-bad", c): FAIL for c in RDS_CHECKS})
    return expected


def actual_statuses(emitted: Emitted) -> dict[tuple[str, str], Status | None]:
    """Every verdict of the ec2 and rds check modules; other modules judging the same types have their own tests."""
    return judged(
        emitted, (VOLUME, SECURITY_GROUP, VPC, DB_INSTANCE), include=lambda chk: chk.fn.__module__ in OWN_MODULES
    )


OWN_MODULES = {"guardian_evaluator.checks.ec2", "guardian_evaluator.checks.rds"}


# --- tests ---------------------------------------------------------------------------------


async def test_every_check_on_every_resource(moto: MotoServer) -> None:
    ids = seed(moto)
    emitted, outcome = await collect(moto, ["ec2", "rds"], KMS_KEY_STUB)

    for service in ("ec2", "rds"):
        for region in REGIONS:
            assert unit_status(outcome, service, region) == UnitStatus.COMPLETE, (service, region)
    assert actual_statuses(emitted) == expected_statuses(ids)

    ctx = contexts(emitted)
    assert status("ec2_ebs_default_encryption", ctx["global"]) is None
    assert verdict("ec2_ebs_default_encryption", ctx[EAST]) == (
        PASS,
        f"EBS encryption by default is enabled in {EAST} with KMS key {DEFAULT_EBS_KEY}",
    )
    assert verdict("ec2_ebs_default_encryption", ctx[WEST]) == (
        FAIL,
        f"EBS encryption by default is disabled in {WEST}",
    )
    assert ctx[EAST].configuration["ebs_default_encryption"] == {"enabled": True, "kms_key_id": DEFAULT_EBS_KEY}
    assert ctx[WEST].configuration["ebs_default_encryption"] == {"enabled": False, "kms_key_id": None}
    assert "_errors" not in ctx[EAST].configuration


async def test_reasons_name_the_failing_settings(moto: MotoServer) -> None:
    ids = seed(moto)
    emitted, _ = await collect(moto, ["ec2", "rds"], KMS_KEY_STUB)
    groups = by_type(emitted, SECURITY_GROUP)
    vpcs = by_type(emitted, VPC)
    dbs = by_type(emitted, DB_INSTANCE)

    admin = verdict("ec2_sg_no_open_admin_ports", groups[ids["sg_open"]])
    assert admin is not None
    assert "port 22 (SSH) is open to 0.0.0.0/0" in admin[1]
    database = verdict("ec2_sg_no_open_database_ports", groups[ids["sg_open"]])
    assert database is not None
    assert "port 5432 (PostgreSQL) is open to 0.0.0.0/0" in database[1]
    assert "port 5432 (PostgreSQL) is open to ::/0" in database[1]
    everything = verdict("ec2_sg_no_open_all_traffic", groups[ids["sg_everything"]])
    assert everything is not None
    assert "all traffic from 0.0.0.0/0" in everything[1]
    default = verdict("ec2_default_sg_restricts_all", groups[ids["sg_default_unlogged"]])
    assert default is not None
    assert "outbound rule(s): all traffic to 0.0.0.0/0" in default[1]
    accept_only = verdict("ec2_vpc_flow_logs_enabled", vpcs[ids["vpc_accept_only"]])
    assert accept_only is not None
    assert "captures ACCEPT traffic, not ALL or REJECT" in accept_only[1]
    assert verdict("ec2_vpc_flow_logs_enabled", vpcs[ids["vpc_unlogged"]]) == (
        FAIL,
        f"VPC {ids['vpc_unlogged']} has no flow logs",
    )
    assert verdict("rds_instance_backups_enabled", dbs["legacy-bad"]) == (
        FAIL,
        "RDS instance legacy-bad has automated backups disabled (retention period 0 days)",
    )


async def test_configuration_shapes(moto: MotoServer) -> None:
    ids = seed(moto)
    emitted, _ = await collect(moto, ["ec2", "rds"], KMS_KEY_STUB)

    volume = by_type(emitted, VOLUME)[ids["vol_plain"]]
    assert volume.arn == f"arn:aws:ec2:{EAST}:{ACCOUNT}:volume/{ids['vol_plain']}"
    assert volume.tags == {"team": "data"}
    assert volume.configuration == {
        "volume_id": ids["vol_plain"],
        "encrypted": False,
        "kms_key_id": None,
        "size": 20,
        "state": "available",
        "volume_type": "gp2",
        "availability_zone": f"{EAST}b",
        "attachments": [],
    }

    group = by_type(emitted, SECURITY_GROUP)[ids["sg_open"]]
    assert group.arn == f"arn:aws:ec2:{EAST}:{ACCOUNT}:security-group/{ids['sg_open']}"
    assert group.configuration == {
        "group_id": ids["sg_open"],
        "group_name": "open",
        "description": "too open",
        "vpc_id": ids["vpc_logged"],
        "is_default": False,
        "ingress": [
            {
                "protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
                "ipv4_ranges": ["0.0.0.0/0"],
                "ipv6_ranges": [],
                "prefix_lists": [],
                "source_groups": [],
            },
            {
                "protocol": "tcp",
                "from_port": 5432,
                "to_port": 5432,
                "ipv4_ranges": ["0.0.0.0/0"],
                "ipv6_ranges": ["::/0"],
                "prefix_lists": [],
                "source_groups": [],
            },
        ],
        "egress": [
            {
                "protocol": "-1",
                "from_port": None,
                "to_port": None,
                "ipv4_ranges": ["0.0.0.0/0"],
                "ipv6_ranges": [],
                "prefix_lists": [],
                "source_groups": [],
            }
        ],
    }
    tight = by_type(emitted, SECURITY_GROUP)[ids["sg_tight"]].configuration
    assert tight["ingress"][2]["source_groups"] == [ids["sg_open"]]
    assert by_type(emitted, SECURITY_GROUP)[ids["sg_default_clean"]].configuration["is_default"] is True

    vpc = by_type(emitted, VPC)[ids["vpc_logged"]]
    assert vpc.arn == f"arn:aws:ec2:{EAST}:{ACCOUNT}:vpc/{ids['vpc_logged']}"
    [flow_log] = vpc.configuration["flow_logs"]
    assert set(flow_log) == {"id", "status", "traffic_type", "destination_type"}
    assert (flow_log["status"], flow_log["traffic_type"], flow_log["destination_type"]) == ("ACTIVE", "ALL", "s3")
    assert vpc.configuration["cidr"] == "10.1.0.0/16"
    assert vpc.configuration["is_default"] is False
    assert by_type(emitted, VPC)[ids["vpc_default_west"]].region == WEST

    good = by_type(emitted, DB_INSTANCE)["orders-good"]
    assert good.arn == f"arn:aws:rds:{EAST}:{ACCOUNT}:db:orders-good"
    assert good.tags == {"env": "prod"}
    config = dict(good.configuration)
    assert config.pop("engine_version")
    assert config.pop("kms_key_id")
    assert config.pop("ca_certificate_identifier")
    assert config == {
        "identifier": "orders-good",
        "engine": "postgres",
        "instance_class": "db.t3.micro",
        "status": "available",
        "db_cluster_identifier": None,
        "storage_encrypted": True,
        "publicly_accessible": False,
        "multi_az": True,
        "backup_retention_period": 7,
        "deletion_protection": True,
        "auto_minor_version_upgrade": True,
        "enabled_cloudwatch_logs_exports": [],
        "vpc_id": ids["vpc_logged"],
        "iam_database_authentication": False,
    }


async def test_moto_without_the_kms_key_api_leaves_the_setting_readable(moto: MotoServer) -> None:
    # No stub: moto answers GetEbsDefaultKmsKeyId with an HTML 500 page.
    seed(moto)
    emitted, outcome = await collect(moto, ["ec2"])

    # The key is supplementary (no check needs it yet): its failure stays with the field, not the unit.
    assert unit_status(outcome, "ec2", EAST) == UnitStatus.COMPLETE
    assert unit_status(outcome, "ec2", WEST) == UnitStatus.COMPLETE
    east = contexts(emitted)[EAST]
    assert east.configuration["ebs_default_encryption"] == {"enabled": True, "kms_key_id": None}
    assert set(east.configuration["_errors"]) == {"ebs_default_kms_key_id"}
    assert verdict("ec2_ebs_default_encryption", east) == (PASS, f"EBS encryption by default is enabled in {EAST}")


async def test_unreadable_flow_logs_and_ebs_default_are_errors(moto: MotoServer) -> None:
    ids = seed(moto)
    emitted, outcome = await collect(
        moto,
        ["ec2"],
        {
            "before-call.ec2.DescribeFlowLogs": denied(),
            "before-call.ec2.GetEbsEncryptionByDefault": denied(),
        },
    )

    for region in REGIONS:
        assert unit_status(outcome, "ec2", region) == UnitStatus.PARTIAL
    vpcs = by_type(emitted, VPC)
    assert len(vpcs) == 5
    for vpc in vpcs.values():
        assert vpc.configuration["flow_logs"] is None
        assert vpc.configuration["_errors"]["flow_logs"].startswith("UnauthorizedOperation on describe_flow_logs")
        result = verdict("ec2_vpc_flow_logs_enabled", vpc)
        assert result is not None
        assert result[0] == ERROR
    for region in REGIONS:
        ctx = contexts(emitted)[region]
        assert "UnauthorizedOperation" in ctx.configuration["_errors"]["ebs_default_encryption"]
        assert status("ec2_ebs_default_encryption", ctx) == ERROR
    # Resources read by the other calls are unaffected.
    assert status("ec2_ebs_volume_encrypted", by_type(emitted, VOLUME)[ids["vol_encrypted"]]) == PASS


async def test_failed_volume_listing_fails_the_unit_but_keeps_the_rest(moto: MotoServer) -> None:
    ids = seed(moto)
    emitted, outcome = await collect(moto, ["ec2"], {**KMS_KEY_STUB, "before-call.ec2.DescribeVolumes": denied()})

    for region in REGIONS:
        assert unit_status(outcome, "ec2", region) == UnitStatus.FAILED
    assert by_type(emitted, VOLUME) == {}
    assert ids["sg_open"] in by_type(emitted, SECURITY_GROUP)
    assert ids["vpc_logged"] in by_type(emitted, VPC)
    # The regional setting was read before the unit failed, so its verdict still stands.
    assert status("ec2_ebs_default_encryption", contexts(emitted)[EAST]) == PASS


async def test_failed_instance_listing_fails_the_rds_unit(moto: MotoServer) -> None:
    seed(moto)
    emitted, outcome = await collect(moto, ["rds"], {"before-call.rds.DescribeDBInstances": denied("AccessDenied")})

    for region in REGIONS:
        assert unit_status(outcome, "rds", region) == UnitStatus.FAILED
        [unit] = [u for u in outcome.units if u.service == "rds" and u.region == region]
        assert unit.first_error is not None
        assert unit.first_error.startswith("AccessDenied on describe_db_instances")
    assert by_type(emitted, DB_INSTANCE) == {}


async def test_ec2_not_collected_leaves_the_ebs_setting_unreadable(moto: MotoServer) -> None:
    # The account context of a scan whose ec2 unit crashed before reading the setting.
    seed(moto)
    emitted, outcome = await collect(moto, ["ec2"], {"before-call.ec2.GetEbsEncryptionByDefault": crash})

    assert unit_status(outcome, "ec2", EAST) == UnitStatus.FAILED
    ctx = contexts(emitted)[EAST]
    assert ctx.configuration["_errors"]["ebs_default_encryption"].startswith("NotCollected")
    assert status("ec2_ebs_default_encryption", ctx) == ERROR
