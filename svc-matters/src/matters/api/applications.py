"""HTTP routes of applications (办件): submission, reading, lists, timeline and actions."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kit.auth import CurrentPrincipal, Role, needs_scope, needs_scope_by
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.pagination import CursorQuery, LimitQuery, Page
from kit.params import IsoDate
from matters.api.deps import Applicant, ApplicationId
from matters.schemas import (
    ActionRequest,
    ApplicationCreate,
    ApplicationListItem,
    ApplicationStatus,
    ApplicationView,
    TimelineStep,
)
from matters.service import applications as service
from matters.service.statuses import APPLICATION_MACHINE

router = APIRouter(tags=["applications"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

# Each action needs the scope of the role that takes it: the applicant's own steps, the window's acceptance
# (受理), the reviewer's review and decision (审查, 决定).
ACTING_ROLE_SCOPES = {Role.APPLICANT: "applications:write", Role.WINDOW_OFFICER: "applications:accept",
                      Role.REVIEWER: "applications:decide"}
ACTION_SCOPES = needs_scope_by("action", {t.action: [ACTING_ROLE_SCOPES[Role(r)] for r in t.roles]
                                          for t in APPLICATION_MACHINE.transitions})


@router.post("/v1/applications", dependencies=[needs_scope("applications:write")],
             status_code=201, summary="Submit an application (办件), or save it as a draft",
             responses={201: {"model": ApplicationView}, 422: PROBLEM_RESPONSES[422]}, response_model=ApplicationView)
async def submit_application(database: DatabaseDep, response: Response, body: ApplicationCreate,
                             principal: Applicant, idempotency_key: IdempotencyKey = None) -> ApplicationView:
    application = await service.submit_application(database, principal, body, idempotency_key)
    response.headers["Location"] = f"/v1/applications/{application.id}"
    return application


@router.get("/v1/applications", dependencies=[needs_scope("applications:read")],
            summary="Applications the caller may see: an applicant their own (and their company's), staff their department's")
async def list_applications(
    session: SessionDep, principal: CurrentPrincipal, limit: LimitQuery = 20, cursor: CursorQuery = None,
    status: ApplicationStatus | None = None,
    matter: Annotated[str | None, Query(max_length=32, description="Matter code")] = None,
    matter_code: Annotated[str | None, Query(max_length=32, include_in_schema=False)] = None,
    overdue: Annotated[bool | None, Query(description="Only applications whose statutory clock ran out (or not)")] = None,
    created_from: Annotated[IsoDate | None, Query(alias="from", description="Filed on or after (Asia/Shanghai date)")] = None,
    created_to: Annotated[IsoDate | None, Query(alias="to", description="Filed on or before (Asia/Shanghai date)")] = None,
    applicant: Annotated[str | None, Query(max_length=128, description="Staff only: applicant subject or company code")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ApplicationListItem]:
    return await service.list_applications(session, principal, limit=limit, cursor=cursor, status=status,
                                           matter_code=matter or matter_code, overdue=overdue,
                                           created_from=created_from, created_to=created_to, applicant=applicant,
                                           department=department)


@router.get("/v1/applications/{application_id}", dependencies=[needs_scope("applications:read")],
            summary="An application: status, stage and statutory clock",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_application(session: SessionDep, principal: CurrentPrincipal, application_id: ApplicationId) -> ApplicationView:
    return await service.get_application(session, principal, application_id)


@router.get("/v1/applications/{application_id}/timeline", dependencies=[needs_scope("applications:read")],
            summary="Every step with time, actor, role, note and the status before and after", responses={404: PROBLEM_RESPONSES[404]})
async def get_timeline(session: SessionDep, principal: CurrentPrincipal, application_id: ApplicationId,
                       limit: Annotated[int, Query(ge=1, le=200)] = 100, cursor: CursorQuery = None) -> Page[TimelineStep]:
    return await service.get_timeline(session, principal, application_id, limit=limit, cursor=cursor)


@router.post("/v1/applications/{application_id}/actions/{action}", dependencies=[ACTION_SCOPES],
             summary=f"Move an application on: {', '.join(APPLICATION_MACHINE.actions)}",
             description="A transition not possible from the current status answers 409 with `allowed_actions`; "
                         "one possible but not for the caller's role answers 403.",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def act(database: DatabaseDep, principal: CurrentPrincipal, application_id: ApplicationId,
              action: Annotated[str, Path(max_length=32, pattern=r"^[a-z_]+$")],
              body: ActionRequest | None = None) -> ApplicationView:
    return await service.act(database, principal, application_id, action, body or ActionRequest())
