from __future__ import annotations

from pydantic import Field

from guardian_common.settings import ServiceSettings


class EvaluatorSettings(ServiceSettings):
    port: int = 8082
    batch_size: int = Field(default=256, ge=1, le=5000)
