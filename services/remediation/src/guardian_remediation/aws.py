"""The remediation service's AWS clients: its own credentials or role, never the collector's.

With ``aws_role_arn`` the service assumes that role (the write role whose policy is generated from
the catalogue) through STS and signs every call with the temporary credentials; otherwise the
standard credential chain of the remediation process is used. Credentials are never stored or logged.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from guardian_remediation.settings import RemediationSettings

SESSION_NAME = "guardian-remediation"


def _undo_s3control_host_prefix(request: Any, **_: Any) -> None:
    """With a custom endpoint, s3control puts the account id in front of the host; take it off."""
    url = str(request.url)
    scheme, _sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    first, dot, remainder = host.partition(".")
    if dot and first.isdigit() and len(first) == 12:
        request.url = f"{scheme}://{remainder}{slash}{path}"


class AwsClients:
    """aiobotocore clients, one per (service, region), opened lazily and closed together."""

    def __init__(self, settings: RemediationSettings, session: AioSession | None = None) -> None:
        self.settings = settings
        self.home_region = settings.aws_region
        self._session = session
        self._stack = AsyncExitStack()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = asyncio.Lock()
        self._config = AioConfig(
            retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
            connect_timeout=5,
            read_timeout=30,
            s3={"addressing_style": "path"} if settings.aws_endpoint_url else None,
        )

    async def _ensure_session(self) -> AioSession:
        if self._session is not None:
            return self._session
        base = get_session()
        if self.settings.aws_profile:
            base.set_config_variable("profile", self.settings.aws_profile)
        if self.settings.aws_role_arn:
            async with base.create_client(
                "sts", region_name=self.home_region, endpoint_url=self.settings.aws_endpoint_url, config=self._config
            ) as sts:
                answer = await sts.assume_role(RoleArn=self.settings.aws_role_arn, RoleSessionName=SESSION_NAME)
            creds = answer["Credentials"]
            assumed = get_session()
            assumed.set_credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
            self._session = assumed
        else:
            self._session = base
        return self._session

    async def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key in self._clients:
            return self._clients[key]
        async with self._lock:
            if key not in self._clients:
                session = await self._ensure_session()
                creator = session.create_client(
                    service, region_name=region, config=self._config, endpoint_url=self.settings.aws_endpoint_url
                )
                client = await self._stack.enter_async_context(creator)
                if service == "s3control" and self.settings.aws_endpoint_url:
                    client.meta.events.register("before-send.s3-control.*", _undo_s3control_host_prefix)
                self._clients[key] = client
        return self._clients[key]

    async def close(self) -> None:
        await self._stack.aclose()
        self._clients.clear()

    async def __aenter__(self) -> AwsClients:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
