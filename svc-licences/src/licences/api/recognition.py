"""长三角: the trust list (public, signed) and its management, and recognition of partners' documents."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from kit.auth import PUBLIC_ROUTE, needs_scope
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from licences.api.deps import OpsAdmin, RecognitionOfficer
from licences.issuer import IssuerDep
from licences.schemas import RecognitionRequest, TrustedIssuerCreate
from licences.service import recognition

router = APIRouter(tags=["recognition"])
IssuerId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/v1/trust-list", dependencies=[PUBLIC_ROUTE],
            summary="The trust list of partner issuers, and the same signed as a JWT (`document`)")
async def trust_list(session: SessionDep, issuer: IssuerDep) -> dict[str, Any]:
    return await recognition.trust_list(session, issuer)


ISSUER_RULE = (422, "`valid_until` is after `valid_from`")


@router.post("/v1/trust-list/issuers", dependencies=[needs_scope("recognition:admin")],
             openapi_extra=business_rules(ISSUER_RULE),
             status_code=201, summary="Ops: add a partner issuer with its keys",
             responses={409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422], 403: PROBLEM_RESPONSES[403]})
async def add_issuer(request: Request, _: OpsAdmin, body: TrustedIssuerCreate) -> dict[str, Any]:
    async with request.app.state.database.transaction() as session:
        return await recognition.add_trusted_issuer(session, body)


@router.put("/v1/trust-list/issuers/{issuer_id}", dependencies=[needs_scope("recognition:admin")],
            openapi_extra=business_rules(ISSUER_RULE),
            summary="Ops: replace a partner issuer's entry (e.g. rotated keys)",
            responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422], 403: PROBLEM_RESPONSES[403]})
async def update_issuer(request: Request, _: OpsAdmin, issuer_id: IssuerId, body: TrustedIssuerCreate) -> dict[str, Any]:
    async with request.app.state.database.transaction() as session:
        return await recognition.update_trusted_issuer(session, issuer_id, body)


@router.delete("/v1/trust-list/issuers/{issuer_id}", dependencies=[needs_scope("recognition:admin")],
               status_code=204, response_class=Response,
               summary="Ops: remove a partner issuer", responses={404: PROBLEM_RESPONSES[404]})
async def remove_issuer(request: Request, _: OpsAdmin, issuer_id: IssuerId) -> Response:
    async with request.app.state.database.transaction() as session:
        await recognition.remove_trusted_issuer(session, issuer_id)
    return Response(status_code=204)


@router.post("/v1/recognitions", dependencies=[needs_scope("recognition:write")],
             summary="Verify a partner's document against the trust list and record the recognition",
             responses={401: PROBLEM_RESPONSES[401], 403: PROBLEM_RESPONSES[403], 422: PROBLEM_RESPONSES[422]})
async def recognise(request: Request, principal: RecognitionOfficer, body: RecognitionRequest) -> dict[str, Any]:
    async with request.app.state.database.transaction() as session:
        return await recognition.recognise(session, principal, body.document)


@router.get("/v1/recognitions", dependencies=[needs_scope("recognition:read")],
            summary="Partner documents checked, newest first")
async def list_recognitions(session: SessionDep, _: RecognitionOfficer,
                            limit: Annotated[int, Query(ge=1, le=100)] = 50) -> dict[str, Any]:
    return {"items": await recognition.list_recognitions(session, limit)}
