"""Routes of the licences themselves: the caller's licences, one licence (fetching another's needs a
reason), its PDF and history, new versions, status changes, 亮证/亮数 for the holder, shipments."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from kit.audit import record_audit
from kit.auth import CurrentPrincipal, needs_scope
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES, NotFound
from kit.openapi import business_rules
from kit.pagination import CursorQuery, LimitQuery, Page, newest_first_after, newest_first_cursor
from licences import pdf
from licences.api.deps import IdempotencyKey, LicenceId, LicenceOfficer, created
from licences.issuer import IssuerDep
from licences.models import Licence, LicenceStatusChange, LicenceVersion
from licences.schemas import (
    DisposalCreate,
    LicenceHistory,
    LicenceVersionView,
    LicenceView,
    QuarantineDocumentCreate,
    ShipmentCreate,
    StatusAction,
    StatusChangeView,
    VersionCreate,
)
from licences.service import access, issuance, recognition, reminders, status, verification

router = APIRouter(tags=["licences"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

UseCause = Annotated[str | None, Header(alias="X-Use-Cause", max_length=2000,
                                        description="Why another's licence is fetched (required unless you hold it); "
                                                    "URL-encode non-ASCII text")]


def _cause(header: str | None, query: str | None) -> str | None:
    from urllib.parse import unquote

    return query if query is not None else (unquote(header) if header is not None else None)


@router.get("/v1/licences", dependencies=[needs_scope("licences:read")],
            summary="Licences: the caller's own; staff may list a holder's (by subject), audited",
            responses={404: PROBLEM_RESPONSES[404]})
async def list_licences(
    request: Request, principal: CurrentPrincipal, limit: LimitQuery = 20, cursor: CursorQuery = None,
    holder: Annotated[str | None, Query(max_length=128, description="Staff: the holder's subject")] = None,
    type_code: Annotated[str | None, Query(max_length=32)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(active|suspended|revoked|expired)$")] = None,
) -> Page[LicenceView]:
    if holder is not None and holder != principal.subject and not principal.has_role(*access.OFFICIAL_READERS):
        raise NotFound("只能查看本人的证照 / you can list only your own licences")
    subject = holder or principal.subject
    own = subject == principal.subject
    query = select(Licence).where(Licence.holder_subject == subject)
    if type_code:
        query = query.where(Licence.type_code == type_code)
    if status_:
        query = query.where(Licence.status == status_)
    after = newest_first_after(cursor, Licence.issued_at, Licence.id)
    if after is not None:
        query = query.where(after)
    async with request.app.state.database.transaction() as session:
        rows = (await session.scalars(query.order_by(Licence.issued_at.desc(), Licence.id.desc()).limit(limit + 1))).all()
        if not own and rows:
            await record_audit(session, principal, "licence.list", "holder", subject, owner=subject,
                               details={"licences": [r.id for r in rows[:limit]]})
    return Page(items=[access.licence_view(r, reveal=own) for r in rows[:limit]],
                next_cursor=newest_first_cursor(rows[limit - 1].issued_at, rows[limit - 1].id) if len(rows) > limit else None)


@router.post("/v1/licences/quarantine-documents", dependencies=[needs_scope("licences:manage")],
             openapi_extra=business_rules((422, "`holder_code` is a valid code of `holder_code_type`, check digit included")),
             status_code=201, response_model=LicenceView,
             summary="Issue a year-long forestry pest transport quarantine requirement document (调运检疫要求书)",
             responses={422: PROBLEM_RESPONSES[422]})
async def issue_quarantine_document(request: Request, issuer: IssuerDep, principal: LicenceOfficer,
                                    body: QuarantineDocumentCreate, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    async def create(session: Any) -> tuple[int, Any]:
        licence = await recognition.issue_quarantine_document(session, issuer, principal, body)
        return 201, access.licence_view(licence, reveal=True).model_dump(mode="json")

    return await created(request, f"licences:qd:{principal.subject}", idempotency_key, body.model_dump(mode="json"), create)


@router.get("/v1/licences/{licence_id}", dependencies=[needs_scope("licences:read")], response_model=LicenceView,
            summary="One licence: the holder sees it whole; others need a grant or an official role, and a reason",
            description="Anyone but the holder must give `X-Use-Cause` (or `use_cause`): the fetch is recorded for "
                        "the holder and in the audit log. Codes are masked for them.",
            responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def get_licence(request: Request, principal: CurrentPrincipal, licence_id: LicenceId,
                      x_use_cause: UseCause = None,
                      use_cause: Annotated[str | None, Query(max_length=500)] = None) -> LicenceView:
    async with request.app.state.database.transaction() as session:
        return await access.fetch_licence(session, principal, licence_id, _cause(x_use_cause, use_cause))


@router.get("/v1/licences/{licence_id}/pdf", dependencies=[needs_scope("licences:read")],
            response_class=Response, summary="The printable copy (PDF) with its QR code",
            responses={200: {"content": {"application/pdf": {}}}, 404: PROBLEM_RESPONSES[404]})
async def get_pdf(request: Request, principal: CurrentPrincipal, licence_id: LicenceId, x_use_cause: UseCause = None,
                  use_cause: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    async with request.app.state.database.transaction() as session:
        view = await access.fetch_licence(session, principal, licence_id, _cause(x_use_cause, use_cause), scope="pdf")
    return Response(pdf.render(view), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="licence-{view.id}.pdf"'})


@router.get("/v1/licences/{licence_id}/history", dependencies=[needs_scope("licences:read")],
            response_model=LicenceHistory,
            summary="Every version (issue, change, renewal, re-issue), status change and expiry reminder",
            responses={404: PROBLEM_RESPONSES[404]})
async def history(session: SessionDep, principal: CurrentPrincipal, licence_id: LicenceId) -> LicenceHistory:
    licence = await session.get(Licence, licence_id)
    if licence is None or not (access.is_holder(licence, principal) or principal.has_role(*access.OFFICIAL_READERS)):
        raise NotFound("证照不存在 / no such licence")
    versions = (await session.scalars(select(LicenceVersion).where(LicenceVersion.licence_id == licence_id)
                                      .order_by(LicenceVersion.version))).all()
    changes = (await session.scalars(select(LicenceStatusChange).where(LicenceStatusChange.licence_id == licence_id)
                                     .order_by(LicenceStatusChange.id))).all()
    sent = await reminders.reminders_of(session, licence_id)
    return LicenceHistory(
        versions=[LicenceVersionView(version=v.version, kind=v.kind, identifier=v.identifier, valid_from=v.valid_from,
                                     valid_until=v.valid_until, data=v.data, reason=v.reason, actor=v.actor,
                                     created_at=v.created_at) for v in versions],
        statuses=[StatusChangeView(from_status=c.from_status, to_status=c.to_status, reason=c.reason, actor=c.actor,
                                   at=c.at) for c in changes],
        reminders=[{"days_before": r.days_before, "version": r.version, "valid_until": r.valid_until.isoformat(),
                    "sent_at": r.sent_at.isoformat()} for r in sent])


@router.post("/v1/licences/{licence_id}/versions", dependencies=[needs_scope("licences:manage")],
             status_code=201, response_model=LicenceView,
             summary="变更 / 延续 / 补发: a new version with a new identifier; the history keeps the earlier ones",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def new_version(request: Request, issuer: IssuerDep, principal: LicenceOfficer, licence_id: LicenceId,
                      body: VersionCreate, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    async def create(session: Any) -> tuple[int, Any]:
        licence = await session.get(Licence, licence_id, with_for_update=True)
        if licence is None:
            raise NotFound("证照不存在 / no such licence")
        await issuance.new_version(session, issuer, licence, kind=body.kind, actor=principal.subject,
                                   reason=body.reason, data_changes=body.data_changes, valid_until=body.valid_until)
        return 201, access.licence_view(licence, reveal=False).model_dump(mode="json")

    return await created(request, f"licences:version:{licence_id}", idempotency_key, body.model_dump(mode="json"), create)


def _status_route(action: str, summary: str) -> None:
    @router.post(f"/v1/licences/{{licence_id}}/{action}", dependencies=[needs_scope("licences:manage")],
                 response_model=LicenceView, summary=summary,
                 name=f"licence_{action}",
                 responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
    async def change(request: Request, principal: LicenceOfficer, licence_id: LicenceId, body: StatusAction) -> LicenceView:
        async with request.app.state.database.transaction() as session:
            licence = await status.change_status(session, licence_id, action, actor=principal.subject,
                                                 reason=body.reason.strip())
            return access.licence_view(licence, reveal=False)


_status_route("suspend", "Suspend an active licence (暂停), with a reason")
_status_route("revoke", "Revoke a licence (撤销), with a reason: final")
_status_route("reinstate", "Reinstate a suspended licence (恢复), with a reason")


@router.post("/v1/licences/{licence_id}/presentations", dependencies=[needs_scope("licences:write")],
             status_code=201, tags=["verification"],
             summary="亮证: a short-lived signed presentation (CWT in base45) and its QR code (SVG)",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def create_presentation(request: Request, issuer: IssuerDep, principal: CurrentPrincipal, licence_id: LicenceId,
                              idempotency_key: IdempotencyKey = None) -> JSONResponse:
    async def create(session: Any) -> tuple[int, Any]:
        return 201, await verification.create_presentation(session, issuer, principal, licence_id)

    return await created(request, f"licences:pres:{principal.subject}", idempotency_key, {"licence_id": licence_id}, create)


@router.post("/v1/licences/{licence_id}/data-handles", dependencies=[needs_scope("licences:write")],
             status_code=201, tags=["verification"],
             summary="亮数: a one-time handle (and QR) to the live data of a construction-waste disposal certificate",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def create_data_handle(request: Request, issuer: IssuerDep, principal: CurrentPrincipal, licence_id: LicenceId,
                             idempotency_key: IdempotencyKey = None) -> JSONResponse:
    async def create(session: Any) -> tuple[int, Any]:
        return 201, await verification.create_data_handle(session, issuer, principal, licence_id)

    return await created(request, f"licences:data:{principal.subject}", idempotency_key, {"licence_id": licence_id}, create)


@router.get("/v1/licences/{licence_id}/data-handles", dependencies=[needs_scope("licences:read")],
            tags=["verification"],
            summary="亮数 handles of the holder's licence: who redeemed which, when", responses={404: PROBLEM_RESPONSES[404]})
async def list_data_handles(session: SessionDep, principal: CurrentPrincipal, licence_id: LicenceId) -> dict[str, Any]:
    return {"items": await verification.list_redemptions(session, principal, licence_id)}


@router.post("/v1/licences/{licence_id}/disposals", dependencies=[needs_scope("licences:write")],
             status_code=201, tags=["verification"],
             summary="Record a load disposed under a construction-waste disposal certificate (quota used)",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def record_disposal(request: Request, principal: CurrentPrincipal, licence_id: LicenceId, body: DisposalCreate,
                          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    async def create(session: Any) -> tuple[int, Any]:
        return 201, await verification.record_disposal(session, principal, licence_id, body.vehicle_plate, body.volume_m3)

    return await created(request, f"licences:disposal:{principal.subject}", idempotency_key,
                         {"licence_id": licence_id, **body.model_dump(mode="json")}, create)


@router.get("/v1/licences/{licence_id}/fetches", dependencies=[needs_scope("licences:read")], tags=["grants"],
            summary="Who fetched the holder's licence, when and why (useCause)", responses={404: PROBLEM_RESPONSES[404]})
async def list_fetches(session: SessionDep, principal: CurrentPrincipal, licence_id: LicenceId, limit: LimitQuery = 20,
                       cursor: CursorQuery = None) -> Page[Any]:
    return await access.list_fetches(session, principal, licence_id, limit=limit, cursor=cursor)


@router.post("/v1/licences/{licence_id}/shipments", dependencies=[needs_scope("licences:write")],
             status_code=201, tags=["recognition"],
             summary="Record a shipment under a year-long quarantine requirement document",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def record_shipment(request: Request, principal: CurrentPrincipal, licence_id: LicenceId, body: ShipmentCreate,
                          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    async def create(session: Any) -> tuple[int, Any]:
        return 201, await recognition.record_shipment(session, principal, licence_id, body)

    return await created(request, f"licences:shipment:{principal.subject}", idempotency_key,
                         {"licence_id": licence_id, **body.model_dump(mode="json")}, create)


@router.get("/v1/licences/{licence_id}/shipments", dependencies=[needs_scope("licences:read")], tags=["recognition"],
            summary="Shipments recorded under a quarantine requirement document", responses={404: PROBLEM_RESPONSES[404]})
async def list_shipments(session: SessionDep, principal: CurrentPrincipal, licence_id: LicenceId) -> dict[str, Any]:
    return {"items": await recognition.shipments_of(session, principal, licence_id)}
