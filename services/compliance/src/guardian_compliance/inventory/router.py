from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from guardian_common.auth import Reader
from guardian_common.service import runtime_of
from guardian_compliance.inventory.repository import InventoryRepository

router = APIRouter(prefix="/api/v1/resources", tags=["inventory"])


class ResourceOut(BaseModel):
    arn: str
    resource_type: str
    name: str
    account_id: str
    region: str
    service: str
    tags: dict[str, str]
    config_hash: str
    configuration: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    state: str


class ResourceList(BaseModel):
    total: int
    items: list[ResourceOut]


@router.get("", response_model=ResourceList, summary="The inventory: resources with their configuration")
async def list_resources(
    request: Request,
    _: Reader,
    resource_type: str | None = None,
    account_id: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    region: str | None = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ResourceList:
    async with runtime_of(request).require_pool().acquire() as conn:
        total, rows = await InventoryRepository(conn).list(
            resource_type=resource_type,
            account_id=account_id,
            region=region,
            include_closed=include_closed,
            limit=limit,
            offset=offset,
        )
    return ResourceList(total=total, items=[ResourceOut(**{k: r[k] for k in ResourceOut.model_fields}) for r in rows])
