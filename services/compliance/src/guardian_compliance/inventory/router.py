from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from guardian_common.auth import Reader
from guardian_common.service import runtime_of
from guardian_compliance.inventory.encryption import ENCRYPTION_AT_REST_CHECKS, EncryptionInventory, build
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


encryption_router = APIRouter(prefix="/api/v1/inventory", tags=["inventory"])


@encryption_router.get(
    "/encryption", response_model=EncryptionInventory, summary="Every data store, encrypted at rest or not, and its key"
)
async def encryption_inventory(
    request: Request,
    _: Reader,
    state: Literal["encrypted", "unencrypted", "unknown"] | None = None,
    resource_type: str | None = None,
    account_id: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    region: str | None = None,
) -> EncryptionInventory:
    async with runtime_of(request).require_pool().acquire() as conn:
        rows = await InventoryRepository(conn).encryption_rows(
            ENCRYPTION_AT_REST_CHECKS, resource_type=resource_type, account_id=account_id, region=region
        )
    return build([dict(r) for r in rows], state)
