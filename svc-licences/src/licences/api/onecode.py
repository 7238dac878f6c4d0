"""一人（企）一码: the holder's rotating code, its scan by an inspector or a window officer, and who scanned it."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from kit.auth import CurrentPrincipal, Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.openapi import business_rules
from licences.api.deps import IssuerDep
from licences.schemas import (
    HolderCodeCreate,
    HolderCodeScan,
    HolderCodeScanList,
    HolderCodeScanView,
    HolderCodeView,
)
from licences.service import onecode

router = APIRouter(tags=["verification"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

# Who scans a holder's code: the inspector in the field, the officer at the window.
Scanner = Annotated[Principal, Depends(require_roles(Role.INSPECTOR, Role.WINDOW_OFFICER))]


@router.post("/v1/licences/holder-codes", dependencies=[needs_scope("licences:write")], status_code=201,
             response_model=HolderCodeView,
             summary="一人（企）一码: the holder's code (QR, 5 minutes, signed like 亮证) showing what they consent to",
             description="`consent`: `licences` (valid licences) and/or `applications` (open applications). A new code "
                         "supersedes the holder's earlier ones at once.",
             responses={422: PROBLEM_RESPONSES[422]})
async def create_holder_code(database: DatabaseDep, issuer: IssuerDep, principal: CurrentPrincipal,
                             body: HolderCodeCreate, idempotency_key: IdempotencyKey = None) -> HolderCodeView:
    return await onecode.create_code(database, issuer, principal, body, idempotency_key)


@router.post("/v1/licences/holder-codes/scan", dependencies=[needs_scope("licences:verify")],
             response_model=HolderCodeScanView,
             summary="Scan a holder's code (inspector, window officer): what the holder consented to, masked; audited",
             description="A code expired or superseded by a newer one is 409 (`reason`), one not signed by this "
                         "platform 422. Every scan, shown or refused, is recorded for the holder and audited.",
             openapi_extra=business_rules((422, "`code` is a holder's code signed by this platform"),
                                          (409, "the code has not expired and no newer code of the holder supersedes it")),
             responses={409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def scan_holder_code(database: DatabaseDep, issuer: IssuerDep, principal: Scanner,
                           body: HolderCodeScan) -> HolderCodeScanView:
    return await onecode.scan(database, issuer, principal, body.code)


@router.get("/v1/licences/holder-codes/scans", dependencies=[needs_scope("licences:read")],
            summary="Who scanned the holder's codes, when, and what it showed (newest 100)")
async def list_scans(session: SessionDep, principal: CurrentPrincipal) -> HolderCodeScanList:
    return HolderCodeScanList(items=await onecode.scans_of(session, principal))
