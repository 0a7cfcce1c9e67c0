from __future__ import annotations

import uvicorn

from guardian_evaluator.app import create_app
from guardian_evaluator.settings import EvaluatorSettings


def main() -> None:
    settings = EvaluatorSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
