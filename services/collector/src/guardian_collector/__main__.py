from __future__ import annotations

import uvicorn

from guardian_collector.app import create_app
from guardian_collector.settings import CollectorSettings


def main() -> None:
    settings = CollectorSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
