"""Who handles applications: the directory of window officers and reviewers (each registered when they open
the workbench or act on an application), and who holds an application — claim (take it), assign (give it to
a colleague of the department), release (let it go). The status does not move: each is a timeline step with
its event and audit record, as every other action (``lifecycle.perform_action``)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import BUREAU, Principal, Role, sees_every_department
from kit.db import Database
from kit.errors import Conflict, FieldError, Forbidden, ValidationFailed
from matters import messages
from matters.models import Application, ApplicationHandler
from matters.schemas import ActionRequest, HandlerView
from matters.service.statuses import HELD_BY_STAFF, OFFICER, OWNER_ONLY, REVIEWER

HANDLING_ROLES = (OFFICER, REVIEWER)


def handles_applications(principal: Principal) -> bool:
    return principal.is_staff and principal.has_role(*HANDLING_ROLES)


async def register(session: AsyncSession, principal: Principal, at: datetime) -> None:
    """Enter (or refresh) ``principal`` in the directory when they handle applications; others are left out."""
    if not handles_applications(principal):
        return
    values = dict(subject=principal.subject, name=principal.name, department=principal.department or BUREAU,
                  roles=sorted(r for r in HANDLING_ROLES if principal.has_role(r)), seen_at=at)
    statement = insert(ApplicationHandler).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ApplicationHandler.subject],
        set_={k: statement.excluded[k] for k in ("name", "department", "roles", "seen_at")}))


async def register_me(database: Database, principal: Principal) -> HandlerView:
    """``PUT /v1/applications/handlers/me``: the workbench says its user is here to handle applications."""
    if not handles_applications(principal):
        raise Forbidden(messages.HANDLER_ROLE_REQUIRED)
    async with database.transaction() as session:
        await register(session, principal, datetime.now(UTC))
        return (await _views(session, ApplicationHandler.subject == principal.subject))[0]


def _of_department(department: str) -> Any:
    """Handlers who may hold an application of ``department``: its own, and the bureau's (who see every one)."""
    return ApplicationHandler.department.in_([department, BUREAU])


async def _views(session: AsyncSession, condition: Any) -> list[HandlerView]:
    held = (select(Application.assignee_subject, func.count().label("n"))
            .where(Application.assignee_subject.is_not(None), Application.status.in_([s.value for s in HELD_BY_STAFF]))
            .group_by(Application.assignee_subject).subquery())
    rows = (await session.execute(
        select(ApplicationHandler, func.coalesce(held.c.n, 0))
        .outerjoin(held, held.c.assignee_subject == ApplicationHandler.subject)
        .where(condition).order_by(ApplicationHandler.department, ApplicationHandler.subject))).all()
    return [HandlerView(subject=h.subject, name=h.name, department=h.department, roles=list(h.roles), open_applications=n)
            for h, n in rows]


async def list_handlers(session: AsyncSession, principal: Principal, department: str | None) -> list[HandlerView]:
    """The colleagues an application of ``department`` (the caller's own when None) can be assigned to."""
    if not principal.is_staff:
        raise Forbidden(messages.HANDLER_ROLE_REQUIRED)
    wanted = department or principal.department or BUREAU
    if not sees_every_department(principal) and wanted != principal.department:
        wanted = principal.department or BUREAU
    return await _views(session, _of_department(wanted) if wanted != BUREAU else true())


def held_by_colleague(app: Application, principal: Principal) -> bool:
    """Someone else holds ``app``: only they act on it (or hand it on) until they release it; ops may
    step in (a colleague away, a queue to rebalance)."""
    return (app.assignee_subject is not None and app.assignee_subject != principal.subject
            and not principal.has_role(Role.OPS_ADMIN))


def check_holding(app: Application, action: str, principal: Principal, body: ActionRequest) -> None:
    """The inputs and the holder a holding action needs, before anything is written; a staff action on an
    application a colleague holds is refused (the applicant's own actions are not staff work)."""
    if principal.is_staff and action != "claim" and action not in OWNER_ONLY and held_by_colleague(app, principal):
        raise Conflict(messages.HELD_BY_COLLEAGUE.format(assignee=app.assignee_subject), status_now=app.status,
                       assignee=app.assignee_subject)
    if action != "assign" and body.assignee is not None:
        raise ValidationFailed(messages.ASSIGNEE_ONLY_FOR_ASSIGN, errors=[
            FieldError.of("assignee", messages.ASSIGNEE_FIELD_UNEXPECTED, "unexpected")])
    if action == "claim":
        if app.assignee_subject == principal.subject:
            raise Conflict(messages.ALREADY_YOURS, status_now=app.status, assignee=app.assignee_subject)
        if app.assignee_subject is not None:
            raise Conflict(messages.HELD_BY_COLLEAGUE.format(assignee=app.assignee_subject), status_now=app.status,
                           assignee=app.assignee_subject)
    elif action == "assign":
        if not body.assignee:
            raise ValidationFailed(messages.ASSIGN_NEEDS_ASSIGNEE, errors=[
                FieldError.of("assignee", messages.ASSIGNEE_FIELD_REQUIRED, "required")])
        if body.assignee == app.assignee_subject:
            raise Conflict(messages.ALREADY_ASSIGNED_TO.format(assignee=body.assignee), status_now=app.status,
                           assignee=app.assignee_subject)
    elif action == "release" and app.assignee_subject != principal.subject:
        raise Conflict(messages.NOT_HELD_BY_YOU, status_now=app.status, assignee=app.assignee_subject)


async def hold(session: AsyncSession, app: Application, action: str, principal: Principal, body: ActionRequest,
               at: datetime) -> dict[str, Any]:
    """Change who holds ``app`` (checked by ``check_holding``); the details of the timeline step."""
    previous = app.assignee_subject
    if action == "claim":
        app.assignee_subject = principal.subject
    elif action == "assign":
        handler = await session.scalar(select(ApplicationHandler).where(
            ApplicationHandler.subject == body.assignee, _of_department(app.department)))
        if handler is None:
            raise ValidationFailed(messages.NOT_A_HANDLER, errors=[
                FieldError.of("assignee", messages.NOT_A_HANDLER_FIELD, "not_a_handler")])
        app.assignee_subject = handler.subject
    else:
        app.assignee_subject = None
    app.assigned_at = at if app.assignee_subject else None
    return {"assignee": app.assignee_subject, "previous_assignee": previous}
