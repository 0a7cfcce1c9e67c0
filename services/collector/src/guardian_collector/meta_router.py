from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from guardian_collector.collectors import all_collectors
from guardian_collector.collectors.base import COLLECTORS
from guardian_collector.policy import read_only_policy
from guardian_collector.scans.schemas import CollectorOut
from guardian_common.auth import Reader

router = APIRouter(prefix="/api/v1", tags=["collectors"])


@router.get("/collectors", response_model=list[CollectorOut], summary="The collectors and the calls they make")
async def list_collectors(_: Reader) -> list[CollectorOut]:
    all_collectors()
    return [
        CollectorOut(
            service=c.service,
            global_service=c.global_service,
            resource_types=list(c.resource_types),
            permissions=sorted(c.permissions),
        )
        for c in sorted(COLLECTORS.values(), key=lambda c: c.service)
    ]


@router.get("/iam-policy", summary="The read-only IAM policy the collectors need")
async def iam_policy(_: Reader) -> dict[str, Any]:
    return read_only_policy()
