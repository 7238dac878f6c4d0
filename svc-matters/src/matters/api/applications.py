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
    ApplicationSort,
    ApplicationStatus,
    ApplicationView,
    HandlerView,
    TimelineStep,
)
from matters.service import applications as service
from matters.service import handlers
from matters.service.statuses import APPLICATION_MACHINE, HOLDING

router = APIRouter(tags=["applications"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

# Each action needs the scope of the role that takes it: the applicant's own steps, the window's acceptance
# (受理), the reviewer's review and decision (审查, 决定).
ACTING_ROLE_SCOPES = {Role.APPLICANT: "applications:write", Role.WINDOW_OFFICER: "applications:accept",
                      Role.REVIEWER: "applications:decide"}
# Who holds an application is the window's and the reviewers' both: their common applications:handle.
ACTION_SCOPES = needs_scope_by("action", {t.action: ["applications:handle"] if t.action in HOLDING
                                          else [ACTING_ROLE_SCOPES[Role(r)] for r in t.roles]
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
    assignee: Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$", description=(
        "Staff only: `me` (what I hold), `none` (nobody holds it) or a colleague's subject"))] = None,
    sort: Annotated[ApplicationSort, Query(description=(
        "`created` (newest first) or `due_date` (earliest statutory due date first, those without one last)"))]
        = ApplicationSort.CREATED,
) -> Page[ApplicationListItem]:
    return await service.list_applications(session, principal, limit=limit, cursor=cursor, status=status,
                                           matter_code=matter or matter_code, overdue=overdue,
                                           created_from=created_from, created_to=created_to, applicant=applicant,
                                           department=department, assignee=assignee, sort=sort)


@router.get("/v1/applications/handlers", dependencies=[needs_scope("applications:read")],
            summary="Staff: the window officers and reviewers an application of the department can be assigned to")
async def list_handlers(session: SessionDep, principal: CurrentPrincipal,
                        department: Annotated[str | None, Query(max_length=200)] = None) -> list[HandlerView]:
    return await handlers.list_handlers(session, principal, department)


@router.put("/v1/applications/handlers/me", dependencies=[needs_scope("applications:handle")],
            summary="A window officer or reviewer opens the workbench: listed among the colleagues to assign to")
async def register_handler(database: DatabaseDep, principal: CurrentPrincipal) -> HandlerView:
    return await handlers.register_me(database, principal)


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
