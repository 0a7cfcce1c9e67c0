"""Golden tests: AWS Config, GuardDuty, Security Hub, Inspector, IAM Access Analyzer, Systems Manager
and the extra IAM facts, seeded in moto, collected by the real collectors and judged by the real
checks on the account context snapshots.

Two seeded "worlds" show every check PASS and FAIL: in the first, us-east-1 is configured well and
eu-west-1 badly; the second holds the failures the first cannot (an enabled GuardDuty whose findings
go nowhere, an old critical finding, a root user with a virtual MFA device, ...).

What moto lacks, and how this module makes up for it (every substitute answer is validated against
the botocore service model first, as botocore's Stubber does, and given by a ``before-call`` handler
in moto's place):

- Security Hub ``GetEnabledStandards`` is not implemented (moto answers 404);
- IAM Access Analyzer is not implemented at all (``ListAnalyzers`` answers 500);
- Systems Manager ``DescribeInstanceInformation`` and ``ListResourceComplianceSummaries`` are not
  implemented (500): moto has no SSM agents or patch scans;
- IAM: moto cannot put MFA on the root user, so ``GetAccountSummary`` (``AccountMFAEnabled``) and,
  for the virtual-device case, ``ListVirtualMFADevices`` are answered here; moto loads no AWS managed
  policies unless told to (which costs seconds on every reset), so ``ListEntitiesForPolicy`` for
  AWSSupportAccess is answered here too.
- Inspector findings come from moto itself, through its documented results queue
  (``/moto-api/static/inspector2/findings-results``).

Faults (access denied) are injected the same way, and the checks turn ERROR, never PASS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import golden_support
import httpx
from aiobotocore.session import get_session
from golden_support import (
    ACCOUNT,
    Answer,
    Emitted,
    Intercept,
    answering,
    contexts,
    model_checked,
    refusal,
    units,
    verdict,
    with_metadata,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_collector.collection import AwsTarget, ClientPool, CollectionOutcome, collect_account
from guardian_collector.collectors.base import Resource
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_testkit.moto import MotoServer

EAST, WEST = "us-east-1", "eu-west-1"
REGIONS = [EAST, WEST]
SERVICES = ["accessanalyzer", "config", "guardduty", "iamextra", "inspector2", "securityhub", "ssm"]
FSBP = f"arn:aws:securityhub:{EAST}::standards/aws-foundational-security-best-practices/v/1.0.0"
NOW = datetime.now(UTC)

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

REGIONAL_CHECKS = (
    "config_recorder_enabled",
    "guardduty_enabled",
    "guardduty_findings_routed",
    "securityhub_enabled",
    "securityhub_standards_subscribed",
    "securityhub_findings_routed",
    "inspector_enabled",
    "inspector_critical_findings_remediated",
    "iam_access_analyzer_enabled",
    "ssm_instances_managed",
    "ssm_patch_compliance",
)
GLOBAL_CHECKS = ("config_aggregator_all_regions", "iam_root_hardware_mfa", "iam_support_role_exists")

load_all()


def validated(service: str, operation: str, answer: dict[str, Any]) -> Answer:
    """An answer moto cannot give, checked against the service model (as botocore's Stubber does)."""
    return 200, with_metadata(model_checked(service, operation, answer))


def denied(code: str = "AccessDeniedException") -> Answer:
    return refusal(code)


async def collect(moto: MotoServer, intercept: Intercept) -> tuple[Emitted, CollectionOutcome]:
    return await golden_support.collect(moto, SERVICES, regions=REGIONS, handlers={"before-call": answering(intercept)})


def table(emitted: Emitted) -> dict[str, dict[str, Status | None]]:
    out: dict[str, dict[str, Status | None]] = {}
    for region, context in contexts(emitted).items():
        checks = GLOBAL_CHECKS if region == "global" else REGIONAL_CHECKS
        out[region] = {}
        for check_id in checks:
            result = verdict(check_id, context)
            out[region][check_id] = None if result is None else result[0]
    return out


# --- seeding ---------------------------------------------------------------------------------


def seed_config(moto: MotoServer, *, aggregator_regions: list[str] | None) -> None:
    moto.client("s3", EAST).create_bucket(Bucket="guardian-golden-config")
    config = moto.client("config", EAST)
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "guardian-golden-config"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    source: dict[str, Any] = {"AccountIds": [ACCOUNT]}
    if aggregator_regions is None:
        source["AllAwsRegions"] = True
    else:
        source["AwsRegions"] = aggregator_regions
    config.put_configuration_aggregator(ConfigurationAggregatorName="estate", AccountAggregationSources=[source])


def rule(moto: MotoServer, name: str, source: str, *, target: bool, enabled: bool = True) -> None:
    events = moto.client("events", EAST)
    events.put_rule(
        Name=name, EventPattern=json.dumps({"source": [source]}), State="ENABLED" if enabled else "DISABLED"
    )
    if target:
        topic = moto.client("sns", EAST).create_topic(Name=f"{name}-topic")["TopicArn"]
        events.put_targets(Rule=name, Targets=[{"Id": "notify", "Arn": topic}])


def critical_finding(days_old: int, title: str) -> dict[str, Any]:
    return {
        "awsAccountId": ACCOUNT,
        "findingArn": f"arn:aws:inspector2:{EAST}:{ACCOUNT}:finding/{title.lower().replace(' ', '-')}",
        "title": title,
        "severity": "CRITICAL",
        "status": "ACTIVE",
        "type": "PACKAGE_VULNERABILITY",
        "description": title,
        "firstObservedAt": (NOW - timedelta(days=days_old)).timestamp(),
        "lastObservedAt": NOW.timestamp(),
        "resources": [{"id": "i-0123456789abcdef0", "type": "AWS_EC2_INSTANCE"}],
    }


def queue_findings(moto: MotoServer, findings: list[dict[str, Any]]) -> None:
    """Queue what moto's ListFindings answers next in us-east-1 (moto's documented results API)."""
    httpx.post(
        f"{moto.url}/moto-api/static/inspector2/findings-results",
        json={"results": [findings], "account_id": ACCOUNT, "region": EAST},
        timeout=10.0,
    ).raise_for_status()


def run_instance(moto: MotoServer, region: str, name: str) -> str:
    ec2 = moto.client("ec2", region)
    answer = ec2.run_instances(
        ImageId="ami-0abcdef1234567890",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
    )
    return str(answer["Instances"][0]["InstanceId"])


def ssm_answers(managed: dict[str, list[str]], patch: dict[str, tuple[str, str]]) -> Intercept:
    """Systems Manager answers: managed instance ids per region, patch status per region."""

    def intercept(service: str, operation: str, region: str) -> Answer | None:
        if service != "ssm":
            return None
        if operation == "DescribeInstanceInformation":
            items = [{"InstanceId": i, "PingStatus": "Online", "ResourceType": "EC2Instance"} for i in managed[region]]
            return validated("ssm", operation, {"InstanceInformationList": items})
        if operation == "ListResourceComplianceSummaries":
            summaries = [
                {
                    "ComplianceType": "Patch",
                    "ResourceType": "ManagedInstance",
                    "ResourceId": instance,
                    "Status": state,
                    "OverallSeverity": "CRITICAL" if state == "NON_COMPLIANT" else "UNSPECIFIED",
                    "NonCompliantSummary": {"NonCompliantCount": 3 if state == "NON_COMPLIANT" else 0},
                }
                for r, (instance, state) in patch.items()
                if r == region
            ]
            return validated("ssm", operation, {"ResourceComplianceSummaryItems": summaries})
        return None

    return intercept


def iam_answers(*, mfa: bool, root_virtual: bool, support_roles: list[str]) -> Intercept:
    def intercept(service: str, operation: str, region: str) -> Answer | None:
        if service != "iam":
            return None
        if operation == "GetAccountSummary":
            return validated("iam", operation, {"SummaryMap": {"AccountMFAEnabled": int(mfa), "Users": 0}})
        if operation == "ListVirtualMFADevices" and root_virtual:
            device = {
                "SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/root-phone",
                "User": {
                    "Path": "/",
                    "UserName": "root",
                    "UserId": "AIDAROOTEXAMPLE00001",
                    "Arn": f"arn:aws:iam::{ACCOUNT}:root",
                    "CreateDate": NOW - timedelta(days=400),
                },
                "EnableDate": NOW - timedelta(days=400),
            }
            return validated("iam", operation, {"VirtualMFADevices": [device], "IsTruncated": False})
        if operation == "ListEntitiesForPolicy":
            roles = [{"RoleName": r, "RoleId": f"AROA{r.upper()}"} for r in support_roles]
            return validated(
                "iam", operation, {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": roles, "IsTruncated": False}
            )
        return None

    return intercept


def standards_answers(standards: list[dict[str, Any]]) -> Intercept:
    def intercept(service: str, operation: str, region: str) -> Answer | None:
        if (service, operation) == ("securityhub", "GetEnabledStandards"):
            return validated("securityhub", operation, {"StandardsSubscriptions": standards})
        return None

    return intercept


def analyzer_answers(by_region: dict[str, list[dict[str, Any]]]) -> Intercept:
    def intercept(service: str, operation: str, region: str) -> Answer | None:
        if (service, operation) == ("accessanalyzer", "ListAnalyzers"):
            return validated("accessanalyzer", operation, {"analyzers": by_region[region]})
        return None

    return intercept


def analyzer(name: str, status: str = "ACTIVE", kind: str = "ACCOUNT") -> dict[str, Any]:
    return {
        "arn": f"arn:aws:access-analyzer:{EAST}:{ACCOUNT}:analyzer/{name}",
        "name": name,
        "type": kind,
        "createdAt": NOW - timedelta(days=30),
        "status": status,
    }


def combined(*parts: Intercept) -> Intercept:
    def intercept(service: str, operation: str, region: str) -> Answer | None:
        for part in parts:
            found = part(service, operation, region)
            if found is not None:
                return found
        return None

    return intercept


# --- tests -----------------------------------------------------------------------------------


async def test_a_well_run_region_passes_and_a_neglected_one_fails(moto: MotoServer) -> None:
    seed_config(moto, aggregator_regions=None)
    moto.client("guardduty", EAST).create_detector(Enable=True)
    moto.client("guardduty", WEST).create_detector(Enable=False)
    rule(moto, "guardduty-findings", "aws.guardduty", target=True)
    moto.client("securityhub", EAST).enable_security_hub(EnableDefaultStandards=False)
    rule(moto, "securityhub-findings", "aws.securityhub", target=True)
    moto.client("inspector2", EAST).enable(resourceTypes=["EC2", "ECR"], accountIds=[ACCOUNT])
    moto.client("inspector2", WEST).enable(resourceTypes=["EC2"], accountIds=[ACCOUNT])
    queue_findings(moto, [critical_finding(3, "Fresh OpenSSL flaw")])
    east_instance = run_instance(moto, EAST, "web-1")
    west_instance = run_instance(moto, WEST, "batch-1")

    intercept = combined(
        ssm_answers({EAST: [east_instance], WEST: []}, {EAST: (east_instance, "COMPLIANT")}),
        iam_answers(mfa=True, root_virtual=False, support_roles=["incident-support"]),
        standards_answers(
            [
                {
                    "StandardsSubscriptionArn": f"{FSBP}/sub",
                    "StandardsArn": FSBP,
                    "StandardsInput": {},
                    "StandardsStatus": "READY",
                }
            ]
        ),
        analyzer_answers({EAST: [analyzer("external-access")], WEST: []}),
    )
    emitted, outcome = await collect(moto, intercept)

    assert all(s is UnitStatus.COMPLETE for s in units(outcome).values()), outcome.units
    assert table(emitted) == {
        "global": dict.fromkeys(GLOBAL_CHECKS, PASS),
        EAST: dict.fromkeys(REGIONAL_CHECKS, PASS),
        WEST: {
            "config_recorder_enabled": FAIL,
            "guardduty_enabled": FAIL,
            "guardduty_findings_routed": None,  # no enabled detector: guardduty_enabled reports it
            "securityhub_enabled": FAIL,
            "securityhub_standards_subscribed": None,
            "securityhub_findings_routed": None,
            "inspector_enabled": FAIL,
            "inspector_critical_findings_remediated": PASS,
            "iam_access_analyzer_enabled": FAIL,
            "ssm_instances_managed": FAIL,
            "ssm_patch_compliance": None,  # no managed instance there
        },
    }
    ctx = contexts(emitted)
    assert verdict("config_recorder_enabled", ctx[WEST]) == (
        FAIL,
        f"AWS Config has no configuration recorder in {WEST}",
    )
    guardduty = verdict("guardduty_enabled", ctx[WEST])
    assert guardduty is not None
    assert guardduty[1].startswith(f"GuardDuty is not enabled in {WEST}: detector ")
    assert guardduty[1].endswith(" is DISABLED")
    assert verdict("inspector_enabled", ctx[WEST]) == (FAIL, f"Inspector does not scan ecr (DISABLED) in {WEST}")
    assert verdict("ssm_instances_managed", ctx[WEST]) == (
        FAIL,
        f"1 of 1 running instance(s) in {WEST} are not managed by Systems Manager: {west_instance} (batch-1) "
        "is not managed",
    )
    routed = verdict("guardduty_findings_routed", ctx[EAST])
    assert routed is not None
    assert "routed by EventBridge rule guardduty-findings" in routed[1]
    assert verdict("inspector_critical_findings_remediated", ctx[EAST]) == (
        PASS,
        f"No critical Inspector finding in {EAST} is open for more than 15 days (1 critical open)",
    )


async def test_the_remaining_failures(moto: MotoServer) -> None:
    seed_config(moto, aggregator_regions=[EAST])
    moto.client("guardduty", EAST).create_detector(Enable=True)
    rule(moto, "guardduty-findings", "aws.guardduty", target=True, enabled=False)
    moto.client("securityhub", EAST).enable_security_hub(EnableDefaultStandards=False)
    rule(moto, "securityhub-findings", "aws.securityhub", target=False)
    moto.client("inspector2", EAST).enable(resourceTypes=["EC2", "ECR"], accountIds=[ACCOUNT])
    queue_findings(moto, [critical_finding(40, "Old kernel flaw"), critical_finding(2, "Fresh flaw")])
    instance = run_instance(moto, EAST, "legacy-1")

    intercept = combined(
        ssm_answers({EAST: [instance], WEST: []}, {EAST: (instance, "NON_COMPLIANT")}),
        iam_answers(mfa=True, root_virtual=True, support_roles=[]),
        standards_answers([]),
        analyzer_answers({EAST: [analyzer("unused", kind="ACCOUNT_UNUSED_ACCESS")], WEST: []}),
    )
    emitted, _ = await collect(moto, intercept)

    result = table(emitted)
    assert result["global"] == dict.fromkeys(GLOBAL_CHECKS, FAIL)
    east = result[EAST]
    for check_id in (
        "guardduty_findings_routed",
        "securityhub_standards_subscribed",
        "securityhub_findings_routed",
        "inspector_critical_findings_remediated",
        "iam_access_analyzer_enabled",
        "ssm_patch_compliance",
    ):
        assert east[check_id] == FAIL, check_id
    ctx = contexts(emitted)
    assert verdict("config_aggregator_all_regions", ctx["global"]) == (
        FAIL,
        f"No AWS Config aggregator gathers account {ACCOUNT} from every region; aggregators found: estate "
        "(they cover other accounts or only some regions)",
    )
    assert verdict("iam_root_hardware_mfa", ctx["global"]) == (
        FAIL,
        f"The root user of account {ACCOUNT} uses a virtual MFA device (arn:aws:iam::{ACCOUNT}:mfa/root-phone)",
    )
    assert verdict("guardduty_findings_routed", ctx[EAST]) == (
        FAIL,
        f"GuardDuty findings in {EAST} reach nobody: rule guardduty-findings is DISABLED",
    )
    assert verdict("securityhub_findings_routed", ctx[EAST]) == (
        FAIL,
        f"Security Hub findings in {EAST} reach nobody: rule securityhub-findings has no target",
    )
    old = verdict("inspector_critical_findings_remediated", ctx[EAST])
    assert old is not None
    assert old[1].startswith(
        f"1 critical Inspector finding(s) in {EAST} are open for more than 15 days: Old kernel flaw"
    )
    patch = verdict("ssm_patch_compliance", ctx[EAST])
    assert patch is not None
    assert f"{instance} (legacy-1) is NON_COMPLIANT (3 missing patch(es), severity CRITICAL)" in patch[1]


async def test_denied_reads_are_errors(moto: MotoServer) -> None:
    seed_config(moto, aggregator_regions=None)
    moto.client("guardduty", EAST).create_detector(Enable=True)
    run_instance(moto, EAST, "web-1")
    blocked = {
        ("config", "DescribeConfigurationRecorders"),
        ("config", "DescribeConfigurationAggregators"),
        ("guardduty", "ListDetectors"),
        ("securityhub", "DescribeHub"),
        ("inspector2", "BatchGetAccountStatus"),
        ("accessanalyzer", "ListAnalyzers"),
        ("ec2", "DescribeInstances"),
        ("iam", "ListVirtualMFADevices"),
        ("iam", "ListEntitiesForPolicy"),
    }

    def intercept(service: str, operation: str, region: str) -> Answer | None:
        if (service, operation) in blocked:
            return denied("AccessDenied" if service in ("iam", "ec2") else "AccessDeniedException")
        return None

    emitted, outcome = await collect(moto, intercept)

    for (service, region), state in units(outcome).items():
        if service != "account":
            assert state is UnitStatus.PARTIAL, (service, region)
    result = table(emitted)
    assert result["global"] == dict.fromkeys(GLOBAL_CHECKS, ERROR)
    for region in REGIONS:
        assert set(result[region].values()) == {ERROR}, result[region]
    reason = verdict("guardduty_enabled", contexts(emitted)[EAST])
    assert reason is not None
    assert reason[1].startswith("Could not read guardduty (guardduty: AccessDeniedException on list_detectors")


async def test_checks_of_services_left_out_of_the_scan_are_errors(moto: MotoServer) -> None:
    # A scan of other services only: the account context has no data for these checks.
    emitted: Emitted = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append((resource, unit_region, service))

    async with ClientPool(AwsTarget(endpoint_url=moto.url, max_attempts=1), session=get_session()) as pool:
        await collect_account(pool, account_id=ACCOUNT, regions=REGIONS, services=["accessanalyzer"], emit=emit)
    ctx = contexts(emitted)
    assert verdict("guardduty_enabled", ctx[EAST]) == (
        ERROR,
        f"The collected configuration of {ACCOUNT} ({EAST}) has no guardduty data, so it cannot be evaluated",
    )
    assert verdict("config_aggregator_all_regions", ctx["global"]) == (
        ERROR,
        f"The account context of {ACCOUNT} has no AWS Config data (Config was not collected)",
    )
