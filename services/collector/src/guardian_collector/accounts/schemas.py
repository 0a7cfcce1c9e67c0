from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Literal

import botocore.session
from pydantic import BaseModel, Field, field_validator, model_validator

ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"
ROLE_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role/[A-Za-z0-9_+=,.@/-]{1,512}$")
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_+=,.@:/-]+$"
TAG_KEY_PATTERN = r"^[A-Za-z0-9_ .:/=+@-]{1,128}$"


@cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows in the commercial, China and GovCloud partitions (offline)."""
    session = botocore.session.get_session()
    names: set[str] = set()
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        names.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(names)


def check_regions(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    unknown = sorted(set(values) - known_regions())
    if unknown:
        raise ValueError(f"not an AWS region: {', '.join(unknown)}")
    return sorted(set(values))


def role_account(role_arn: str) -> str:
    match = ROLE_ARN.match(role_arn)
    if match is None:
        raise ValueError(f"{role_arn!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)")
    return match.group(2)


class AccountSettings(BaseModel):
    """What can be set on an account; every field optional so PATCH reuses it."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role_arn: str | None = Field(default=None, description="Role the collector assumes in the account")
    external_id: str | None = Field(default=None, pattern=EXTERNAL_ID_PATTERN, min_length=2, max_length=1224)
    environment: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="production, staging, ..."
    )
    tags: dict[str, str] | None = None
    regions: list[str] | None = Field(default=None, description="Regions in scope; null: every enabled region")
    exclude_regions: list[str] | None = None
    services: list[str] | None = Field(default=None, description="Services scanned; null: all")
    exclude_services: list[str] | None = None

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None:
            role_account(value)
        return value

    @field_validator("regions", "exclude_regions")
    @classmethod
    def _regions(cls, value: list[str] | None) -> list[str] | None:
        return check_regions(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            bad = [k for k in value if not re.match(TAG_KEY_PATTERN, k)]
            if bad:
                raise ValueError(f"invalid tag key(s): {', '.join(sorted(bad))}")
        return value


class AccountIn(AccountSettings):
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN, description="The 12-digit AWS account id")

    @model_validator(mode="after")
    def _role_in_account(self) -> AccountIn:
        if self.role_arn is not None and role_account(self.role_arn) != self.account_id:
            raise ValueError(f"role_arn belongs to account {role_account(self.role_arn)}, not {self.account_id}")
        return self


class AccountUpdate(AccountSettings):
    pass


class AccountOut(BaseModel):
    account_id: str
    name: str
    role_arn: str | None
    # The external id is a shared secret with the account owner: never returned, only whether one is set.
    has_external_id: bool
    environment: str | None
    tags: dict[str, str]
    regions: list[str] | None
    exclude_regions: list[str]
    services: list[str] | None
    exclude_services: list[str]
    source: Literal["manual", "organizations"]
    management_account_id: str | None
    org_status: str | None
    state: Literal["active", "retired"]
    retired_reason: str | None
    retired_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class AccountList(BaseModel):
    items: list[AccountOut]


class RetireIn(BaseModel):
    reason: str = Field(min_length=3, max_length=1000)


class DiscoverIn(BaseModel):
    management_role_arn: str | None = Field(
        default=None, description="Role in the management account; null: the collector's own credentials"
    )
    external_id: str | None = Field(default=None, pattern=EXTERNAL_ID_PATTERN, min_length=2, max_length=1224)
    member_role_name: str = Field(
        default="GuardianReadOnly",
        pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$",
        description="Role name in every member account",
    )
    member_external_id: str | None = Field(default=None, pattern=EXTERNAL_ID_PATTERN, min_length=2, max_length=1224)
    environment_tag: str = Field(
        default="environment", pattern=TAG_KEY_PATTERN, description="Organizations tag read as the environment"
    )

    @field_validator("management_role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None:
            role_account(value)
        return value


class DiscoverOut(BaseModel):
    management_account_id: str
    added: list[str]
    updated: list[str]
    retired: list[str]
    reactivated: list[str]
    unchanged: list[str]


class AccountScanIn(BaseModel):
    accounts: list[str] | None = Field(default=None, description="Account ids; default: every active account")
    environment: str | None = Field(default=None, description="Only active accounts of this environment")
    services: list[str] | None = None

    @field_validator("accounts")
    @classmethod
    def _ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            bad = [v for v in value if not re.match(ACCOUNT_ID_PATTERN, v)]
            if bad:
                raise ValueError(f"not a 12-digit account id: {', '.join(bad)}")
        return value
