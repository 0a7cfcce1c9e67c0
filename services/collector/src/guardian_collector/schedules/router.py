from __future__ import annotations

from fastapi import APIRouter, Request, Response

from guardian_collector.schedules.schemas import ScheduleIn, ScheduleOut, ScheduleUpdate
from guardian_collector.schedules.service import ScheduleService
from guardian_common.auth import Editor, Reader
from guardian_common.service import runtime_of

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


def _service(request: Request) -> ScheduleService:
    service: ScheduleService = runtime_of(request).extras["schedules"]
    return service


@router.post("", response_model=ScheduleOut, status_code=201, summary="Create a scheduled scan")
async def create_schedule(request: Request, body: ScheduleIn, principal: Editor) -> ScheduleOut:
    return await _service(request).create(body, principal.name or principal.key_id, actor=principal)


@router.get("", response_model=list[ScheduleOut], summary="Scheduled scans")
async def list_schedules(request: Request, _: Reader) -> list[ScheduleOut]:
    return await _service(request).all()


@router.get("/{schedule_id}", response_model=ScheduleOut, summary="A schedule with its recent runs")
async def get_schedule(request: Request, schedule_id: str, _: Reader) -> ScheduleOut:
    return await _service(request).get(schedule_id)


@router.patch("/{schedule_id}", response_model=ScheduleOut, summary="Change a schedule")
async def update_schedule(request: Request, schedule_id: str, body: ScheduleUpdate, principal: Editor) -> ScheduleOut:
    return await _service(request).update(schedule_id, body, actor=principal)


@router.delete("/{schedule_id}", status_code=204, summary="Delete a schedule")
async def delete_schedule(request: Request, schedule_id: str, principal: Editor) -> Response:
    await _service(request).delete(schedule_id, actor=principal)
    return Response(status_code=204)


@router.post("/{schedule_id}/run", response_model=ScheduleOut, summary="Run a schedule now")
async def run_schedule(request: Request, schedule_id: str, _: Editor) -> ScheduleOut:
    return await _service(request).run_now(schedule_id)
