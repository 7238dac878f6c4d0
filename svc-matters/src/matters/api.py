"""HTTP routes of svc-matters: matters (事项) and applications (办件)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from kit.auth import CurrentPrincipal, Principal, Role, require_roles
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.pagination import CursorQuery, LimitQuery, Page
from matters import service
from matters.schemas import (
    ApplicationCreate,
    ApplicationListItem,
    ApplicationStatus,
    ApplicationView,
    MatterDetail,
    MatterSummary,
    TimelineStep,
)

router = APIRouter(responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

MatterCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
ApplicationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Applicant = Annotated[Principal, Depends(require_roles(Role.APPLICANT))]


@router.get("/v1/matters", tags=["matters"], summary="List the matters (事项) of the catalogue")
async def list_matters(session: SessionDep, _: CurrentPrincipal, limit: LimitQuery = 20, cursor: CursorQuery = None,
                       kind: Annotated[Literal["licence", "filing"] | None, Query()] = None,
                       q: Annotated[str | None, Query(max_length=50, description="Text in the code or name")] = None,
                       ) -> Page[MatterSummary]:
    return await service.list_matters(session, limit=limit, cursor=cursor, kind=kind, q=q)


@router.get("/v1/matters/{code}", tags=["matters"], summary="One matter with its form fields and materials",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_matter(session: SessionDep, _: CurrentPrincipal, code: MatterCode) -> MatterDetail:
    return await service.get_matter(session, code)


@router.post("/v1/applications", tags=["applications"], status_code=201, summary="Submit an application (办件)",
             responses={201: {"model": ApplicationView}, 422: PROBLEM_RESPONSES[422]}, response_model=ApplicationView)
async def submit_application(
    request: Request, body: ApplicationCreate, principal: Applicant,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                                  description="Repeat a request safely: same key, same result")] = None,
) -> JSONResponse:
    status, payload = await service.submit_application(request.app.state.database, principal, body, idempotency_key)
    return JSONResponse(payload, status_code=status, headers={"Location": f"/v1/applications/{payload['id']}"})


@router.get("/v1/applications", tags=["applications"],
            summary="Applications the caller may see (an applicant: their own; staff: all)")
async def list_applications(session: SessionDep, principal: CurrentPrincipal, limit: LimitQuery = 20,
                            cursor: CursorQuery = None, status: ApplicationStatus | None = None,
                            matter_code: Annotated[str | None, Query(max_length=32)] = None,
                            ) -> Page[ApplicationListItem]:
    return await service.list_applications(session, principal, limit=limit, cursor=cursor, status=status,
                                           matter_code=matter_code)


@router.get("/v1/applications/{application_id}", tags=["applications"], summary="An application and its status",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_application(session: SessionDep, principal: CurrentPrincipal, application_id: ApplicationId) -> ApplicationView:
    return await service.get_application(session, principal, application_id)


@router.get("/v1/applications/{application_id}/timeline", tags=["applications"],
            summary="Every step of an application with its time and actor", responses={404: PROBLEM_RESPONSES[404]})
async def get_timeline(session: SessionDep, principal: CurrentPrincipal, application_id: ApplicationId,
                       limit: Annotated[int, Query(ge=1, le=200)] = 100, cursor: CursorQuery = None) -> Page[TimelineStep]:
    return await service.get_timeline(session, principal, application_id, limit=limit, cursor=cursor)
