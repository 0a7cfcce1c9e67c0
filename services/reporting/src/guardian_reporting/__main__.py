from __future__ import annotations

import uvicorn

from guardian_reporting.app import create_app
from guardian_reporting.settings import ReportingSettings


def main() -> None:
    settings = ReportingSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
