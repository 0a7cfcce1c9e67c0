"""The Compliance Dashboard: server-rendered pages, read on behalf of the signed-in user."""

from guardian_reporting.web.router import router

__all__ = ["router"]
