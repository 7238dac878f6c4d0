"""Routes of the licences themselves: the caller's licences, one licence (fetching another's needs a
reason), its PDF and history, new versions, status changes, 亮证/亮数 for the holder, shipments."""
from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.openapi import business_rules
from kit.pagination import CursorQuery, LimitQuery, Page
from licences.api.deps import IssuerDep, LicenceId, LicenceOfficer
from licences.schemas import (
    DataHandleView,
    DisposalCreate,
    LicenceHistory,
    LicenceView,
    LiveData,
    PresentationAlgorithm,
    PresentationView,
    QuarantineDocumentCreate,
    ShipmentCreate,
    ShipmentView,
    StatusAction,
    VersionCreate,
)
from licences.service import access, issuance, pdf, recognition, status, verification

router = APIRouter(tags=["licences"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

UseCause = Annotated[str | None, Header(alias="X-Use-Cause", max_length=2000,
                                        description="Why another's licence is fetched (required unless you hold it); "
                                                    "URL-encode non-ASCII text")]


def _cause(header: str | None, query: str | None) -> str | None:
    return query if query is not None else (unquote(header) if header is not None else None)


@router.get("/v1/licences", dependencies=[needs_scope("licences:read")],
            summary="Licences: the caller's own; staff may list a holder's (by subject), audited",
            responses={404: PROBLEM_RESPONSES[404]})
async def list_licences(
    database: DatabaseDep, principal: CurrentPrincipal, limit: LimitQuery = 20, cursor: CursorQuery = None,
    holder: Annotated[str | None, Query(max_length=128, description="Staff: the holder's subject")] = None,
    type_code: Annotated[str | None, Query(max_length=32)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(active|suspended|revoked|expired)$")] = None,
) -> Page[LicenceView]:
    return await access.list_licences(database, principal, holder=holder, type_code=type_code, status=status_,
                                      limit=limit, cursor=cursor)


@router.post("/v1/licences/quarantine-documents", dependencies=[needs_scope("licences:manage")],
             openapi_extra=business_rules((422, "`holder_code` is a valid code of `holder_code_type`, check digit included")),
             status_code=201, response_model=LicenceView,
             summary="Issue a year-long forestry pest transport quarantine requirement document (调运检疫要求书)",
             responses={422: PROBLEM_RESPONSES[422]})
async def issue_quarantine_document(database: DatabaseDep, issuer: IssuerDep, principal: LicenceOfficer,
                                    body: QuarantineDocumentCreate, idempotency_key: IdempotencyKey = None) -> LicenceView:
    return await recognition.create_quarantine_document(database, issuer, principal, body, idempotency_key)


@router.get("/v1/licences/{licence_id}", dependencies=[needs_scope("licences:read")], response_model=LicenceView,
            summary="One licence: the holder sees it whole; others need a grant or an official role, and a reason",
            description="Anyone but the holder must give `X-Use-Cause` (or `use_cause`): the fetch is recorded for "
                        "the holder and in the audit log. Codes are masked for them.",
            responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def get_licence(database: DatabaseDep, principal: CurrentPrincipal, licence_id: LicenceId,
                      x_use_cause: UseCause = None,
                      use_cause: Annotated[str | None, Query(max_length=500)] = None) -> LicenceView:
    return await access.fetch_licence(database, principal, licence_id, _cause(x_use_cause, use_cause))


@router.get("/v1/licences/{licence_id}/pdf", dependencies=[needs_scope("licences:read")],
            response_class=Response, summary="The printable copy (PDF) with its QR code",
            responses={200: {"content": {"application/pdf": {}}}, 404: PROBLEM_RESPONSES[404]})
async def get_pdf(database: DatabaseDep, principal: CurrentPrincipal, licence_id: LicenceId, x_use_cause: UseCause = None,
                  use_cause: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    view = await access.fetch_licence(database, principal, licence_id, _cause(x_use_cause, use_cause), scope="pdf")
    return Response(pdf.render(view), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="licence-{view.id}.pdf"'})


@router.get("/v1/licences/{licence_id}/history", dependencies=[needs_scope("licences:read")],
            response_model=LicenceHistory,
            summary="Every version (issue, change, renewal, re-issue), status change and expiry reminder",
            responses={404: PROBLEM_RESPONSES[404]})
async def history(session: SessionDep, principal: CurrentPrincipal, licence_id: LicenceId) -> LicenceHistory:
    return await access.licence_history(session, principal, licence_id)


@router.post("/v1/licences/{licence_id}/versions", dependencies=[needs_scope("licences:manage")],
             status_code=201, response_model=LicenceView,
             summary="变更 / 延续 / 补发: a new version with a new identifier; the history keeps the earlier ones",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def new_version(database: DatabaseDep, issuer: IssuerDep, principal: LicenceOfficer, licence_id: LicenceId,
                      body: VersionCreate, idempotency_key: IdempotencyKey = None) -> LicenceView:
    return await issuance.create_version(database, issuer, principal, licence_id, body, idempotency_key)


def _status_route(action: str, summary: str) -> None:
    @router.post(f"/v1/licences/{{licence_id}}/{action}", dependencies=[needs_scope("licences:manage")],
                 response_model=LicenceView, summary=summary,
                 name=f"licence_{action}",
                 responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
    async def change(database: DatabaseDep, principal: LicenceOfficer, licence_id: LicenceId,
                     body: StatusAction) -> LicenceView:
        return await status.take_action(database, principal, licence_id, action, body.reason)


_status_route("suspend", "Suspend an active licence (暂停), with a reason")
_status_route("revoke", "Revoke a licence (撤销), with a reason: final")
_status_route("reinstate", "Reinstate a suspended licence (恢复), with a reason")


@router.post("/v1/licences/{licence_id}/presentations", dependencies=[needs_scope("licences:write")],
             status_code=201, response_model=PresentationView, tags=["verification"],
             summary="亮证: a short-lived signed presentation (CWT in base45) and its QR code (SVG)",
             description="`algorithm=SM2` when the holder, or the partner it is shown to, asks for 国密: the same "
                         "claims signed with SM2-with-SM3 (`LS1:` instead of `LR1:`), verified online the same way.",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def create_presentation(database: DatabaseDep, issuer: IssuerDep, principal: CurrentPrincipal,
                              licence_id: LicenceId, idempotency_key: IdempotencyKey = None,
                              algorithm: Annotated[PresentationAlgorithm, Query()] = "ES256") -> PresentationView:
    return await verification.create_presentation(database, issuer, principal, licence_id, idempotency_key,
                                                  algorithm)


@router.post("/v1/licences/{licence_id}/data-handles", dependencies=[needs_scope("licences:write")],
             status_code=201, response_model=DataHandleView, tags=["verification"],
             summary="亮数: a one-time handle (and QR) to the live data of a construction-waste disposal certificate",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def create_data_handle(database: DatabaseDep, issuer: IssuerDep, principal: CurrentPrincipal,
                             licence_id: LicenceId, idempotency_key: IdempotencyKey = None) -> DataHandleView:
    return await verification.create_data_handle(database, issuer, principal, licence_id, idempotency_key)


@router.get("/v1/licences/{licence_id}/data-handles", dependencies=[needs_scope("licences:read")],
            tags=["verification"],
            summary="亮数 handles of the holder's licence: who redeemed which, when", responses={404: PROBLEM_RESPONSES[404]})
async def list_data_handles(session: SessionDep, principal: CurrentPrincipal, licence_id: LicenceId) -> dict[str, Any]:
    return {"items": await verification.list_redemptions(session, principal, licence_id)}


@router.post("/v1/licences/{licence_id}/disposals", dependencies=[needs_scope("licences:write")],
             status_code=201, response_model=LiveData, tags=["verification"],
             summary="Record a load disposed under a construction-waste disposal certificate (quota used)",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def record_disposal(database: DatabaseDep, principal: CurrentPrincipal, licence_id: LicenceId,
                          body: DisposalCreate, idempotency_key: IdempotencyKey = None) -> LiveData:
    return await verification.record_disposal(database, principal, licence_id, body, idempotency_key)


@router.get("/v1/licences/{licence_id}/fetches", dependencies=[needs_scope("licences:read")], tags=["grants"],
            summary="Who fetched the holder's licence, when and why (useCause)", responses={404: PROBLEM_RESPONSES[404]})
async def list_fetches(session: SessionDep, principal: CurrentPrincipal, licence_id: LicenceId, limit: LimitQuery = 20,
                       cursor: CursorQuery = None) -> Page[Any]:
    return await access.list_fetches(session, principal, licence_id, limit=limit, cursor=cursor)


@router.post("/v1/licences/{licence_id}/shipments", dependencies=[needs_scope("licences:write")],
             status_code=201, response_model=ShipmentView, tags=["recognition"],
             summary="Record a shipment under a year-long quarantine requirement document",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def record_shipment(database: DatabaseDep, principal: CurrentPrincipal, licence_id: LicenceId,
                          body: ShipmentCreate, idempotency_key: IdempotencyKey = None) -> ShipmentView:
    return await recognition.record_shipment(database, principal, licence_id, body, idempotency_key)


@router.get("/v1/licences/{licence_id}/shipments", dependencies=[needs_scope("licences:read")], tags=["recognition"],
            summary="Shipments recorded under a quarantine requirement document", responses={404: PROBLEM_RESPONSES[404]})
async def list_shipments(session: SessionDep, principal: CurrentPrincipal, licence_id: LicenceId) -> dict[str, Any]:
    return {"items": await recognition.shipments_of(session, principal, licence_id)}
