from __future__ import annotations

import uvicorn

from guardian_evidence.app import create_app
from guardian_evidence.settings import EvidenceSettings


def main() -> None:
    settings = EvidenceSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
