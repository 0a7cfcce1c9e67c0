from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from guardian_collector.scans.schemas import CollectionErrorOut, ScanList, ScanOut, ScanRequest
from guardian_collector.scans.service import ScanService
from guardian_common.auth import Editor, Reader
from guardian_common.service import runtime_of

router = APIRouter(prefix="/api/v1/scans", tags=["scans"])


def _service(request: Request) -> ScanService:
    service: ScanService = runtime_of(request).extras["scans"]
    return service


@router.post("", response_model=ScanOut, status_code=202, summary="Start a scan")
async def start_scan(request: Request, body: ScanRequest, principal: Editor) -> ScanOut:
    return await _service(request).start(body, requested_by=principal.name or principal.key_id)


@router.get("", response_model=ScanList, summary="Recent scans")
async def list_scans(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ScanList:
    return ScanList(items=await _service(request).recent(limit))


@router.get("/{scan_id}", response_model=ScanOut, summary="A scan with its progress per region and service")
async def get_scan(request: Request, scan_id: str, _: Reader) -> ScanOut:
    return await _service(request).get(scan_id)


@router.get("/{scan_id}/errors", response_model=list[CollectionErrorOut], summary="What a scan could not read")
async def scan_errors(request: Request, scan_id: str, _: Reader) -> list[CollectionErrorOut]:
    return await _service(request).errors(scan_id)
