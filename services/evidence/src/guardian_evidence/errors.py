"""Errors of the evidence domain; rendered by the common handler as ``{"error": code, "detail": ...}``."""

from __future__ import annotations

from guardian_common.errors import BadRequest, Conflict, Forbidden, GuardianError, NotFound


class EvidenceNotFound(NotFound):
    code = "evidence_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class ControlNotFound(NotFound):
    code = "control_not_found"


class EvidenceTooLarge(GuardianError):
    code = "evidence_too_large"
    status = 413


class EvidenceEmpty(BadRequest):
    code = "evidence_empty"


class MediaTypeNotAllowed(GuardianError):
    code = "media_type_not_allowed"
    status = 415


class InvalidUpload(BadRequest):
    code = "invalid_upload"


class InvalidEvidence(BadRequest):
    code = "invalid_evidence"


class SelfReview(Forbidden):
    code = "self_review"


class AlreadyReviewed(Conflict):
    code = "already_reviewed"


class EvidenceLocked(Conflict):
    code = "evidence_locked"


class LockCannotShorten(Conflict):
    code = "lock_cannot_shorten"


class EvidenceCorrupted(Conflict):
    """The stored bytes no longer match the SHA-256 recorded at upload (or the object is gone).

    409: the request is fine, the stored state is not; the response carries no content.
    """

    code = "evidence_corrupted"
