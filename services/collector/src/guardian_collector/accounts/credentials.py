"""Credentials for one account: the collector's own, or a role assumed there and refreshed as it ages.

The assumed credentials are refreshed by aiobotocore's refreshable credentials before they expire,
so a scan longer than the session duration keeps reading. Credentials live only in memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import AioSession, get_session

SESSION_NAME = "guardian-collector"
SESSION_SECONDS = 3600


class AssumedRoleSession(AioSession):  # type: ignore[misc]
    """A session whose every client uses credentials of an assumed role."""

    def __init__(self, credentials: AioRefreshableCredentials) -> None:
        super().__init__()
        self._assumed = credentials

    async def get_credentials(self) -> AioRefreshableCredentials:
        return self._assumed


async def assume_role_session(
    role_arn: str,
    *,
    external_id: str | None,
    region: str,
    endpoint_url: str | None,
    max_attempts: int = 3,
    base: AioSession | None = None,
) -> AssumedRoleSession:
    """Assume ``role_arn`` with the collector's own credentials; raises what STS raised on failure."""
    source = base or get_session()
    config = AioConfig(retries={"mode": "standard", "max_attempts": max_attempts})

    async def fetch() -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": SESSION_NAME,
            "DurationSeconds": SESSION_SECONDS,
        }
        if external_id:
            kwargs["ExternalId"] = external_id
        async with source.create_client("sts", region_name=region, endpoint_url=endpoint_url, config=config) as sts:
            answer = await sts.assume_role(**kwargs)
        creds = answer["Credentials"]
        expiry = creds["Expiration"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
        }

    metadata = await fetch()
    credentials = AioRefreshableCredentials.create_from_metadata(
        metadata=metadata, refresh_using=fetch, method="sts-assume-role"
    )
    return AssumedRoleSession(credentials)
