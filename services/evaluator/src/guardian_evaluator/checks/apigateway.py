"""API Gateway stage checks: access logs, execution logs, WAF, cache encryption.

``method_settings`` maps ``resource/method`` keys (``*/*`` is the stage-wide default) to
``{"logging_level", "data_trace_enabled", "metrics_enabled", "caching_enabled", "cache_data_encrypted"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import guarded, mapping, needs
from guardian_evaluator.registry import Snapshot, Verdict, check, failed, passed

SERVICE = "apigateway"
STAGE = "AWS::ApiGateway::Stage"
STAGE_WIDE = "*/*"


def _label(snap: Snapshot) -> str:
    stage = snap.configuration.get("stage_name") or snap.name
    api = snap.configuration.get("rest_api_name")
    api_id = snap.configuration.get("rest_api_id")
    owner = f"{api} ({api_id})" if api and api_id else (api or api_id or "?")
    return f"Stage {stage} of API {owner}"


@check(
    id="apigateway_stage_access_logging",
    title="API Gateway stages write access logs",
    description=(
        "Access logging is configured on the stage, so each API call is recorded (caller, request, status, "
        "latency) in CloudWatch Logs or Firehose for investigations and abuse detection."
    ),
    severity=Severity.MEDIUM,
    resource_type=STAGE,
    service=SERVICE,
    remediation=(
        "Point the stage's access logs at a log group, with a format that includes the request id, caller "
        "and status.\n"
        "CLI: aws apigateway update-stage --rest-api-id API_ID --stage-name STAGE --patch-operations "
        "op=replace,path=/accessLogSettings/destinationArn,value=LOG_GROUP_ARN "
        "'op=replace,path=/accessLogSettings/format,value=$context.requestId $context.identity.sourceIp "
        "$context.status'\n"
        "Terraform: access_log_settings { destination_arn = aws_cloudwatch_log_group.api.arn, format = "
        'jsonencode({ requestId = "$context.requestId", ip = "$context.identity.sourceIp" }) } in the '
        "aws_api_gateway_stage"
    ),
    permissions=("apigateway:GET",),
)
@guarded
def apigateway_stage_access_logging(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "access_log_destination")) is not None:
        return err
    destination = snap.configuration["access_log_destination"]
    if destination:
        return passed(f"{_label(snap)} writes access logs to {destination}", destination=destination)
    return failed(f"{_label(snap)} has no access log destination", destination=None)


@check(
    id="apigateway_stage_execution_logging",
    title="API Gateway stages write execution logs",
    description=(
        "The stage logs execution at one of the levels in allowed_levels (ERROR or INFO) for every method, "
        "and the region's API Gateway account settings name the CloudWatch Logs role without which no "
        "execution log is written."
    ),
    severity=Severity.LOW,
    resource_type=STAGE,
    service=SERVICE,
    remediation=(
        "Set the account's CloudWatch Logs role once per region, then the stage's logging level.\n"
        "CLI: aws apigateway update-account --patch-operations op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN "
        "&& aws apigateway update-stage --rest-api-id API_ID --stage-name STAGE --patch-operations "
        "op=replace,path=/*/*/logging/loglevel,value=ERROR\n"
        "Terraform: resource aws_api_gateway_account { cloudwatch_role_arn = aws_iam_role.apigw_logs.arn } and "
        'aws_api_gateway_method_settings { method_path = "*/*" settings { logging_level = "ERROR" } }'
    ),
    permissions=("apigateway:GET",),
    parameters={"allowed_levels": ["ERROR", "INFO"]},
)
@guarded
def apigateway_stage_execution_logging(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "method_settings")) is not None:
        return err
    settings = mapping(snap, "method_settings")
    allowed = {str(level).upper() for level in params.get("allowed_levels", [])}
    problems: list[str] = []
    stage_wide = settings.get(STAGE_WIDE)
    level = str((stage_wide or {}).get("logging_level") or "OFF").upper() if isinstance(stage_wide, Mapping) else "OFF"
    if level not in allowed:
        problems.append(f"the stage-wide logging level is {level}")
    for key, value in settings.items():
        if key == STAGE_WIDE or not isinstance(value, Mapping) or value.get("logging_level") is None:
            continue
        if str(value["logging_level"]).upper() not in allowed:
            problems.append(f"method {key} overrides it with {value['logging_level']}")
    # A logging level that is off is a failure whatever the account settings say; only a stage that
    # would log needs the account's CloudWatch role to be known.
    role_unknown = needs(snap, "account_cloudwatch_role_arn")
    if role_unknown is None and not snap.configuration["account_cloudwatch_role_arn"]:
        problems.append(f"the API Gateway account settings of {snap.region} name no CloudWatch Logs role")
    if problems:
        return failed(f"{_label(snap)} writes no complete execution logs: " + "; ".join(problems), level=level)
    if role_unknown is not None:
        return role_unknown
    return passed(f"{_label(snap)} logs execution at level {level} for every method", level=level)


@check(
    id="apigateway_stage_waf",
    title="API Gateway stages are protected by AWS WAF",
    description=(
        "A WAF web ACL is associated with the stage, filtering injection attempts, bad bots and request "
        "floods before they reach the integration."
    ),
    severity=Severity.LOW,
    resource_type=STAGE,
    service=SERVICE,
    remediation=(
        "Create a regional WAFv2 web ACL (for example with the AWS managed core rule set) and associate it "
        "with the stage.\n"
        "CLI: aws wafv2 associate-web-acl --web-acl-arn WEB_ACL_ARN --resource-arn "
        "arn:aws:apigateway:REGION::/restapis/API_ID/stages/STAGE\n"
        "Terraform: resource aws_wafv2_web_acl_association { resource_arn = aws_api_gateway_stage.prod.arn, "
        "web_acl_arn = aws_wafv2_web_acl.api.arn }"
    ),
    permissions=("apigateway:GET",),
)
@guarded
def apigateway_stage_waf(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "web_acl_arn")) is not None:
        return err
    acl = snap.configuration["web_acl_arn"]
    if acl:
        return passed(f"{_label(snap)} is protected by web ACL {acl}", web_acl=acl)
    return failed(f"{_label(snap)} has no WAF web ACL associated", web_acl=None)


@check(
    id="apigateway_stage_cache_encrypted",
    title="API Gateway response caches are encrypted",
    description=(
        "When a stage caches responses, every method that caches has cache data encryption on, so API "
        "responses (often customer data) are not stored in clear in the cache cluster. Stages without a "
        "cache are not judged."
    ),
    severity=Severity.MEDIUM,
    resource_type=STAGE,
    service=SERVICE,
    remediation=(
        "Turn on cache data encryption for the stage (and any method that overrides caching).\n"
        "CLI: aws apigateway update-stage --rest-api-id API_ID --stage-name STAGE --patch-operations "
        "op=replace,path=/*/*/caching/dataEncrypted,value=true\n"
        'Terraform: aws_api_gateway_method_settings { method_path = "*/*" settings { caching_enabled = true, '
        "cache_data_encrypted = true } }"
    ),
    permissions=("apigateway:GET",),
)
@guarded
def apigateway_stage_cache_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "cache_cluster_enabled", "method_settings")) is not None:
        return err
    if snap.configuration["cache_cluster_enabled"] is not True:
        return None
    settings = mapping(snap, "method_settings")
    caching = {k: v for k, v in settings.items() if isinstance(v, Mapping) and v.get("caching_enabled") is True}
    if not caching:
        return None
    clear = sorted(k for k, v in caching.items() if v.get("cache_data_encrypted") is not True)
    if clear:
        return failed(f"{_label(snap)} caches responses without encryption for {', '.join(clear)}", unencrypted=clear)
    return passed(f"{_label(snap)} encrypts cached responses for all {len(caching)} caching setting(s)")
