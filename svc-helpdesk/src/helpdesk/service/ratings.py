"""Ratings (好差评) and the handling of bad ones (差评整改).

Any finished interaction can be rated 1–5 with tags and a comment, once per interaction per person
(the unique key on target and rater): a help ticket once resolved, a hall visit once done, a step of
an application (asked of svc-matters over HTTP with the person's own token, so only the person's
own application can be rated). A score of 1 or 2 (差评) opens a rectification case with a deadline
in working days, an owner (the agent or hall officer concerned, else the department), a reply to
the person, the measures taken (整改) and a follow-up (回访); reports show open, late and closed ones.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import messages
from helpdesk.models import Rating, Rectification, Ticket, Visit
from helpdesk.schemas import RatingCreate, RatingView, RectificationAction, RectificationView
from helpdesk.service import sla
from helpdesk.service.common import missing, new_id, newest_first_page, sees_every_department, staff_of, utcnow
from kit.audit import record_audit
from kit.auth import Principal, Role
from kit.calendar import SHANGHAI, CalendarError
from kit.calendar import local_date as local_today
from kit.contracts.helpdesk import RatingSubmitted, RectificationClosed, RectificationReplied
from kit.db import Database
from kit.errors import BadGateway, Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.events import add_event
from kit.http import call_service
from kit.idempotency import create_once
from kit.pagination import Page, newest_first_after
from kit.statemachine import StateMachine, Transition

log = structlog.get_logger("helpdesk.ratings")

BAD_RATING_MAX_SCORE = 2
RECTIFICATION_STATUSES = ("open", "replied", "rectified", "closed")
# Who handles a case is also a matter of its department (``_may_handle``), asked before the machine.
_HANDLERS = frozenset({Role.HELPDESK_AGENT, Role.WINDOW_OFFICER, Role.REVIEWER, Role.OPS_ADMIN})
RECTIFICATIONS: StateMachine[str] = StateMachine(messages.RECTIFICATION, [
    Transition("assign", frozenset({"open", "replied", "rectified"}), None, _HANDLERS),
    Transition("reply", frozenset({"open"}), "replied", _HANDLERS),
    Transition("rectify", frozenset({"replied"}), "rectified", _HANDLERS),
    Transition("close", frozenset({"rectified"}), "closed", _HANDLERS),
])


async def _application_step(application_id: str, step: str, *, matters_url: str,
                            authorization: str | None) -> dict[str, Any]:
    """The person's application from svc-matters, once the step rated (a status or action of its
    timeline) has happened."""
    try:
        response = await call_service("GET", matters_url, f"/v1/applications/{application_id}",
                                      authorization=authorization or "")
        timeline = await call_service("GET", matters_url, f"/v1/applications/{application_id}/timeline",
                                      params={"limit": 200}, authorization=authorization or "") \
            if response.status_code == 200 else None
    except httpx.HTTPError as e:
        raise BadGateway(messages.APPLICATION_LOOKUP_UNREACHABLE) from e
    if response.status_code in (403, 404):
        raise NotFound(messages.APPLICATION_NOT_FOUND)
    if response.status_code != 200 or timeline is None or timeline.status_code != 200:
        raise BadGateway(messages.APPLICATION_LOOKUP_FAILED.format(code=response.status_code))
    taken = {s.get("status") for s in timeline.json().get("items", [])} | {
        s.get("action") for s in timeline.json().get("items", [])}
    if step not in taken:
        raise Conflict(messages.APPLICATION_STEP_NOT_REACHED.format(step=step))
    return response.json()


async def submit_rating(database: Database, principal: Principal, body: RatingCreate, idempotency_key: str | None,
                        *, matters_url: str, authorization: str | None, rectification_days: int) -> RatingView:
    if principal.is_staff:
        raise Forbidden(messages.STAFF_CANNOT_RATE)
    if (body.target_kind == "application_step") != (body.step is not None):
        raise ValidationFailed(messages.STEP_ONLY_FOR_APPLICATION_STEP,
                               errors=[FieldError.of("step", messages.STEP_FIELD, "step")])
    application = None
    if body.target_kind == "application_step":
        assert body.step is not None
        application = await _application_step(body.target_id, body.step, matters_url=matters_url,
                                              authorization=authorization)

    async def create(session: AsyncSession) -> RatingView:
        now = utcnow()
        matter_code = department = owner = None
        if body.target_kind == "ticket":
            ticket = await session.get(Ticket, body.target_id)
            if ticket is None or ticket.applicant_subject != principal.subject:
                raise NotFound(messages.TICKET_NOT_FOUND)
            if ticket.status not in ("resolved", "closed"):
                raise Conflict(messages.TICKET_NOT_FINISHED, status_now=ticket.status)
            matter_code, department, owner = ticket.matter_code, ticket.department, ticket.assigned_agent
            target_id = ticket.id
        elif body.target_kind == "hall_visit":
            visit = await session.get(Visit, body.target_id)
            if visit is None or visit.visitor_subject != principal.subject:
                raise NotFound(messages.VISIT_NOT_FOUND)
            if visit.status != "done":
                raise Conflict(messages.VISIT_NOT_FINISHED, status_now=visit.status)
            matter_code, department, owner = visit.matter_code, f"hall:{visit.hall_id}", visit.officer_subject
            target_id = visit.id
        else:
            assert application is not None and body.step is not None
            matter_code, department = application.get("matter_code"), application.get("department")
            target_id = f"{body.target_id}:{body.step}"
        rating_id = new_id()
        inserted = (await session.execute(insert(Rating).values(
            id=rating_id, target_kind=body.target_kind, target_id=target_id, rater_subject=principal.subject,
            score=body.score, tags=body.tags, comment=body.comment, matter_code=matter_code, department=department,
            agent_subject=owner, created_at=now).on_conflict_do_nothing().returning(Rating.id))).first()
        if inserted is None:
            raise Conflict(messages.ALREADY_RATED)
        rectification_id = None
        if body.score <= BAD_RATING_MAX_SCORE:
            try:
                due = sla.clockwork.calendar().add_working_days(local_today(now), rectification_days)
            except CalendarError as e:
                raise sla.calendar_problem(e) from e
            rectification_id = new_id()
            session.add(Rectification(id=rectification_id, rating_id=rating_id, department=department or "",
                                      owner_subject=owner, status="open", opened_at=now, due_on=due))
        await add_event(session, RatingSubmitted(
            rating_id=rating_id, target_kind=body.target_kind, target_id=target_id, score=body.score, tags=body.tags,
            matter_code=matter_code, department=department, rectification_id=rectification_id, rated_at=now),
            subject=rating_id)
        await session.flush()
        return RatingView(id=rating_id, target_kind=body.target_kind, target_id=target_id, score=body.score,
                          tags=body.tags, comment=body.comment, matter_code=matter_code, department=department,
                          created_at=now, rectification_id=rectification_id)

    return await create_once(database, f"ratings:{principal.subject}", idempotency_key, body.model_dump(mode="json"),
                             create, RatingView)


def _late(r: Rectification, today: date) -> bool:
    end = r.closed_at.astimezone(SHANGHAI).date() if r.closed_at else today
    return end > r.due_on


def rectification_view(r: Rectification, score: int, today: date) -> RectificationView:
    return RectificationView(
        id=r.id, rating_id=r.rating_id, score=score, department=r.department, owner_subject=r.owner_subject,
        status=r.status, opened_at=r.opened_at, due_on=r.due_on, late=_late(r, today), reply=r.reply,
        replied_at=r.replied_at, measures=r.measures, rectified_at=r.rectified_at, follow_up=r.follow_up,
        satisfied=r.satisfied, closed_at=r.closed_at)


def _may_handle(principal: Principal, r: Rectification) -> bool:
    if principal.has_role(Role.OPS_ADMIN):
        return True
    if r.department.startswith("hall:"):
        return principal.has_role(Role.WINDOW_OFFICER, Role.HELPDESK_AGENT) and sees_every_department(principal)
    return principal.has_role(Role.HELPDESK_AGENT, Role.WINDOW_OFFICER, Role.REVIEWER) and staff_of(principal, r.department)


async def list_rectifications(session: AsyncSession, principal: Principal, *, status: str | None, limit: int,
                              cursor: str | None) -> Page[RectificationView]:
    today = local_today()
    stmt = select(Rectification, Rating.score).join(Rating, Rating.id == Rectification.rating_id)
    if not sees_every_department(principal):
        stmt = stmt.where(Rectification.department == principal.department)
    if status == "late":
        stmt = stmt.where(Rectification.status != "closed", Rectification.due_on < today)
    elif status:
        stmt = stmt.where(Rectification.status == status)
    after = newest_first_after(cursor, Rectification.opened_at, Rectification.id)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.execute(stmt.order_by(Rectification.opened_at.desc(), Rectification.id.desc())
                                  .limit(limit + 1))).all()
    return newest_first_page(rows, limit, lambda row: rectification_view(row[0], row[1], today),
                             lambda row: row[0].opened_at, lambda row: row[0].id)


async def act_on_rectification(database: Database, principal: Principal, rectification_id: str, action: str,
                               body: RectificationAction) -> RectificationView:
    async with database.transaction() as session:
        return await _act_on_rectification(session, principal, rectification_id, action, body)


async def _act_on_rectification(session: AsyncSession, principal: Principal, rectification_id: str, action: str,
                                body: RectificationAction) -> RectificationView:
    row = (await session.execute(select(Rectification, Rating.score).join(Rating, Rating.id == Rectification.rating_id)
                                 .where(Rectification.id == rectification_id).with_for_update(of=Rectification))).first()
    if row is None:
        raise NotFound(messages.RECTIFICATION_NOT_FOUND)
    r, score = row
    if not _may_handle(principal, r):
        raise Forbidden(messages.RECTIFICATION_OTHER_DEPARTMENT)
    transition = RECTIFICATIONS.check(r.status, action, principal)
    now = utcnow()
    if action == "assign":
        if not body.owner:
            raise missing("owner")
        r.owner_subject = body.owner
    else:
        if not body.text:
            raise missing("text")
        if action == "reply":
            r.reply, r.replied_at = body.text, now
            rater = await session.scalar(select(Rating.rater_subject).where(Rating.id == r.rating_id))
            if rater is not None:
                await add_event(session, RectificationReplied(
                    rectification_id=r.id, rating_id=r.rating_id, rater_subject=rater, department=r.department,
                    reply=body.text, replied_at=now), subject=r.id)
        elif action == "rectify":
            r.measures, r.rectified_at = body.text, now
        else:
            r.follow_up, r.satisfied, r.closed_at = body.text, body.satisfied, now
        r.owner_subject = r.owner_subject or principal.subject
        assert transition.target is not None
        r.status = transition.target
        if action == "close":
            await add_event(session, RectificationClosed(
                rectification_id=r.id, rating_id=r.rating_id, department=r.department, late=_late(r, local_today(now)),
                satisfied=r.satisfied, closed_at=now), subject=r.id)
    await record_audit(session, principal, f"rectification.{action}", "rectification", r.id,
                       details={"status": r.status})
    await session.flush()
    return rectification_view(r, score, local_today(now))


async def list_ratings(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                       target_kind: str | None, score: int | None) -> Page[RatingView]:
    stmt = (select(Rating, Rectification.id, Rectification.reply, Rectification.replied_at)
            .outerjoin(Rectification, Rectification.rating_id == Rating.id))
    if not principal.is_staff:
        stmt = stmt.where(Rating.rater_subject == principal.subject)
    elif not sees_every_department(principal):
        stmt = stmt.where(Rating.department == principal.department)
    if target_kind:
        stmt = stmt.where(Rating.target_kind == target_kind)
    if score:
        stmt = stmt.where(Rating.score == score)
    after = newest_first_after(cursor, Rating.created_at, Rating.id)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.execute(stmt.order_by(Rating.created_at.desc(), Rating.id.desc()).limit(limit + 1))).all()
    def view(row: Any) -> RatingView:
        r, rectification_id, reply, replied_at = row
        return RatingView(id=r.id, target_kind=r.target_kind, target_id=r.target_id, score=r.score, tags=r.tags,
                          comment=r.comment, matter_code=r.matter_code, department=r.department,
                          created_at=r.created_at, rectification_id=rectification_id, reply=reply,
                          replied_at=replied_at)

    return newest_first_page(rows, limit, view, lambda row: row[0].created_at, lambda row: row[0].id)
