"""Unit tests of the account-context checks: AWS Config, GuardDuty, Security Hub, Inspector, Systems
Manager, IAM Access Analyzer, root hardware MFA and the support role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
DENIED = "AccessDeniedException on list_detectors: not authorised"


def context(fields: dict[str, Any], *, scope: str = "region", errors: dict[str, str] | None = None) -> Snapshot:
    configuration: dict[str, Any] = {"scope": scope, **fields}
    if errors:
        configuration["_errors"] = errors
    return Snapshot(
        resource_type="AWS::::Account",
        arn=f"arn:aws::{REGION if scope == 'region' else ''}:{ACCOUNT_ID}:account",
        name=ACCOUNT_ID if scope == "account" else f"{ACCOUNT_ID} ({REGION})",
        account_id=ACCOUNT_ID,
        region=REGION if scope == "region" else "global",
        tags={},
        configuration=configuration,
    )


def run(check_id: str, snapshot: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snapshot: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snapshot, **params)
    return None if result is None else result[0]


def unreadable(field: str, *, scope: str = "region") -> Snapshot:
    return context({field: None}, scope=scope, errors={field: DENIED})


# --- AWS Config ------------------------------------------------------------------------------


def recorder(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "default",
        "all_supported": True,
        "include_global_resource_types": True,
        "recording_strategy": "ALL_SUPPORTED_RESOURCE_TYPES",
        "resource_types": [],
        "excluded_resource_types": [],
        "recording": True,
        "last_status": "SUCCESS",
        "last_error": None,
        **overrides,
    }


def recording(*recorders: dict[str, Any], channels: tuple[str, ...] = ("default",)) -> Snapshot:
    return context({"config_recording": {"recorders": list(recorders), "delivery_channels": list(channels)}})


def test_config_recorder_enabled() -> None:
    assert run("config_recorder_enabled", recording(recorder())) == (
        PASS,
        f"AWS Config recorder default records all supported resources in {REGION} and delivers to default",
    )
    assert run("config_recorder_enabled", recording()) == (
        FAIL,
        f"AWS Config has no configuration recorder in {REGION}",
    )
    partial = recorder(
        recording=False,
        all_supported=False,
        recording_strategy="INCLUSION_BY_RESOURCE_TYPES",
        resource_types=["AWS::S3::Bucket"],
        last_status="FAILURE",
        last_error="AccessDenied",
    )
    assert run("config_recorder_enabled", recording(partial, channels=())) == (
        FAIL,
        f"AWS Config is not fully recording in {REGION}: recorder default is not recording; recorder default records "
        "only some resource types (INCLUSION_BY_RESOURCE_TYPES, 1 type(s) listed); recorder default's last recording "
        "attempt failed (AccessDenied); no delivery channel exists, so recorded changes are not delivered anywhere",
    )
    assert status("config_recorder_enabled", unreadable("config_recording")) == ERROR
    assert status("config_recorder_enabled", context({})) == ERROR
    assert status("config_recorder_enabled", context({"config_recording": []})) == ERROR
    assert run("config_recorder_enabled", context({}, scope="account")) is None


def aggregators(*items: dict[str, Any], errors: dict[str, str] | None = None) -> Snapshot:
    return context(
        {"config_aggregators": list(items), "config_scanned_regions": ["eu-west-1", "us-east-1"]},
        scope="account",
        errors=errors,
    )


def test_config_aggregator_all_regions() -> None:
    everywhere = {"name": "estate", "account_sources": [{"account_ids": [ACCOUNT_ID], "all_regions": True}]}
    listed = {
        "name": "listed",
        "account_sources": [{"account_ids": [ACCOUNT_ID], "regions": ["eu-west-1", "us-east-1"]}],
    }
    organisation = {"name": "org", "account_sources": [], "organization": {"all_regions": True, "regions": []}}
    for item in (everywhere, listed, organisation):
        assert status("config_aggregator_all_regions", aggregators(item)) == PASS
    partial = {"name": "east", "account_sources": [{"account_ids": [ACCOUNT_ID], "regions": ["us-east-1"]}]}
    other = {"name": "other", "account_sources": [{"account_ids": ["999999999999"], "all_regions": True}]}
    assert run("config_aggregator_all_regions", aggregators(partial, other)) == (
        FAIL,
        f"No AWS Config aggregator gathers account {ACCOUNT_ID} from every region; aggregators found: east, other "
        "(they cover other accounts or only some regions)",
    )
    none = run("config_aggregator_all_regions", aggregators())
    assert none is not None
    assert none[0] == FAIL
    assert "not visible from here" in none[1]
    # A region whose aggregators could not be listed: error unless a qualifying one was found elsewhere.
    assert status("config_aggregator_all_regions", aggregators(errors={"config_aggregators": "eu: denied"})) == ERROR
    assert status("config_aggregator_all_regions", aggregators(everywhere, errors={"config_aggregators": "x"})) == PASS
    assert status("config_aggregator_all_regions", context({}, scope="account")) == ERROR
    assert run("config_aggregator_all_regions", context({})) is None


# --- GuardDuty -------------------------------------------------------------------------------


def detectors(*items: dict[str, Any], routes: list[dict[str, Any]] | None = None) -> Snapshot:
    return context({"guardduty": {"detectors": list(items)}, "guardduty_finding_routes": routes or []})


ROUTE = {"name": "gd", "arn": "arn:rule", "state": "ENABLED", "pattern": {}, "targets": ["arn:aws:sns:x:1:sec"]}
ADMIN = {"account_id": "111122223333", "relationship_status": "Enabled"}


def test_guardduty_enabled() -> None:
    assert run("guardduty_enabled", detectors({"id": "d1", "status": "ENABLED", "administrator": ADMIN})) == (
        PASS,
        f"GuardDuty detector d1 is enabled in {REGION}, managed by administrator account 111122223333",
    )
    assert run("guardduty_enabled", detectors()) == (FAIL, f"GuardDuty has no detector in {REGION}")
    assert run("guardduty_enabled", detectors({"id": "d1", "status": "DISABLED", "administrator": ADMIN})) == (
        FAIL,
        f"GuardDuty is not enabled in {REGION}: detector d1 is DISABLED",
    )
    assert status("guardduty_enabled", unreadable("guardduty")) == ERROR
    assert status("guardduty_enabled", context({"guardduty": {"detectors": "x"}})) == ERROR


def test_guardduty_findings_routed() -> None:
    enabled = {"id": "d1", "status": "ENABLED", "administrator": None}
    result = run("guardduty_findings_routed", detectors(enabled, routes=[ROUTE]))
    assert result == (PASS, f"GuardDuty findings in {REGION} are routed by EventBridge rule gd to arn:aws:sns:x:1:sec")
    assert run("guardduty_findings_routed", detectors(enabled)) == (
        FAIL,
        f"GuardDuty findings in {REGION} reach nobody: no EventBridge rule of the default bus matches them",
    )
    broken = [{**ROUTE, "state": "DISABLED"}, {**ROUTE, "name": "empty", "targets": []}]
    assert run("guardduty_findings_routed", detectors(enabled, routes=broken)) == (
        FAIL,
        f"GuardDuty findings in {REGION} reach nobody: rule gd is DISABLED; rule empty has no target",
    )
    member = {**enabled, "administrator": ADMIN}
    assert status("guardduty_findings_routed", detectors(member)) == FAIL
    assert status("guardduty_findings_routed", detectors(member), accept_administrator_routing=True) == PASS
    suspended = {**member, "administrator": {**ADMIN, "relationship_status": "Removed"}}
    assert status("guardduty_findings_routed", detectors(suspended), accept_administrator_routing=True) == FAIL
    assert run("guardduty_findings_routed", detectors({"id": "d1", "status": "DISABLED"})) is None
    no_routes = context(
        {"guardduty": {"detectors": [enabled]}, "guardduty_finding_routes": None},
        errors={"guardduty_finding_routes": "AccessDeniedException on list_rules"},
    )
    assert status("guardduty_findings_routed", no_routes) == ERROR
    assert status("guardduty_findings_routed", unreadable("guardduty")) == ERROR


# --- Security Hub ----------------------------------------------------------------------------

FSBP = "arn:aws:securityhub:eu-west-1::standards/aws-foundational-security-best-practices/v/1.0.0"


def hub(enabled: bool = True, standards: Any = None, routes: Any = None, administrator: Any = None) -> Snapshot:
    return context(
        {
            "securityhub": {
                "enabled": enabled,
                "hub_arn": "arn:hub" if enabled else None,
                "standards": [{"arn": FSBP, "status": "READY"}] if standards is None else standards,
                "administrator": administrator,
            },
            "securityhub_finding_routes": [ROUTE] if routes is None else routes,
        }
    )


def test_securityhub_enabled() -> None:
    assert run("securityhub_enabled", hub()) == (PASS, f"Security Hub is enabled in {REGION} (arn:hub)")
    assert run("securityhub_enabled", hub(enabled=False)) == (FAIL, f"Security Hub is not enabled in {REGION}")
    assert status("securityhub_enabled", unreadable("securityhub")) == ERROR
    assert status("securityhub_enabled", context({"securityhub": {"enabled": "yes"}})) == ERROR


def test_securityhub_standards_subscribed() -> None:
    assert run("securityhub_standards_subscribed", hub()) == (
        PASS,
        f"Security Hub in {REGION} runs 1 standard(s): {FSBP}",
    )
    assert run("securityhub_standards_subscribed", hub(standards=[])) == (
        FAIL,
        f"Security Hub in {REGION} has no standard subscribed",
    )
    assert run("securityhub_standards_subscribed", hub(standards=[{"arn": FSBP, "status": "FAILED"}])) == (
        FAIL,
        f"No Security Hub standard is ready in {REGION}: {FSBP} is FAILED",
    )
    assert run("securityhub_standards_subscribed", hub(enabled=False)) is None
    unread_standards = context({"securityhub": {"enabled": True, "standards": None}})
    assert status("securityhub_standards_subscribed", unread_standards) == ERROR
    assert status("securityhub_standards_subscribed", unreadable("securityhub")) == ERROR


def test_securityhub_findings_routed() -> None:
    assert status("securityhub_findings_routed", hub()) == PASS
    assert run("securityhub_findings_routed", hub(routes=[])) == (
        FAIL,
        f"Security Hub findings in {REGION} reach nobody: no EventBridge rule of the default bus matches them",
    )
    admin = {"account_id": "111122223333", "relationship_status": "Enabled"}
    assert (
        status("securityhub_findings_routed", hub(routes=[], administrator=admin), accept_administrator_routing=True)
        == PASS
    )
    assert run("securityhub_findings_routed", hub(enabled=False)) is None
    assert status("securityhub_findings_routed", hub(routes="x")) == ERROR
    assert status("securityhub_findings_routed", unreadable("securityhub")) == ERROR


# --- Inspector -------------------------------------------------------------------------------


def inspector(state: dict[str, str] | None = None, findings: list[dict[str, Any]] | None = None) -> Snapshot:
    return context(
        {
            "inspector2": {"status": "ENABLED", "resource_state": state or {"ec2": "ENABLED", "ecr": "ENABLED"}},
            "inspector2_critical_findings": {"findings": findings or [], "truncated": False},
        }
    )


def finding(days: int) -> dict[str, Any]:
    return {
        "arn": f"arn:finding/{days}",
        "title": f"CVE aged {days}",
        "first_observed": (datetime.now(UTC) - timedelta(days=days)).isoformat(),
        "resources": ["i-1"],
    }


def test_inspector_enabled() -> None:
    assert run("inspector_enabled", inspector()) == (PASS, f"Inspector scans ec2, ecr in {REGION}")
    assert run("inspector_enabled", inspector({"ec2": "ENABLED", "ecr": "DISABLED"})) == (
        FAIL,
        f"Inspector does not scan ecr (DISABLED) in {REGION}",
    )
    assert run("inspector_enabled", inspector({"ec2": "ENABLED"})) == (
        FAIL,
        f"Inspector does not scan ecr (not reported) in {REGION}",
    )
    assert status("inspector_enabled", inspector({"ec2": "ENABLED"}), resource_types=["ec2"]) == PASS
    assert status("inspector_enabled", unreadable("inspector2")) == ERROR


def test_inspector_critical_findings_remediated() -> None:
    assert run("inspector_critical_findings_remediated", inspector(findings=[finding(3)])) == (
        PASS,
        f"No critical Inspector finding in {REGION} is open for more than 15 days (1 critical open)",
    )
    result = run("inspector_critical_findings_remediated", inspector(findings=[finding(20), finding(3)]))
    assert result is not None
    assert result[0] == FAIL
    assert result[1].startswith(
        f"1 critical Inspector finding(s) in {REGION} are open for more than 15 days: CVE aged 20"
    )
    assert status("inspector_critical_findings_remediated", inspector(findings=[finding(20)]), max_age_days=30) == PASS
    assert run("inspector_critical_findings_remediated", inspector({"ec2": "DISABLED", "ecr": "DISABLED"})) is None
    undated = inspector(findings=[{**finding(1), "first_observed": None}])
    assert status("inspector_critical_findings_remediated", undated) == ERROR
    unread_findings = context(
        {"inspector2": {"resource_state": {"ec2": "ENABLED"}}, "inspector2_critical_findings": None},
        errors={"inspector2_critical_findings": DENIED},
    )
    assert status("inspector_critical_findings_remediated", unread_findings) == ERROR


# --- Systems Manager -------------------------------------------------------------------------


def instances(managed: dict[str, str], patch: dict[str, Any]) -> Snapshot:
    running = [{"id": "i-1", "name": "web"}, {"id": "i-2", "name": None}]
    return context({"ssm_instances": {"running": running, "managed": managed, "patch": patch}})


COMPLIANT = {"status": "COMPLIANT", "non_compliant": 0, "severity": "UNSPECIFIED"}


def test_ssm_instances_managed() -> None:
    assert run("ssm_instances_managed", instances({"i-1": "Online", "i-2": "Online"}, {})) == (
        PASS,
        f"All 2 running instance(s) in {REGION} are managed by Systems Manager",
    )
    assert run("ssm_instances_managed", instances({"i-1": "ConnectionLost"}, {})) == (
        FAIL,
        f"2 of 2 running instance(s) in {REGION} are not managed by Systems Manager: i-1 (web) has agent status "
        "ConnectionLost; i-2 is not managed",
    )
    idle = context({"ssm_instances": {"running": [], "managed": {}, "patch": {}}})
    assert run("ssm_instances_managed", idle) is None
    assert status("ssm_instances_managed", unreadable("ssm_instances")) == ERROR
    assert status("ssm_instances_managed", context({"ssm_instances": {"running": []}})) == ERROR


def test_ssm_patch_compliance() -> None:
    managed = {"i-1": "Online", "i-2": "Online"}
    assert run("ssm_patch_compliance", instances(managed, {"i-1": COMPLIANT, "i-2": COMPLIANT})) == (
        PASS,
        f"All 2 managed instance(s) in {REGION} are patch compliant",
    )
    late = {"status": "NON_COMPLIANT", "non_compliant": 4, "severity": "HIGH"}
    assert run("ssm_patch_compliance", instances(managed, {"i-1": late})) == (
        FAIL,
        f"2 managed instance(s) in {REGION} are not patch compliant: i-1 (web) is NON_COMPLIANT (4 missing patch(es), "
        "severity HIGH); i-2 has no patch compliance data (never scanned)",
    )
    assert run("ssm_patch_compliance", instances({}, {})) is None
    assert status("ssm_patch_compliance", unreadable("ssm_instances")) == ERROR


# --- IAM extras ------------------------------------------------------------------------------


def test_iam_root_hardware_mfa() -> None:
    def root(data: Any) -> Snapshot:
        return context({"iam_root_hardware_mfa": data}, scope="account")

    assert run("iam_root_hardware_mfa", root({"mfa_enabled": True, "virtual_devices": []})) == (
        PASS,
        f"The root user of account {ACCOUNT_ID} uses a hardware MFA device",
    )
    assert run("iam_root_hardware_mfa", root({"mfa_enabled": True, "virtual_devices": ["arn:mfa/root"]})) == (
        FAIL,
        f"The root user of account {ACCOUNT_ID} uses a virtual MFA device (arn:mfa/root)",
    )
    assert run("iam_root_hardware_mfa", root({"mfa_enabled": False, "virtual_devices": []})) == (
        FAIL,
        f"The root user of account {ACCOUNT_ID} has no MFA at all",
    )
    assert status("iam_root_hardware_mfa", unreadable("iam_root_hardware_mfa", scope="account")) == ERROR
    assert status("iam_root_hardware_mfa", root({"virtual_devices": []})) == ERROR
    assert run("iam_root_hardware_mfa", context({})) is None


def test_iam_support_role_exists() -> None:
    assert run("iam_support_role_exists", context({"iam_support_roles": ["support"]}, scope="account")) == (
        PASS,
        "Role(s) support can manage AWS Support cases",
    )
    assert run("iam_support_role_exists", context({"iam_support_roles": []}, scope="account")) == (
        FAIL,
        f"No role in account {ACCOUNT_ID} has the AWSSupportAccess policy",
    )
    assert status("iam_support_role_exists", unreadable("iam_support_roles", scope="account")) == ERROR
    assert status("iam_support_role_exists", context({}, scope="account")) == ERROR


def test_iam_access_analyzer_enabled() -> None:
    def analyzers(*items: dict[str, Any]) -> Snapshot:
        return context({"access_analyzers": list(items)})

    active = {"name": "external", "arn": "arn:analyzer", "type": "ACCOUNT", "status": "ACTIVE"}
    assert run("iam_access_analyzer_enabled", analyzers(active)) == (
        PASS,
        f"Access Analyzer external (ACCOUNT) is active in {REGION}",
    )
    assert status("iam_access_analyzer_enabled", analyzers({**active, "type": "ORGANIZATION"})) == PASS
    assert run("iam_access_analyzer_enabled", analyzers()) == (FAIL, f"IAM Access Analyzer has no analyzer in {REGION}")
    unused = {**active, "name": "unused", "type": "ACCOUNT_UNUSED_ACCESS"}
    assert run("iam_access_analyzer_enabled", analyzers(unused, {**active, "status": "FAILED"})) == (
        FAIL,
        f"No active external-access analyzer in {REGION}; analyzers found: unused (ACCOUNT_UNUSED_ACCESS, ACTIVE), "
        "external (ACCOUNT, FAILED)",
    )
    assert status("iam_access_analyzer_enabled", unreadable("access_analyzers")) == ERROR
    assert run("iam_access_analyzer_enabled", context({}, scope="account")) is None
