"""The bundled demo AWS environment: Larkspur Health, a small fictional SaaS, seeded into moto.

Larkspur Health sells appointment scheduling and patient intake software to outpatient clinics.
Its AWS account (moto's ``123456789012``) is half-way through a SOC 2 programme: the production
workload has been built carefully, while older and quicker corners still carry the classic gaps an
auditor finds. :func:`seed` creates that account through the public AWS APIs of a running moto
server and returns a :class:`DemoManifest` naming everything it created, the deliberate
misconfigurations, and the verdict each check should reach on each resource.

Regions: ``regions[0]`` is the headquarters region (the production workload, the organisation
trail, IAM); ``regions[1]``, when given, is the European region where an acquired analytics team
left its legacy database and trail. Further regions are left as moto creates them (a default VPC
each), so they appear in a scan without anything seeded in them.

What moto cannot represent, and therefore cannot fail here: access keys and passwords are always
created "now" in moto (there is no API to back-date them), so ``iam_user_access_key_rotated`` and
``iam_user_unused_credentials`` only PASS; moto's root user never has MFA or access keys that an
API could change, so ``iam_root_mfa`` and ``iam_root_no_access_keys`` show moto's fixed state.
Account-level checks have one resource per account (or per region) and show one realistic state.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple

import boto3
from botocore.config import Config

COMPANY = "Larkspur Health"
ACCOUNT_ID = "123456789012"  # moto's account
PREFIX = "larkspur"

Verdict = Literal["PASS", "FAIL"]


class AlreadySeeded(RuntimeError):
    """The moto server already holds the demo environment."""


class Expectation(NamedTuple):
    """A check's expected verdict on one resource, named as the collector names it."""

    check_id: str
    resource: str
    status: Verdict


@dataclass
class DemoManifest:
    """What :func:`seed` created, and what a scan of it should find."""

    company: str
    account_id: str
    endpoint_url: str
    regions: tuple[str, ...]
    kms_keys: dict[str, str] = field(default_factory=dict)
    """``region/alias`` -> key ARN."""
    buckets: dict[str, str] = field(default_factory=dict)
    """bucket name -> region."""
    log_groups: dict[str, str] = field(default_factory=dict)
    """log group name -> ARN."""
    trails: dict[str, str] = field(default_factory=dict)
    """trail name -> home region."""
    vpcs: dict[str, str] = field(default_factory=dict)
    """Name tag -> VPC id (the seeded VPCs; moto adds a default VPC in every region)."""
    default_vpcs: dict[str, str] = field(default_factory=dict)
    """region -> id of the default VPC moto creates in every region."""
    default_security_groups: dict[str, str] = field(default_factory=dict)
    """VPC Name tag (or ``default VPC (region)``) -> id of that VPC's ``default`` security group."""
    security_groups: dict[str, str] = field(default_factory=dict)
    """group name -> group id."""
    volumes: dict[str, str] = field(default_factory=dict)
    """Name tag -> volume id."""
    db_instances: dict[str, str] = field(default_factory=dict)
    """DB instance identifier -> region."""
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=dict)
    """customer-managed policy name -> ARN."""
    account_settings: dict[str, Any] = field(default_factory=dict)
    misconfigured: dict[str, list[str]] = field(default_factory=dict)
    """resource (as the collector names it) -> the deliberate gaps it carries, in words."""
    expected: list[Expectation] = field(default_factory=list)
    not_demonstrable: dict[str, str] = field(default_factory=dict)
    """check id -> why the demo cannot show one of its verdicts in moto."""
    seconds: float = 0.0

    def expected_for(self, check_id: str) -> dict[str, Verdict]:
        return {e.resource: e.status for e in self.expected if e.check_id == check_id}

    def context_name(self, region: str | None = None) -> str:
        """The name of the account context snapshot: global, or one region's."""
        return self.account_id if region is None else f"{self.account_id} ({region})"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["expected"] = [list(e) for e in self.expected]
        return data

    def summary(self) -> list[str]:
        """A few lines describing the environment, for the CLI."""
        failing = sum(1 for e in self.expected if e.status == "FAIL")
        return [
            f"{self.company}: AWS account {self.account_id} in {', '.join(self.regions)}",
            f"  {len(self.buckets)} S3 buckets, {len(self.trails)} CloudTrail trails, {len(self.vpcs)} VPCs, "
            f"{len(self.security_groups)} security groups, {len(self.volumes)} EBS volumes, "
            f"{len(self.db_instances)} RDS instances, {len(self.users)} IAM users, "
            f"{len(self.policies)} customer-managed policies, {len(self.kms_keys)} KMS keys",
            f"  {len(self.misconfigured)} resources carry deliberate gaps; "
            f"{failing} of {len(self.expected)} expected check results are FAIL",
        ]

    def _gap(self, resource: str, *problems: str) -> None:
        self.misconfigured.setdefault(resource, []).extend(problems)

    def _expect(self, check_id: str, resource: str, status: Verdict) -> None:
        self.expected.append(Expectation(check_id, resource, status))


# --- policy documents -------------------------------------------------------------------------


def _deny_insecure_transport(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _log_bucket_policy(bucket: str) -> str:
    # moto reads the statements in order and expects a mapping Principal before any "*" one.
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "S3ServerAccessLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": ["s3:PutObject"],
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                },
                {
                    "Sid": "CloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:GetBucketAcl",
                    "Resource": f"arn:aws:s3:::{bucket}",
                },
                {
                    "Sid": "CloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{bucket}/cloudtrail/AWSLogs/{ACCOUNT_ID}/*",
                    "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
                },
                _deny_insecure_transport(bucket),
            ],
        }
    )


def _tls_only_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [_deny_insecure_transport(bucket)]})


def _public_read_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicReadForWebsite",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "BreakGlass", "Effect": "Allow", "Action": "*", "Resource": "*"}],
}

TRUST_CLOUDTRAIL = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}

ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _tags(name: str, **extra: str) -> list[dict[str, str]]:
    return [{"Key": "Name", "Value": name}, {"Key": "Owner", "Value": "platform"}] + [
        {"Key": k, "Value": v} for k, v in extra.items()
    ]


def _tag_spec(kind: str, name: str, **extra: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": _tags(name, **extra)}]


# --- seeding ----------------------------------------------------------------------------------


class _Seeder:
    def __init__(self, endpoint_url: str, manifest: DemoManifest) -> None:
        self.endpoint_url = endpoint_url
        self.manifest = manifest
        self._clients: dict[tuple[str, str], Any] = {}
        self._config = Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3})

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            made = boto3.client(
                service,
                region_name=region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=self._config,
            )
            if service == "s3control":
                made.meta.events.register("before-send.s3-control.*", _strip_account_host)
            self._clients[key] = made
        return self._clients[key]

    def close(self) -> None:
        for made in self._clients.values():
            made.close()
        self._clients.clear()

    # -- KMS, logs, S3 --

    def kms_key(self, region: str, alias: str, description: str) -> str:
        kms = self.client("kms", region)
        meta = kms.create_key(Description=description, Tags=[{"TagKey": "Owner", "TagValue": "security"}])
        key_id = meta["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=f"alias/{alias}", TargetKeyId=key_id)
        kms.enable_key_rotation(KeyId=key_id)
        arn = str(meta["KeyMetadata"]["Arn"])
        self.manifest.kms_keys[f"{region}/alias/{alias}"] = arn
        return arn

    def bucket(self, name: str, region: str, *, acl: str | None = None, **tags: str) -> Any:
        s3 = self.client("s3", region)
        args: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if acl is not None:
            args["ACL"] = acl
        s3.create_bucket(**args)
        tag_set = [{"Key": "Company", "Value": COMPANY}] + [{"Key": k, "Value": v} for k, v in tags.items()]
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_set})
        self.manifest.buckets[name] = region
        return s3

    # -- EC2 --

    def vpc(self, region: str, name: str, cidr: str) -> str:
        ec2 = self.client("ec2", region)
        vpc_id = str(ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_tag_spec("vpc", name))["Vpc"]["VpcId"])
        self.manifest.vpcs[name] = vpc_id
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        self.manifest.default_security_groups[name] = str(groups[0]["GroupId"])
        return vpc_id

    def flow_logs(self, region: str, vpc_id: str, traffic: str) -> None:
        # To the central log bucket (moto accepts the bucket ARN without a key prefix only).
        answer = self.client("ec2", region).create_flow_logs(
            ResourceIds=[vpc_id],
            ResourceType="VPC",
            TrafficType=traffic,
            LogDestinationType="s3",
            LogDestination=f"arn:aws:s3:::{LOG_BUCKET}",
        )
        if answer.get("Unsuccessful"):
            raise RuntimeError(f"flow logs for {vpc_id} were refused: {answer['Unsuccessful']}")

    def default_vpc(self, region: str) -> None:
        """Record moto's default VPC of ``region`` and its default group: untouched, so both fail."""
        ec2 = self.client("ec2", region)
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        for vpc in vpcs:
            vpc_id = str(vpc["VpcId"])
            groups = ec2.describe_security_groups(
                Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
            )["SecurityGroups"]
            self.manifest.default_vpcs[region] = vpc_id
            self.manifest._expect("ec2_vpc_flow_logs_enabled", vpc_id, "FAIL")
            self.manifest._gap(vpc_id, f"the default VPC of {region}: no flow logs")
            for group in groups:
                group_id = str(group["GroupId"])
                self.manifest.default_security_groups[f"default VPC ({region})"] = group_id
                self.expect_default_group(group_id, restricted=False)

    def expect_default_group(self, group_id: str, *, restricted: bool) -> None:
        """A ``default`` group opens nothing to the internet; it restricts all only when emptied."""
        for check in ("ec2_sg_no_open_admin_ports", "ec2_sg_no_open_database_ports", "ec2_sg_no_open_all_traffic"):
            self.manifest._expect(check, group_id, "PASS")
        self.manifest._expect("ec2_default_sg_restricts_all", group_id, "PASS" if restricted else "FAIL")
        if not restricted:
            self.manifest._gap(group_id, "a default security group that still has rules")

    def security_group(
        self, region: str, vpc_id: str, name: str, description: str, ingress: list[dict[str, Any]]
    ) -> str:
        ec2 = self.client("ec2", region)
        group_id = str(
            ec2.create_security_group(
                GroupName=name,
                Description=description,
                VpcId=vpc_id,
                TagSpecifications=_tag_spec("security-group", name),
            )["GroupId"]
        )
        if ingress:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=ingress)
        self.manifest.security_groups[name] = group_id
        return group_id

    def volume(self, region: str, name: str, size: int, kms_key: str | None) -> str:
        ec2 = self.client("ec2", region)
        args: dict[str, Any] = {
            "AvailabilityZone": f"{region}a",
            "Size": size,
            "VolumeType": "gp3",
            "TagSpecifications": _tag_spec("volume", name),
        }
        if kms_key is not None:
            args.update(Encrypted=True, KmsKeyId=kms_key)
        volume_id = str(ec2.create_volume(**args)["VolumeId"])
        self.manifest.volumes[name] = volume_id
        return volume_id


def _strip_account_host(request: Any, **kwargs: Any) -> None:
    """With a custom endpoint, s3control puts the account id in front of the host; undo that."""
    scheme, _, rest = str(request.url).partition("://")
    host, slash, path = rest.partition("/")
    first, dot, remainder = host.partition(".")
    if dot and first == ACCOUNT_ID:
        request.url = f"{scheme}://{remainder}{slash}{path}"


def _tcp(port: int, cidr: str = "0.0.0.0/0", description: str = "") -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": [{"CidrIp": cidr, "Description": description or f"port {port}"}],
    }


# Names, so the tests and the CLI can refer to them.
CUSTOMER_BUCKET = f"{PREFIX}-customer-records"
LOG_BUCKET = f"{PREFIX}-access-logs"
MARKETING_BUCKET = f"{PREFIX}-marketing-assets"
EXPORT_BUCKET = f"{PREFIX}-legacy-exports"
EU_TRAIL_BUCKET = f"{PREFIX}-eu-trail-logs"
ORG_TRAIL = f"{PREFIX}-org-trail"
EU_TRAIL = f"{PREFIX}-eu-legacy-trail"
PROD_DB = f"{PREFIX}-prod-postgres"
LEGACY_DB = f"{PREFIX}-legacy-mysql"
ENGINEER = "maya.okafor"
CONTRACTOR = "theo.brandt"
CI_USER = "ci-deployer"
ANALYST = "priya.nair"
ADMIN_POLICY_NAME = f"{PREFIX}-break-glass-admin"
NARROW_POLICY_NAME = f"{PREFIX}-app-records-read"
DEPLOY_POLICY_NAME = f"{PREFIX}-ci-deploy"


# Services moto cannot answer fully: scanning them in the demo would only show our honest ERRORs for
# moto's gaps, not anything about Larkspur. Their checks are covered by golden tests with model-validated
# stand-in answers instead.
MOTO_CANNOT_SERVE: dict[str, str] = {
    "accessanalyzer": "moto has no IAM Access Analyzer",
    "backup": "moto does not implement ListProtectedResources",
    "cloudtrail_events": "moto does not implement CloudTrail LookupEvents",
    "dlm": "moto has no Data Lifecycle Manager",
    "inspector2": "moto does not report an account's Inspector status until it is enabled",
    "macie": "moto does not implement GetAutomatedDiscoveryConfiguration",
    "ssm": "moto answers DescribeInstanceInformation with an error",
}


def demo_services() -> list[str]:
    """Every collector except those moto cannot serve."""
    from guardian_collector.collectors import all_collectors
    from guardian_collector.collectors.base import COLLECTORS

    all_collectors()
    return sorted(name for name in COLLECTORS if name not in MOTO_CANNOT_SERVE)


def seed(endpoint_url: str, regions: tuple[str, ...] = ("us-east-1", "eu-west-1")) -> DemoManifest:
    """Create Larkspur Health's account in the moto server at ``endpoint_url``.

    The server must be empty (freshly started or reset): the names are fixed, so a server that
    already holds the demo raises :class:`AlreadySeeded` before anything is created.
    """
    if not regions:
        raise ValueError("at least one region is needed")
    started = time.monotonic()
    manifest = DemoManifest(company=COMPANY, account_id=ACCOUNT_ID, endpoint_url=endpoint_url, regions=tuple(regions))
    seeder = _Seeder(endpoint_url, manifest)
    try:
        existing = {b["Name"] for b in seeder.client("s3", regions[0]).list_buckets().get("Buckets", [])}
        if LOG_BUCKET in existing:
            raise AlreadySeeded(f"{endpoint_url} already holds the {COMPANY} demo; reset the moto server first")
        home = regions[0]
        eu = regions[1] if len(regions) > 1 else None
        _seed_home(seeder, home)
        if eu is not None:
            _seed_eu(seeder, eu)
        for extra in regions[2:]:
            manifest.account_settings.setdefault("ebs_default_encryption", {})[extra] = False
            manifest._expect("ec2_ebs_default_encryption", manifest.context_name(extra), "FAIL")
        _seed_iam(seeder)
        _seed_account(seeder)
        for region in regions:
            seeder.default_vpc(region)
    finally:
        seeder.close()
    _document_limits(manifest, has_eu=len(regions) > 1)
    manifest.seconds = round(time.monotonic() - started, 3)
    return manifest


def _seed_home(seeder: _Seeder, region: str) -> None:
    m = seeder.manifest
    data_key = seeder.kms_key(region, f"{PREFIX}-data", "Larkspur customer data")
    trail_key = seeder.kms_key(region, f"{PREFIX}-cloudtrail", "Larkspur audit trail")

    # --- S3 ---
    s3 = seeder.bucket(LOG_BUCKET, region, Purpose="logs")
    s3.put_bucket_encryption(
        Bucket=LOG_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(Bucket=LOG_BUCKET, PublicAccessBlockConfiguration=ALL_ON)
    s3.put_bucket_versioning(Bucket=LOG_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket=LOG_BUCKET, Policy=_log_bucket_policy(LOG_BUCKET))
    m._gap(LOG_BUCKET, "no server access logging of its own (the log bucket does not log itself)")

    seeder.bucket(CUSTOMER_BUCKET, region, Purpose="customer-data", DataClassification="confidential")
    s3.put_bucket_encryption(
        Bucket=CUSTOMER_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": data_key},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(Bucket=CUSTOMER_BUCKET, PublicAccessBlockConfiguration=ALL_ON)
    s3.put_bucket_versioning(Bucket=CUSTOMER_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_logging(
        Bucket=CUSTOMER_BUCKET,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": LOG_BUCKET, "TargetPrefix": "s3/customer-records/"}},
    )
    s3.put_bucket_policy(Bucket=CUSTOMER_BUCKET, Policy=_tls_only_policy(CUSTOMER_BUCKET))

    seeder.bucket(MARKETING_BUCKET, region, acl="public-read", Purpose="website")
    s3.put_bucket_encryption(
        Bucket=MARKETING_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_policy(Bucket=MARKETING_BUCKET, Policy=_public_read_policy(MARKETING_BUCKET))
    m._gap(
        MARKETING_BUCKET,
        "public: a bucket policy grants s3:GetObject to everyone and the ACL grants AllUsers READ",
        "no public access block, no versioning, no access logging, no TLS-only policy",
    )

    seeder.bucket(EXPORT_BUCKET, region, Purpose="exports")
    s3.put_public_access_block(Bucket=EXPORT_BUCKET, PublicAccessBlockConfiguration=ALL_ON)
    s3.put_bucket_versioning(Bucket=EXPORT_BUCKET, VersioningConfiguration={"Status": "Suspended"})
    m._gap(EXPORT_BUCKET, "no default encryption configuration", "versioning suspended", "no access logging")

    for check, good, bad in (
        ("s3_bucket_default_encryption", [CUSTOMER_BUCKET, LOG_BUCKET, MARKETING_BUCKET], [EXPORT_BUCKET]),
        ("s3_bucket_public_access_block", [CUSTOMER_BUCKET, LOG_BUCKET, EXPORT_BUCKET], [MARKETING_BUCKET]),
        ("s3_bucket_not_public", [CUSTOMER_BUCKET, LOG_BUCKET, EXPORT_BUCKET], [MARKETING_BUCKET]),
        ("s3_bucket_access_logging", [CUSTOMER_BUCKET], [LOG_BUCKET, MARKETING_BUCKET, EXPORT_BUCKET]),
        ("s3_bucket_versioning", [CUSTOMER_BUCKET, LOG_BUCKET], [MARKETING_BUCKET, EXPORT_BUCKET]),
        ("s3_bucket_secure_transport", [CUSTOMER_BUCKET, LOG_BUCKET], [MARKETING_BUCKET, EXPORT_BUCKET]),
    ):
        for name in good:
            m._expect(check, name, "PASS")
        for name in bad:
            m._expect(check, name, "FAIL")

    # --- CloudWatch Logs and the organisation trail ---
    logs = seeder.client("logs", region)
    group = "/larkspur/cloudtrail"
    logs.create_log_group(logGroupName=group, tags={"Owner": "security"})
    logs.put_retention_policy(logGroupName=group, retentionInDays=365)
    group_arn = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group}:*"
    m.log_groups[group] = group_arn
    iam = seeder.client("iam", region)
    role = iam.create_role(
        RoleName=f"{PREFIX}-cloudtrail-to-logs", AssumeRolePolicyDocument=json.dumps(TRUST_CLOUDTRAIL)
    )["Role"]
    m.roles.append(str(role["RoleName"]))

    trail = seeder.client("cloudtrail", region)
    trail.create_trail(
        Name=ORG_TRAIL,
        S3BucketName=LOG_BUCKET,
        S3KeyPrefix="cloudtrail",
        IncludeGlobalServiceEvents=True,
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
        KmsKeyId=trail_key,
        CloudWatchLogsLogGroupArn=group_arn,
        CloudWatchLogsRoleArn=role["Arn"],
        TagsList=[{"Key": "Owner", "Value": "security"}],
    )
    trail.put_event_selectors(
        TrailName=ORG_TRAIL, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )
    trail.start_logging(Name=ORG_TRAIL)
    m.trails[ORG_TRAIL] = region
    for check in (
        "cloudtrail_logging_enabled",
        "cloudtrail_log_file_validation",
        "cloudtrail_kms_encryption",
        "cloudtrail_cloudwatch_logs",
        "cloudtrail_bucket_not_public",
    ):
        m._expect(check, ORG_TRAIL, "PASS")
    m._expect("cloudtrail_multi_region_enabled", m.context_name(), "PASS")

    # --- EC2: volumes first (the unencrypted one predates encryption by default) ---
    app_volume = seeder.volume(region, f"{PREFIX}-app-data", 100, data_key)
    scratch_volume = seeder.volume(region, f"{PREFIX}-legacy-scratch", 50, None)
    m._gap(scratch_volume, "EBS volume created before encryption by default was turned on: unencrypted")
    m._expect("ec2_ebs_volume_encrypted", app_volume, "PASS")
    m._expect("ec2_ebs_volume_encrypted", scratch_volume, "FAIL")
    ec2 = seeder.client("ec2", region)
    ec2.enable_ebs_encryption_by_default()
    ec2.modify_ebs_default_kms_key_id(KmsKeyId=data_key)
    m.account_settings["ebs_default_encryption"] = {region: True}
    m._expect("ec2_ebs_default_encryption", m.context_name(region), "PASS")

    prod = seeder.vpc(region, f"{PREFIX}-prod", "10.10.0.0/16")
    staging = seeder.vpc(region, f"{PREFIX}-staging", "10.20.0.0/16")
    seeder.flow_logs(region, prod, "ALL")
    m._expect("ec2_vpc_flow_logs_enabled", prod, "PASS")
    m._expect("ec2_vpc_flow_logs_enabled", staging, "FAIL")
    m._gap(staging, "no VPC flow logs")

    # The production VPC's default group is emptied, as CIS asks; staging's keeps AWS's defaults.
    prod_default = m.default_security_groups[f"{PREFIX}-prod"]
    default_group = ec2.describe_security_groups(GroupIds=[prod_default])["SecurityGroups"][0]
    if default_group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=prod_default, IpPermissions=default_group["IpPermissions"])
    if default_group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(GroupId=prod_default, IpPermissions=default_group["IpPermissionsEgress"])
    staging_default = m.default_security_groups[f"{PREFIX}-staging"]
    seeder.expect_default_group(prod_default, restricted=True)
    seeder.expect_default_group(staging_default, restricted=False)

    web = seeder.security_group(
        region,
        prod,
        f"{PREFIX}-web-public",
        "HTTPS from the internet to the load balancer",
        [
            _tcp(443, description="HTTPS from anywhere"),
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "HTTPS over IPv6"}],
            },
        ],
    )
    app = seeder.security_group(
        region,
        prod,
        f"{PREFIX}-app-private",
        "Application servers, reachable from the VPC only",
        [_tcp(8443, cidr="10.10.0.0/16", description="from the load balancer subnets")],
    )
    bastion = seeder.security_group(
        region, prod, f"{PREFIX}-bastion", "Bastion host", [_tcp(22, description="SSH for on-call")]
    )
    database = seeder.security_group(
        region,
        prod,
        f"{PREFIX}-db-postgres",
        "PostgreSQL",
        [_tcp(5432, description="temporary: vendor migration"), _tcp(5432, cidr="10.10.0.0/16")],
    )
    debug = seeder.security_group(
        region,
        staging,
        f"{PREFIX}-staging-debug",
        "Opened while debugging staging",
        [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "debug"}]}],
    )
    m._gap(bastion, "SSH (22) open to 0.0.0.0/0")
    m._gap(database, "PostgreSQL (5432) open to 0.0.0.0/0")
    m._gap(debug, "all traffic open to 0.0.0.0/0")
    for check, good, bad in (
        ("ec2_sg_no_open_admin_ports", [web, app, database], [bastion, debug]),
        ("ec2_sg_no_open_database_ports", [web, app, bastion], [database, debug]),
        ("ec2_sg_no_open_all_traffic", [web, app, bastion, database], [debug]),
    ):
        for group_id in good:
            m._expect(check, group_id, "PASS")
        for group_id in bad:
            m._expect(check, group_id, "FAIL")

    # --- RDS: the production database, done right ---
    rds = seeder.client("rds", region)
    rds.create_db_instance(
        DBInstanceIdentifier=PROD_DB,
        Engine="postgres",
        EngineVersion="16.3",
        DBInstanceClass="db.m6g.large",
        AllocatedStorage=200,
        MasterUsername="larkspur_admin",
        MasterUserPassword="not-a-real-secret-1",
        StorageEncrypted=True,
        KmsKeyId=data_key,
        PubliclyAccessible=False,
        MultiAZ=True,
        BackupRetentionPeriod=14,
        DeletionProtection=True,
        AutoMinorVersionUpgrade=True,
        VpcSecurityGroupIds=[database],
        Tags=[{"Key": "Owner", "Value": "platform"}, {"Key": "DataClassification", "Value": "confidential"}],
    )
    m.db_instances[PROD_DB] = region
    for check in (
        "rds_instance_storage_encrypted",
        "rds_instance_not_public",
        "rds_instance_multi_az",
        "rds_instance_backups_enabled",
        "rds_instance_deletion_protection",
        "rds_instance_minor_version_upgrade",
    ):
        m._expect(check, PROD_DB, "PASS")


def _seed_eu(seeder: _Seeder, region: str) -> None:
    m = seeder.manifest
    eu_key = seeder.kms_key(region, f"{PREFIX}-eu-data", "Larkspur EU analytics data")

    # A log bucket someone made public-read "so the log vendor could fetch it".
    s3 = seeder.bucket(EU_TRAIL_BUCKET, region, acl="public-read", Purpose="logs")
    s3.put_bucket_encryption(
        Bucket=EU_TRAIL_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    m._gap(EU_TRAIL_BUCKET, "public: the ACL grants AllUsers READ", "no public access block, no versioning")
    eu_bucket_verdicts: tuple[tuple[str, Verdict], ...] = (
        ("s3_bucket_default_encryption", "PASS"),
        ("s3_bucket_public_access_block", "FAIL"),
        ("s3_bucket_not_public", "FAIL"),
        ("s3_bucket_access_logging", "FAIL"),
        ("s3_bucket_versioning", "FAIL"),
        ("s3_bucket_secure_transport", "FAIL"),
    )
    for check, status in eu_bucket_verdicts:
        m._expect(check, EU_TRAIL_BUCKET, status)

    trail = seeder.client("cloudtrail", region)
    trail.create_trail(Name=EU_TRAIL, S3BucketName=EU_TRAIL_BUCKET, IsMultiRegionTrail=False)
    trail.stop_logging(Name=EU_TRAIL)
    m.trails[EU_TRAIL] = region
    m._gap(
        EU_TRAIL,
        "single-region trail, logging stopped",
        "no log file validation, no KMS encryption, no CloudWatch Logs delivery",
        f"writes to the public bucket {EU_TRAIL_BUCKET}",
    )
    for check in (
        "cloudtrail_logging_enabled",
        "cloudtrail_log_file_validation",
        "cloudtrail_kms_encryption",
        "cloudtrail_cloudwatch_logs",
        "cloudtrail_bucket_not_public",
    ):
        m._expect(check, EU_TRAIL, "FAIL")

    # EC2: an analytics VPC with flow logs, one encrypted volume; encryption by default is off.
    analytics = seeder.vpc(region, f"{PREFIX}-eu-analytics", "10.30.0.0/16")
    seeder.flow_logs(region, analytics, "REJECT")
    m._expect("ec2_vpc_flow_logs_enabled", analytics, "PASS")
    seeder.expect_default_group(m.default_security_groups[f"{PREFIX}-eu-analytics"], restricted=False)
    reporting = seeder.volume(region, f"{PREFIX}-eu-reporting", 40, eu_key)
    m._expect("ec2_ebs_volume_encrypted", reporting, "PASS")
    m.account_settings.setdefault("ebs_default_encryption", {})[region] = False
    m._expect("ec2_ebs_default_encryption", m.context_name(region), "FAIL")
    m._gap(m.context_name(region), "EBS encryption by default is off")

    # RDS: the acquired team's MySQL, every setting the wrong way round.
    rds = seeder.client("rds", region)
    rds.create_db_instance(
        DBInstanceIdentifier=LEGACY_DB,
        Engine="mysql",
        EngineVersion="8.0.35",
        DBInstanceClass="db.t3.medium",
        AllocatedStorage=50,
        MasterUsername="admin",
        MasterUserPassword="not-a-real-secret-2",
        StorageEncrypted=False,
        PubliclyAccessible=True,
        MultiAZ=False,
        BackupRetentionPeriod=0,
        DeletionProtection=False,
        AutoMinorVersionUpgrade=False,
        Tags=[{"Key": "Owner", "Value": "analytics"}],
    )
    m.db_instances[LEGACY_DB] = region
    m._gap(
        LEGACY_DB,
        "storage not encrypted",
        "publicly accessible",
        "single-AZ",
        "automated backups off (retention 0 days)",
        "no deletion protection",
        "minor version upgrades off",
    )
    for check in (
        "rds_instance_storage_encrypted",
        "rds_instance_not_public",
        "rds_instance_multi_az",
        "rds_instance_backups_enabled",
        "rds_instance_deletion_protection",
        "rds_instance_minor_version_upgrade",
    ):
        m._expect(check, LEGACY_DB, "FAIL")


def _seed_iam(seeder: _Seeder) -> None:
    m = seeder.manifest
    iam = seeder.client("iam", "us-east-1")

    narrow = iam.create_policy(
        PolicyName=NARROW_POLICY_NAME,
        Description="Read the customer records bucket",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{CUSTOMER_BUCKET}", f"arn:aws:s3:::{CUSTOMER_BUCKET}/*"],
                    }
                ],
            }
        ),
    )["Policy"]
    admin = iam.create_policy(
        PolicyName=ADMIN_POLICY_NAME,
        Description="Emergency administrator access",
        PolicyDocument=json.dumps(ADMIN_POLICY),
    )["Policy"]
    deploy = iam.create_policy(
        PolicyName=DEPLOY_POLICY_NAME,
        Description="What the CI pipeline needs to ship a release",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["ecr:PutImage", "ecs:UpdateService", "ecs:DescribeServices"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )["Policy"]
    for policy in (narrow, admin, deploy):
        m.policies[str(policy["PolicyName"])] = str(policy["Arn"])
    m._gap(ADMIN_POLICY_NAME, 'allows Action "*" on Resource "*"')
    m._expect("iam_policy_no_full_admin", NARROW_POLICY_NAME, "PASS")
    m._expect("iam_policy_no_full_admin", DEPLOY_POLICY_NAME, "PASS")
    m._expect("iam_policy_no_full_admin", ADMIN_POLICY_NAME, "FAIL")

    engineers, admins = f"{PREFIX}-engineers", f"{PREFIX}-admins"
    iam.create_group(GroupName=engineers)
    iam.attach_group_policy(GroupName=engineers, PolicyArn=narrow["Arn"])
    iam.create_group(GroupName=admins)
    iam.attach_group_policy(GroupName=admins, PolicyArn=admin["Arn"])
    m.groups.extend([engineers, admins])

    def user(name: str, team: str) -> None:
        iam.create_user(UserName=name, Tags=[{"Key": "Team", "Value": team}])
        m.users.append(name)

    # An engineer: console password, virtual MFA, permissions through her group.
    user(ENGINEER, "platform")
    iam.create_login_profile(UserName=ENGINEER, Password="Correct-Horse-Battery-9", PasswordResetRequired=False)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=ENGINEER)["VirtualMFADevice"]
    iam.enable_mfa_device(
        UserName=ENGINEER,
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    iam.add_user_to_group(GroupName=engineers, UserName=ENGINEER)
    iam.add_user_to_group(GroupName=admins, UserName=ENGINEER)

    # A contractor: console password, never enrolled MFA.
    user(CONTRACTOR, "contractors")
    iam.create_login_profile(UserName=CONTRACTOR, Password="Temporary-Pass-42", PasswordResetRequired=True)
    iam.add_user_to_group(GroupName=engineers, UserName=CONTRACTOR)
    m._gap(CONTRACTOR, "console password without MFA")

    # The CI user: an access key and a directly attached policy.
    user(CI_USER, "platform")
    iam.create_access_key(UserName=CI_USER)
    iam.attach_user_policy(UserName=CI_USER, PolicyArn=deploy["Arn"])
    m._gap(CI_USER, f"policy {DEPLOY_POLICY_NAME} attached directly to the user, not through a group or role")

    # An analyst with an inline policy written in a hurry.
    user(ANALYST, "analytics")
    iam.add_user_to_group(GroupName=engineers, UserName=ANALYST)
    iam.put_user_policy(
        UserName=ANALYST,
        PolicyName="adhoc-athena",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["athena:*"], "Resource": "*"}],
            }
        ),
    )
    m._gap(ANALYST, "inline policy adhoc-athena on the user")

    m._expect("iam_user_console_mfa", ENGINEER, "PASS")
    m._expect("iam_user_console_mfa", CONTRACTOR, "FAIL")
    m._expect("iam_user_access_key_rotated", CI_USER, "PASS")
    for name in (ENGINEER, CONTRACTOR, CI_USER):  # the analyst has no password and no key
        m._expect("iam_user_unused_credentials", name, "PASS")
    m._expect("iam_user_no_direct_policies", ENGINEER, "PASS")
    m._expect("iam_user_no_direct_policies", CONTRACTOR, "PASS")
    m._expect("iam_user_no_direct_policies", CI_USER, "FAIL")
    m._expect("iam_user_no_direct_policies", ANALYST, "FAIL")

    # A password policy from the early days: short, no symbols, no reuse limit worth the name.
    policy = {
        "MinimumPasswordLength": 8,
        "RequireSymbols": False,
        "RequireNumbers": True,
        "RequireUppercaseCharacters": True,
        "RequireLowercaseCharacters": True,
        "AllowUsersToChangePassword": True,
        "MaxPasswordAge": 180,
        "PasswordReusePrevention": 5,
    }
    iam.update_account_password_policy(**policy)
    m.account_settings["password_policy"] = policy
    m._gap(
        m.context_name(),
        "password policy: minimum length 8, no symbols, reuse prevention 5, maximum age 180 days",
    )
    m._expect("iam_password_policy_strong", m.context_name(), "FAIL")


def _seed_account(seeder: _Seeder) -> None:
    """Account-wide settings: no account-level S3 public access block (the marketing site needs it off)."""
    m = seeder.manifest
    m.account_settings["s3_account_public_access_block"] = None
    m._gap(m.context_name(), "no account-level S3 public access block")
    m._expect("s3_account_public_access_block", m.context_name(), "FAIL")
    # moto's root user has no MFA device and no access keys, and no API changes either.
    m._expect("iam_root_mfa", m.context_name(), "FAIL")
    m._expect("iam_root_no_access_keys", m.context_name(), "PASS")


def _document_limits(manifest: DemoManifest, *, has_eu: bool) -> None:
    limits = {
        "iam_user_access_key_rotated": "moto stamps access keys with the time of creation and has no API to "
        "back-date them, so no key is ever older than 90 days: PASS only",
        "iam_user_unused_credentials": "moto creates passwords and keys 'now' and never records their use, so "
        "nothing is unused for longer than 90 days: PASS only",
        "iam_root_mfa": "one root user per account; moto's has no MFA and no API enables it: FAIL only",
        "iam_root_no_access_keys": "one root user per account; moto's has no access keys: PASS only",
        "iam_password_policy_strong": "one password policy per account; Larkspur's is weak: FAIL only",
        "s3_account_public_access_block": "one setting per account; off so the marketing site can be public: FAIL only",
        "cloudtrail_multi_region_enabled": "one verdict per account; the organisation trail qualifies: PASS only",
    }
    if not has_eu:
        limits["ec2_ebs_default_encryption"] = "one setting per region; with a single region only its PASS shows"
        for check in (
            "cloudtrail_logging_enabled",
            "cloudtrail_log_file_validation",
            "cloudtrail_kms_encryption",
            "cloudtrail_cloudwatch_logs",
            "cloudtrail_bucket_not_public",
            "rds_instance_storage_encrypted",
            "rds_instance_not_public",
            "rds_instance_multi_az",
            "rds_instance_backups_enabled",
            "rds_instance_deletion_protection",
            "rds_instance_minor_version_upgrade",
        ):
            limits[check] = "the failing example lives in the second region, which was not seeded"
    manifest.not_demonstrable = limits
