"""The remediation service signs AWS calls with its own identity: the write role when one is set."""

from __future__ import annotations

from guardian_remediation.aws import SESSION_NAME, AwsClients
from guardian_remediation.settings import RemediationSettings
from guardian_testkit.moto import MotoServer

ROLE = "arn:aws:iam::123456789012:role/guardian-remediation-write"


async def test_the_write_role_is_assumed_when_configured(moto: MotoServer) -> None:
    settings = RemediationSettings(aws_endpoint_url=moto.url, aws_role_arn=ROLE)
    async with AwsClients(settings) as aws:
        sts = await aws.client("sts", "us-east-1")
        identity = await sts.get_caller_identity()
    assert identity["Arn"].endswith(f":assumed-role/guardian-remediation-write/{SESSION_NAME}")


async def test_without_a_role_the_process_credentials_are_used(moto: MotoServer) -> None:
    async with AwsClients(RemediationSettings(aws_endpoint_url=moto.url)) as aws:
        sts = await aws.client("sts", "us-east-1")
        identity = await sts.get_caller_identity()
    assert ":assumed-role/" not in identity["Arn"]
