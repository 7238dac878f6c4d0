"""授权调证: grants to fetch a licence, their delegation and revocation."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.pagination import CursorQuery, LimitQuery, Page
from licences.schemas import GrantCreate, GrantView
from licences.service import access

router = APIRouter(tags=["grants"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})
GrantId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/v1/grants", dependencies=[needs_scope("licences:write")], status_code=201, response_model=GrantView,
             summary="The holder grants a party the right to fetch a licence; a delegable grant's grantee may delegate once",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def create_grant(database: DatabaseDep, response: Response, principal: CurrentPrincipal, body: GrantCreate,
                       idempotency_key: IdempotencyKey = None) -> GrantView:
    grant = await access.create_grant(database, principal, body, idempotency_key)
    response.headers["Location"] = f"/v1/grants/{grant.id}"
    return grant


@router.get("/v1/grants", dependencies=[needs_scope("licences:read")],
            summary="Grants the caller gave, received, or that concern the caller's licences")
async def list_grants(session: SessionDep, principal: CurrentPrincipal, limit: LimitQuery = 20, cursor: CursorQuery = None,
                      licence_id: Annotated[str | None, Query(max_length=32)] = None,
                      include_revoked: bool = False) -> Page[GrantView]:
    return await access.list_grants(session, principal, licence_id=licence_id, limit=limit, cursor=cursor,
                                    include_revoked=include_revoked)


@router.get("/v1/grants/{grant_id}", dependencies=[needs_scope("licences:read")],
            response_model=GrantView, responses={404: PROBLEM_RESPONSES[404]})
async def get_grant(session: SessionDep, principal: CurrentPrincipal, grant_id: GrantId) -> GrantView:
    return await access.get_grant(session, principal, grant_id)


@router.delete("/v1/grants/{grant_id}", dependencies=[needs_scope("licences:write")],
               status_code=204, response_class=Response,
               summary="Revoke a grant and every grant delegated from it (grantor or holder); again is 204",
               responses={404: PROBLEM_RESPONSES[404]})
async def revoke_grant(database: DatabaseDep, principal: CurrentPrincipal, grant_id: GrantId) -> Response:
    await access.revoke_grant(database, principal, grant_id)
    return Response(status_code=204)
