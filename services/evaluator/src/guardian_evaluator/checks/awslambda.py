"""Checks on Lambda functions (``AWS::Lambda::Function``).

The lambda collector's configuration: ``runtime`` (``None`` for container images),
``package_type``, ``policy`` (the parsed resource policy or ``None``), ``dead_letter_target_arn``
and ``on_failure_destination`` (asynchronous invocation failure handling).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import needs, policy_verdict_data, public_statements
from guardian_evaluator.registry import Snapshot, Verdict, check, failed, passed

FUNCTION = "AWS::Lambda::Function"

# Runtimes AWS has deprecated (no more security patches); keep the list current through the parameter.
DEPRECATED_RUNTIMES = [
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "java8",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet5.0",
    "dotnet6",
    "ruby2.5",
    "ruby2.7",
    "go1.x",
    "provided",
]


@check(
    id="lambda_function_not_public",
    title="Lambda functions cannot be invoked by everyone",
    description=(
        "No statement of the function's resource policy allows a wildcard principal without a condition that "
        "pins the caller or source (aws:SourceArn, aws:SourceAccount, aws:PrincipalOrgID and the like); "
        "otherwise any AWS account could invoke or change it."
    ),
    severity=Severity.CRITICAL,
    resource_type=FUNCTION,
    service="lambda",
    remediation=(
        "Remove the public statement and grant invocation to the named service with a source condition.\n"
        "CLI: aws lambda remove-permission --function-name FUNCTION --statement-id SID && aws lambda "
        "add-permission --function-name FUNCTION --statement-id s3-invoke --action lambda:InvokeFunction "
        "--principal s3.amazonaws.com --source-arn arn:aws:s3:::BUCKET --source-account ACCOUNT_ID\n"
        'Terraform: resource "aws_lambda_permission" "s3" { function_name = aws_lambda_function.fn.function_name, '
        'action = "lambda:InvokeFunction", principal = "s3.amazonaws.com", source_arn = aws_s3_bucket.b.arn, '
        "source_account = data.aws_caller_identity.current.account_id }"
    ),
    permissions=("lambda:GetPolicy",),
)
def lambda_function_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    document = policy_verdict_data(snap)
    if isinstance(document, Verdict):
        return document
    if document is None:
        return passed(
            f"Lambda function {snap.name} has no resource policy, so only its account's principals can invoke it"
        )
    public = public_statements(document)
    if public:
        return failed(f"Lambda function {snap.name} can be invoked by anyone: " + "; ".join(public), statements=public)
    return passed(f"The resource policy of Lambda function {snap.name} grants nothing to unrestricted principals")


@check(
    id="lambda_function_runtime_supported",
    title="Lambda functions run on a supported runtime",
    description=(
        "The function's managed runtime is not one AWS has deprecated (the deprecated_runtimes parameter), so "
        "the language runtime under the code still receives security patches. Container-image functions bring "
        "their own runtime and are not judged here."
    ),
    severity=Severity.MEDIUM,
    resource_type=FUNCTION,
    service="lambda",
    remediation=(
        "Upgrade the code to a supported runtime and update the function.\n"
        "CLI: aws lambda update-function-configuration --function-name FUNCTION --runtime python3.12\n"
        'Terraform: resource "aws_lambda_function" "fn" { ... runtime = "python3.12" }'
    ),
    permissions=("lambda:ListFunctions",),
    parameters={"deprecated_runtimes": DEPRECATED_RUNTIMES},
)
def lambda_function_runtime_supported(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "runtime", "package_type")) is not None:
        return err
    runtime = snap.configuration["runtime"]
    if snap.configuration["package_type"] == "Image" or not runtime:
        return None
    if str(runtime) in {str(r) for r in params["deprecated_runtimes"]}:
        return failed(f"Lambda function {snap.name} runs on deprecated runtime {runtime}", runtime=runtime)
    return passed(f"Lambda function {snap.name} runs on supported runtime {runtime}", runtime=runtime)


@check(
    id="lambda_function_async_failure_destination",
    title="Lambda functions keep failed asynchronous events",
    description=(
        "The function has a dead-letter queue or an on-failure destination, so asynchronous events that fail "
        "every retry are kept for reprocessing instead of being dropped."
    ),
    severity=Severity.LOW,
    resource_type=FUNCTION,
    service="lambda",
    remediation=(
        "Send failed asynchronous invocations to an SQS queue or SNS topic.\n"
        "CLI: aws lambda put-function-event-invoke-config --function-name FUNCTION --destination-config "
        '\'{"OnFailure":{"Destination":"QUEUE_ARN"}}\'\n'
        'Terraform: resource "aws_lambda_function_event_invoke_config" "fn" { function_name = '
        "aws_lambda_function.fn.function_name, destination_config { on_failure { destination = "
        "aws_sqs_queue.failed.arn } } }"
    ),
    permissions=("lambda:ListFunctions", "lambda:GetFunctionEventInvokeConfig"),
)
def lambda_function_async_failure_destination(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "dead_letter_target_arn")) is not None:
        return err
    dlq = snap.configuration["dead_letter_target_arn"]
    if dlq:
        return passed(
            f"Lambda function {snap.name} sends failed asynchronous events to dead-letter queue {dlq}", destination=dlq
        )
    if (err := needs(snap, "on_failure_destination")) is not None:
        return err
    destination = snap.configuration["on_failure_destination"]
    if destination:
        return passed(
            f"Lambda function {snap.name} sends failed asynchronous events to {destination}", destination=destination
        )
    return failed(f"Lambda function {snap.name} has neither a dead-letter queue nor an on-failure destination")
