"""The check catalogue over REST."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from guardian_common.auth import Reader
from guardian_common.errors import NotFound
from guardian_common.events import CheckInfo, Severity
from guardian_evaluator.catalogue.service import catalogue_version
from guardian_evaluator.registry import REGISTRY

router = APIRouter(prefix="/api/v1/checks", tags=["checks"])


class CheckOut(CheckInfo):
    parameters: dict[str, object]


class CheckList(BaseModel):
    catalogue_version: str
    total: int
    items: list[CheckOut]


def _out(check_id: str) -> CheckOut:
    chk = REGISTRY.get(check_id)
    return CheckOut(**chk.info().model_dump(), parameters=dict(chk.parameters))


@router.get("", response_model=CheckList, summary="List the checks")
async def list_checks(
    _: Reader,
    service: Annotated[str | None, Query(description="AWS service, e.g. s3")] = None,
    resource_type: Annotated[str | None, Query(description="e.g. AWS::S3::Bucket")] = None,
    severity: Severity | None = None,
) -> CheckList:
    items = [
        _out(c.id)
        for c in REGISTRY
        if (service is None or c.service == service)
        and (resource_type is None or c.resource_type == resource_type)
        and (severity is None or c.severity == severity)
    ]
    return CheckList(catalogue_version=catalogue_version(), total=len(items), items=items)


@router.get("/{check_id}", response_model=CheckOut, summary="One check")
async def get_check(check_id: str, _: Reader) -> CheckOut:
    if check_id not in REGISTRY:
        raise NotFound(f"No check has the id {check_id!r}.", code="check_not_found")
    return _out(check_id)
