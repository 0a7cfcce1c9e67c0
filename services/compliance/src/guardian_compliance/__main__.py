from __future__ import annotations

import uvicorn

from guardian_compliance.app import create_app
from guardian_compliance.settings import ComplianceSettings


def main() -> None:
    settings = ComplianceSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
