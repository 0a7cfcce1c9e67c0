"""What a control's evidence requirements need now: ``GET /api/v1/controls/{id}/evidence``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from guardian_common.auth import Reader
from guardian_common.service import runtime_of
from guardian_compliance.clock import Now
from guardian_compliance.evidence.schemas import ControlEvidence
from guardian_compliance.evidence.service import control_evidence

router = APIRouter(prefix="/api/v1/controls", tags=["evidence"])


@router.get(
    "/{control_id}/evidence",
    response_model=ControlEvidence,
    summary="Each evidence requirement of a control, the items that match it, and what is still missing",
)
async def evidence_of_control(request: Request, control_id: str, _: Reader, clock: Now) -> ControlEvidence:
    async with runtime_of(request).require_pool().acquire() as conn:
        return await control_evidence(conn, control_id, clock.now())
