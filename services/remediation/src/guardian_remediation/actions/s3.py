"""S3: default encryption and the public access block, per bucket and for the account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from guardian_remediation.actions.base import (
    Action,
    ApiCall,
    Aws,
    Param,
    ParameterError,
    Reading,
    Target,
    action,
    error_code,
    tag_dict,
)

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def bucket_name(target: Target) -> str:
    return target.resource.split("/", 1)[0] or target.name


async def bucket_tags(aws: Aws, bucket: str, region: str) -> dict[str, str]:
    s3 = await aws.client("s3", region)
    try:
        answer = await s3.get_bucket_tagging(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise
    return tag_dict(answer.get("TagSet"))


@action
class S3DefaultEncryption(Action):
    id = "s3_bucket_default_encryption"
    title = "Encrypt new objects of an S3 bucket by default (SSE-S3 or a chosen KMS key)"
    description = (
        "Sets the bucket's default encryption. Existing objects keep their encryption; every new object"
        " is encrypted with SSE-S3 (AES256) or with the KMS key given."
    )
    resource_type = "AWS::S3::Bucket"
    checks = ("s3_bucket_default_encryption",)
    permissions = ("s3:GetEncryptionConfiguration", "s3:GetBucketTagging", "s3:PutEncryptionConfiguration")
    parameters = (
        Param("algorithm", "string", "AES256 (SSE-S3) or aws:kms", default="AES256", choices=("AES256", "aws:kms")),
        Param("kms_key_id", "string", "The KMS key (ARN, id or alias) for aws:kms; none for AES256"),
        Param("bucket_key", "boolean", "Use an S3 Bucket Key with aws:kms (fewer KMS requests)", default=True),
    )
    verify_services = ("s3",)
    reads = ("s3:GetBucketEncryption", "s3:GetBucketTagging")

    def validate(self, params: Mapping[str, Any]) -> None:
        if params["algorithm"] == "AES256" and params["kms_key_id"]:
            raise ParameterError("kms_key_id applies only to the aws:kms algorithm")

    async def read(self, aws: Aws, target: Target) -> Reading:
        region = target.call_region(aws.home_region)
        s3 = await aws.client("s3", region)
        bucket = bucket_name(target)
        try:
            answer = await s3.get_bucket_encryption(Bucket=bucket)
            rules = answer.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        except ClientError as exc:
            if error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            rules = []
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
        state = {"algorithm": default.get("SSEAlgorithm"), "kms_key_id": default.get("KMSMasterKeyID")}
        return Reading(state=state, tags=await bucket_tags(aws, bucket, region))

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        if state.get("algorithm") != params["algorithm"]:
            return False
        return (
            params["algorithm"] == "AES256"
            or not params["kms_key_id"]
            or state.get("kms_key_id") == params["kms_key_id"]
        )

    def expected(self, params: Mapping[str, Any]) -> str:
        key = f" with key {params['kms_key_id']}" if params.get("kms_key_id") else ""
        return f"New objects are encrypted by default with {params['algorithm']}{key}."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        default: dict[str, Any] = {"SSEAlgorithm": params["algorithm"]}
        rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
        if params["algorithm"] == "aws:kms":
            if params["kms_key_id"]:
                default["KMSMasterKeyID"] = params["kms_key_id"]
            rule["BucketKeyEnabled"] = bool(params["bucket_key"])
        return [
            ApiCall(
                "s3",
                "PutBucketEncryption",
                target.call_region(aws.home_region),
                {"Bucket": bucket_name(target), "ServerSideEncryptionConfiguration": {"Rules": [rule]}},
                "s3:PutEncryptionConfiguration",
            )
        ]


@action
class S3BucketPublicAccessBlock(Action):
    id = "s3_bucket_public_access_block"
    title = "Turn on every public access block setting of an S3 bucket"
    description = "Blocks public ACLs and policies on the bucket, ignoring any that exist."
    resource_type = "AWS::S3::Bucket"
    checks = ("s3_bucket_public_access_block",)
    permissions = ("s3:GetBucketPublicAccessBlock", "s3:GetBucketTagging", "s3:PutBucketPublicAccessBlock")
    verify_services = ("s3",)
    reads = ("s3:GetPublicAccessBlock", "s3:GetBucketTagging")

    async def read(self, aws: Aws, target: Target) -> Reading:
        region = target.call_region(aws.home_region)
        s3 = await aws.client("s3", region)
        bucket = bucket_name(target)
        try:
            answer = await s3.get_public_access_block(Bucket=bucket)
            block = answer.get("PublicAccessBlockConfiguration", {})
        except ClientError as exc:
            if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = {}
        state = {name: bool(block.get(name, False)) for name in BLOCK_ALL}
        return Reading(state=state, tags=await bucket_tags(aws, bucket, region))

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return all(state.get(name) is True for name in BLOCK_ALL)

    def expected(self, params: Mapping[str, Any]) -> str:
        return "All four public access block settings of the bucket are on."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "s3",
                "PutPublicAccessBlock",
                target.call_region(aws.home_region),
                {"Bucket": bucket_name(target), "PublicAccessBlockConfiguration": dict(BLOCK_ALL)},
                "s3:PutBucketPublicAccessBlock",
            )
        ]


@action
class S3AccountPublicAccessBlock(Action):
    id = "s3_account_public_access_block"
    title = "Turn on the account-wide S3 public access block"
    description = "Blocks public ACLs and policies for every bucket of the account, present and future."
    resource_type = "AWS::::Account"
    checks = ("s3_account_public_access_block",)
    permissions = ("s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock")
    verify_services = ("s3",)
    reads = ("s3control:GetPublicAccessBlock",)

    async def read(self, aws: Aws, target: Target) -> Reading:
        control = await aws.client("s3control", aws.home_region)
        try:
            answer = await control.get_public_access_block(AccountId=target.account_id)
            block = answer.get("PublicAccessBlockConfiguration", {})
        except ClientError as exc:
            if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = {}
        return Reading(state={name: bool(block.get(name, False)) for name in BLOCK_ALL})

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return all(state.get(name) is True for name in BLOCK_ALL)

    def expected(self, params: Mapping[str, Any]) -> str:
        return "All four account-level public access block settings are on."

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        return [
            ApiCall(
                "s3control",
                "PutPublicAccessBlock",
                aws.home_region,
                {"AccountId": target.account_id, "PublicAccessBlockConfiguration": dict(BLOCK_ALL)},
                "s3:PutAccountPublicAccessBlock",
            )
        ]
