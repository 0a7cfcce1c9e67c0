from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from guardian_common.settings import ServiceSettings
from guardian_evidence.validity import Frequency

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

DEFAULT_MEDIA_TYPES = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/plain",
    "text/csv",
    DOCX,
    XLSX,
    PPTX,
]

# S3's CopyObject (used to promote a finished upload to its final key) takes at most 5 GiB.
S3_COPY_LIMIT = 5 * 1024**3


def _default_storage_dir() -> Path:
    return Path.home() / ".guardian" / "evidence"


class EvidenceSettings(ServiceSettings):
    port: int = 8084
    storage_backend: Literal["local", "s3"] = "local"
    # Local backend: finished objects under <dir>/objects, uploads in flight under <dir>/tmp.
    storage_dir: Path = Field(default_factory=_default_storage_dir)
    # S3 backend: any S3-compatible bucket; the endpoint is for non-AWS stores and tests.
    s3_bucket: str | None = None
    s3_prefix: str = "evidence/"
    s3_region: str = "us-east-1"
    s3_endpoint_url: str | None = None
    s3_part_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    allowed_media_types: list[str] = Field(default_factory=lambda: list(DEFAULT_MEDIA_TYPES))
    # An accepted version is "due soon" this many days before it expires (at most a quarter of its validity).
    due_soon_days: int = Field(default=30, ge=0)
    # Frequency per control id, used when an item does not state its own; the strictest of its controls wins.
    control_frequencies: dict[str, Frequency] = Field(default_factory=dict)
    # When non-empty, the only control ids evidence may name (the catalogue lives in compliance).
    known_controls: list[str] = Field(default_factory=list)
    outbox_relay_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _storage_consistent(self) -> EvidenceSettings:
        if self.storage_backend == "s3":
            if not self.s3_bucket:
                raise ValueError("GUARDIAN_S3_BUCKET is required with GUARDIAN_STORAGE_BACKEND=s3")
            if self.max_upload_bytes > S3_COPY_LIMIT:
                raise ValueError("GUARDIAN_MAX_UPLOAD_BYTES may not exceed 5 GiB with the S3 backend")
        return self
