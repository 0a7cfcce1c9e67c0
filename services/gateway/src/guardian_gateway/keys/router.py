from __future__ import annotations

from fastapi import APIRouter, Request

from guardian_common.service import runtime_of
from guardian_gateway.auth import GatewayAdmin
from guardian_gateway.keys.schemas import KeyCreated, KeyIn, KeyList, KeyOut
from guardian_gateway.keys.service import KeyService

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


def _service(request: Request) -> KeyService:
    service: KeyService = runtime_of(request).extras["keys"]
    return service


@router.post("", response_model=KeyCreated, status_code=201, summary="Create an API key (shown once)")
async def create_key(request: Request, body: KeyIn, principal: GatewayAdmin) -> KeyCreated:
    return await _service(request).create(body, created_by=principal.name or principal.key_id, actor=principal)


@router.get("", response_model=KeyList, summary="API keys, without their secrets")
async def list_keys(request: Request, _: GatewayAdmin) -> KeyList:
    return KeyList(items=await _service(request).all())


@router.delete("/{key_id}", response_model=KeyOut, summary="Revoke an API key")
async def revoke_key(request: Request, key_id: str, principal: GatewayAdmin) -> KeyOut:
    return await _service(request).revoke(key_id, actor=principal)
