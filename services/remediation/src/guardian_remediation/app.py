"""The remediation service (Action Centre): app factory and lifespan."""

from __future__ import annotations

from fastapi import FastAPI

from guardian_common.service import build_app
from guardian_remediation.settings import RemediationSettings


def create_app(settings: RemediationSettings | None = None) -> FastAPI:
    settings = settings or RemediationSettings()
    return build_app(
        name="remediation",
        title="Guardian remediation",
        description="The Action Centre: planned, approved, re-checked and verified fixes with a separate write role.",
        settings=settings,
        routers=[],
        schema="remediation",
        migrations_package="guardian_remediation.migrations",
    )
