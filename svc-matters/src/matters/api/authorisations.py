"""HTTP routes of company authorisation (多级授权): a company lets a person see and act on its
applications. Modelled in svc-matters until svc-licences offers authorisation (issue 5)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.pagination import CursorQuery, LimitQuery, Page
from matters.schemas import AuthorisationCreate, AuthorisationView
from matters.service import authorisations as service

router = APIRouter(tags=["authorisations"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

AuthorisationId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/v1/authorisations", dependencies=[needs_scope("applications:write")],
             status_code=201, response_model=AuthorisationView,
             summary="A company authorises a person to see and act on its applications",
             description="Company accounts only (403 otherwise). A person already authorised by the company is a 409.",
             responses={201: {"model": AuthorisationView}, 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def grant(database: DatabaseDep, response: Response, principal: CurrentPrincipal, body: AuthorisationCreate,
                idempotency_key: IdempotencyKey = None) -> AuthorisationView:
    authorisation = await service.grant(database, principal, body, idempotency_key)
    response.headers["Location"] = f"/v1/authorisations/{authorisation.id}"
    return authorisation


@router.get("/v1/authorisations", dependencies=[needs_scope("applications:read")],
            summary="Authorisations: a company's grants, or those a person received (ops and inspectors: all)")
async def list_authorisations(
    session: SessionDep, principal: CurrentPrincipal, limit: LimitQuery = 20, cursor: CursorQuery = None,
    include_revoked: Annotated[bool, Query(description="Also list revoked grants")] = False,
) -> Page[AuthorisationView]:
    return await service.list_authorisations(session, principal, limit=limit, cursor=cursor,
                                             include_revoked=include_revoked)


@router.get("/v1/authorisations/{authorisation_id}", dependencies=[needs_scope("applications:read")],
            summary="One authorisation (its company or its grantee)",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_authorisation(session: SessionDep, principal: CurrentPrincipal,
                            authorisation_id: AuthorisationId) -> AuthorisationView:
    return await service.get_authorisation(session, principal, authorisation_id)


@router.delete("/v1/authorisations/{authorisation_id}", dependencies=[needs_scope("applications:write")],
               status_code=204, response_class=Response,
               summary="The company revokes an authorisation; the person loses access at once",
               description="Revoking an already revoked authorisation changes nothing and answers 204 again.",
               responses={404: PROBLEM_RESPONSES[404]})
async def revoke(database: DatabaseDep, principal: CurrentPrincipal, authorisation_id: AuthorisationId) -> Response:
    await service.revoke(database, principal, authorisation_id)
    return Response(status_code=204)
