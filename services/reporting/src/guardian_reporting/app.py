"""The reporting service: app factory and lifespan."""

from __future__ import annotations

from fastapi import FastAPI

from guardian_common.service import build_app
from guardian_reporting.exports_router import router as exports_router
from guardian_reporting.issued import router as issued_router
from guardian_reporting.settings import ReportingSettings
from guardian_reporting.web import router as dashboard_router
from guardian_reporting.web.action_centre import router as action_centre_router


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    return build_app(
        name="reporting",
        title="Guardian reporting",
        description="The Compliance Dashboard, exports in PDF, CSV, JSON and OCSF, and the signed auditor package.",
        settings=settings,
        routers=[dashboard_router, action_centre_router, issued_router, exports_router],
        schema="reporting",
        migrations_package="guardian_reporting.migrations",
    )
