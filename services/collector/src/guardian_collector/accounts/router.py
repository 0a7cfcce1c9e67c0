from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Query, Request

from guardian_collector.accounts.schemas import (
    AccountIn,
    AccountList,
    AccountOut,
    AccountScanIn,
    AccountUpdate,
    DiscoverIn,
    DiscoverOut,
    RetireIn,
)
from guardian_collector.accounts.service import AccountService, gather_limited
from guardian_collector.scans.schemas import ScanList, ScanOut, ScanRequest
from guardian_collector.scans.service import ScanService
from guardian_common.auth import Admin, Editor, Reader
from guardian_common.errors import BadRequest, ErrorBody, GuardianError
from guardian_common.service import runtime_of

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])

ACCOUNT_ID = r"^[0-9]{12}$"


def _accounts(request: Request) -> AccountService:
    service: AccountService = runtime_of(request).extras["accounts"]
    return service


def _scans(request: Request) -> ScanService:
    service: ScanService = runtime_of(request).extras["scans"]
    return service


@router.get("", response_model=AccountList, summary="Registered AWS accounts")
async def list_accounts(
    request: Request,
    _: Reader,
    state: Literal["active", "retired"] | None = Query(default=None),
    environment: str | None = Query(default=None, max_length=63),
) -> AccountList:
    return AccountList(items=await _accounts(request).find(state, environment))


@router.post("", response_model=AccountOut, status_code=201, summary="Register an account and the role to assume")
async def add_account(request: Request, body: AccountIn, principal: Admin) -> AccountOut:
    return await _accounts(request).add(body, principal)


@router.post(
    "/discover",
    response_model=DiscoverOut,
    summary="Register the members of an AWS Organization; retire those closed or gone",
    responses={424: {"model": ErrorBody, "description": "AWS Organizations could not be read"}},
)
async def discover_accounts(request: Request, body: DiscoverIn, principal: Admin) -> DiscoverOut:
    return await _accounts(request).discover(body, principal)


@router.post(
    "/scans",
    response_model=ScanList,
    status_code=202,
    summary="Scan registered accounts in parallel (all active ones, named ones, or one environment)",
)
async def scan_accounts(request: Request, body: AccountScanIn, principal: Editor) -> ScanList:
    targets = await _accounts(request).access(body.accounts, body.environment)
    if not targets:
        raise BadRequest("No active registered account matches.", code="no_matching_accounts")
    scans = _scans(request)
    requested_by = principal.name or principal.key_id
    results = await gather_limited(
        scans.settings.max_parallel_accounts,
        [scans.start(ScanRequest(services=body.services), requested_by, account=t) for t in targets],
    )
    for result in results:
        # A bad request (unknown service) is the same for every account: report it once.
        if isinstance(result, GuardianError) and result.status < 500:
            raise result
    started = [r for r in results if isinstance(r, ScanOut)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures and not started:
        raise failures[0]
    return ScanList(items=started)


@router.get("/{account_id}", response_model=AccountOut, summary="One registered account")
async def get_account(request: Request, _: Reader, account_id: str) -> AccountOut:
    return await _accounts(request).get(_valid(account_id))


@router.patch("/{account_id}", response_model=AccountOut, summary="Change an account's name, role, tags or regions")
async def update_account(request: Request, account_id: str, body: AccountUpdate, principal: Admin) -> AccountOut:
    return await _accounts(request).update(_valid(account_id), body, principal)


@router.post(
    "/{account_id}/retire", response_model=AccountOut, summary="Stop scanning an account (kept, never deleted)"
)
async def retire_account(request: Request, account_id: str, body: RetireIn, principal: Admin) -> AccountOut:
    return await _accounts(request).retire(_valid(account_id), body.reason, principal)


def _valid(account_id: str) -> str:
    if not re.match(ACCOUNT_ID, account_id):
        raise BadRequest(f"{account_id!r} is not a 12-digit AWS account id.", code="invalid_account_id")
    return account_id
