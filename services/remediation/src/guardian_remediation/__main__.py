from __future__ import annotations

import uvicorn

from guardian_remediation.app import create_app
from guardian_remediation.settings import RemediationSettings


def main() -> None:
    settings = RemediationSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
