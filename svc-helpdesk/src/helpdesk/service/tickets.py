"""Help sessions and tickets (帮办): channels, states, messages, actions, and their SLA clocks.

States: ``new`` (nobody assigned) → ``assigned`` → ``waiting_applicant`` (the resolution clock
pauses) → ``resolved`` → ``closed``; ``reopened`` from resolved or closed starts new clocks (the
next cycle). Every change is a row of ``ticket_steps``; nothing about a ticket's past is overwritten.

Clocks: ``first_response`` and ``resolution`` start when the ticket opens; the first agent message
stops ``first_response``. A message of the person after an agent's answer starts ``next_response``,
stopped by the agent's next message. Resolving stops every clock of the cycle.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import structlog
from sqlalchemy import BigInteger, ColumnElement, Integer, Table, bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import messages as texts
from helpdesk.models import Agent, SlaClock, SlaClockPause, SlaPolicy, Ticket, TicketMessage, TicketStep
from helpdesk.schemas import (
    ClockView,
    MessageCreate,
    MessageView,
    TicketAction,
    TicketCreate,
    TicketListItem,
    TicketStepView,
    TicketView,
)
from helpdesk.service import assignment, routing, sla
from helpdesk.service.common import BUREAU, missing, new_id, newest_first_page, sees_every_department, staff_of, utcnow
from kit import messages as kit_messages
from kit.audit import record_audit
from kit.auth import Principal, Role
from kit.calendar import CalendarError
from kit.contracts.helpdesk import AnswerProposed, SlaClockBreached, SlaClockEscalated, SlaClockWarning, TicketAnswered
from kit.contracts.knowledge import AssistantHandedOver
from kit.db import Database
from kit.errors import BadRequest, Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.events import CloudEvent, add_event
from kit.idempotency import create_once
from kit.pagination import Page, decode_cursor, encode_cursor, newest_first_after
from kit.protection import mask_name, mask_phone
from kit.statemachine import StateMachine, Transition

log = structlog.get_logger("helpdesk.tickets")

OPEN_STATUSES = assignment.OPEN_STATUSES
_UNASSIGNED = frozenset({"new"})
_AGENT = frozenset({Role.HELPDESK_AGENT})
# Ops hand tickets around; the person helped may reopen or close their own (and agents for them).
_DISPATCH = frozenset({Role.HELPDESK_AGENT, Role.OPS_ADMIN})
_APPLICANT = frozenset({Role.APPLICANT, Role.HELPDESK_AGENT})
# Staff of another department are refused by load_ticket (403) before the machine is asked.
TICKETS: StateMachine[str] = StateMachine(texts.TICKET, [
    # Taking a ticket moves only a new one; a reopened or waiting ticket keeps its status with its new agent.
    Transition("claim", _UNASSIGNED, "assigned", _AGENT),
    Transition("claim", frozenset({"assigned", "reopened"}), None, _AGENT),
    Transition("assign", _UNASSIGNED, "assigned", _DISPATCH),
    Transition("assign", frozenset({"assigned", "reopened", "waiting_applicant"}), None, _DISPATCH),
    # A transferred assigned ticket waits as new for the other department's agents (assigned at once if one is free).
    Transition("transfer", frozenset({"assigned"}), "new", _DISPATCH),
    Transition("transfer", frozenset({"new", "reopened", "waiting_applicant"}), None, _DISPATCH),
    Transition("wait_for_applicant", frozenset({"assigned", "reopened"}), "waiting_applicant", _AGENT),
    Transition("resolve", frozenset({"assigned", "reopened", "waiting_applicant"}), "resolved", _AGENT),
    Transition("reopen", frozenset({"resolved", "closed"}), "reopened", _APPLICANT),
    Transition("close", frozenset({"resolved"}), "closed", _APPLICANT),
    Transition("propose_answer", frozenset({"assigned", "reopened", "waiting_applicant", "resolved", "closed"}), None,
               _AGENT),
])
ACTIONS = tuple(dict.fromkeys(t.action for t in TICKETS.transitions))
APPLICANT_ACTIONS = tuple(t.action for t in TICKETS.transitions if Role.APPLICANT in t.roles)
ALERT_EVENTS: dict[str, type[SlaClockWarning | SlaClockBreached | SlaClockEscalated]] = {
    "warning": SlaClockWarning, "breached": SlaClockBreached, "escalated": SlaClockEscalated}


# -- policies and clocks --------------------------------------------------------------------------


async def pick_policy(session: AsyncSession, channel: str, matter_code: str | None, priority: str) -> SlaPolicy:
    """The most specific active policy: a matter match weighs most, then priority, then channel."""
    specificity = (cast(SlaPolicy.matter_code.is_not(None), Integer) * 4
                   + cast(SlaPolicy.priority.is_not(None), Integer) * 2
                   + cast(SlaPolicy.channel.is_not(None), Integer))
    policy = await session.scalar(
        select(SlaPolicy).where(
            SlaPolicy.active.is_(True),
            (SlaPolicy.channel.is_(None)) | (SlaPolicy.channel == channel),
            (SlaPolicy.matter_code.is_(None)) | (SlaPolicy.matter_code == matter_code),
            (SlaPolicy.priority.is_(None)) | (SlaPolicy.priority == priority),
        ).order_by(specificity.desc(), SlaPolicy.id).limit(1))
    if policy is None:
        raise Conflict(texts.NO_SLA_POLICY)
    return policy


async def running_clocks(session: AsyncSession, ticket_id: str) -> list[SlaClock]:
    return list((await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id,
                                                              SlaClock.stopped_at.is_(None)))).all())


def refresh_due(ticket: Ticket, clocks: Sequence[SlaClock]) -> None:
    dues = [c.due_at for c in clocks if c.stopped_at is None and c.due_at is not None]
    ticket.due_at = min(dues) if dues else None


def _start_clocks(session: AsyncSession, ticket: Ticket, policy: SlaPolicy, kinds: Sequence[str], at: datetime) -> list[SlaClock]:
    try:
        return [sla.start(session, ticket.id, kind, policy, at, ticket.reopen_count) for kind in kinds]
    except CalendarError as e:
        raise sla.calendar_problem(e) from e


def _step(session: AsyncSession, ticket: Ticket, action: str, before: str | None, actor: str | None, at: datetime,
          note: str | None = None) -> None:
    session.add(TicketStep(ticket_id=ticket.id, action=action, status_before=before, status_after=ticket.status,
                           actor_subject=actor, note=note, at=at))


async def open_ticket(session: AsyncSession, *, channel: str, subject_text: str, department: str, priority: str,
                      matter_code: str | None, applicant_subject: str | None, application_id: str | None,
                      conversation_id: str | None, contact_name: str | None, contact_phone: str | None,
                      messages: Sequence[tuple[str, str | None, str, datetime]], at: datetime,
                      actor: str | None) -> Ticket:
    policy = await pick_policy(session, channel, matter_code, priority)
    ticket = Ticket(id=new_id(), channel=channel, status="new", priority=priority, matter_code=matter_code,
                    department=department, subject_text=subject_text, applicant_subject=applicant_subject,
                    contact_name=contact_name, contact_phone=contact_phone, application_id=application_id,
                    conversation_id=conversation_id, policy_id=policy.id, created_at=at, reopen_count=0)
    session.add(ticket)
    await session.flush()
    for kind, author, body, when in messages:
        session.add(TicketMessage(ticket_id=ticket.id, author_kind=kind, author_subject=author, body=body, created_at=when))
    _step(session, ticket, "opened", None, actor, at, note=channel)
    clocks = _start_clocks(session, ticket, policy, ("first_response", "resolution"), at)
    await assignment.assign_if_possible(session, ticket, at)
    refresh_due(ticket, clocks)
    await session.flush()
    return ticket


# -- views ----------------------------------------------------------------------------------------


def clock_view(clock: SlaClock, now: datetime) -> ClockView:
    try:
        used = sla.elapsed(clock, now)
    except CalendarError:
        used = clock.elapsed_before
    return ClockView(kind=clock.kind, cycle=clock.cycle, unit=clock.unit, amount=clock.amount, started_at=clock.started_at,
                     due_at=clock.due_at, due_at_provisional=sla.clockwork.provisional(clock.unit, clock.started_at, clock.due_at),
                     paused=clock.paused_since is not None, stopped_at=clock.stopped_at,
                     elapsed_seconds=round(used, 3), percent_used=int(100 * used / clock.target_seconds),
                     breached=clock.breached_at is not None or used > clock.target_seconds, met=sla.met(clock))


def _is_owner(principal: Principal, ticket: Ticket) -> bool:
    return ticket.applicant_subject is not None and ticket.applicant_subject == principal.subject


def allowed_actions(ticket: Ticket, principal: Principal) -> list[str]:
    """The actions the caller may take now: by role, and only on their own ticket or their department's."""
    if not (staff_of(principal, ticket.department) if principal.is_staff else _is_owner(principal, ticket)):
        return []
    return TICKETS.action_names(ticket.status, principal)


async def ticket_view(session: AsyncSession, ticket: Ticket, principal: Principal, now: datetime | None = None) -> TicketView:
    now = now or utcnow()
    clocks = (await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket.id)
                                    .order_by(SlaClock.cycle, SlaClock.id))).all()
    owner = _is_owner(principal, ticket)
    views = [clock_view(c, now) for c in clocks]
    return TicketView(
        id=ticket.id, channel=ticket.channel, status=ticket.status, priority=ticket.priority,
        matter_code=ticket.matter_code, department=ticket.department, subject=ticket.subject_text,
        applicant_subject=ticket.applicant_subject,
        contact_name=ticket.contact_name if owner or not ticket.contact_name else mask_name(ticket.contact_name),
        contact_phone=ticket.contact_phone if owner or not ticket.contact_phone else mask_phone(ticket.contact_phone),
        application_id=ticket.application_id, conversation_id=ticket.conversation_id,
        assigned_agent=ticket.assigned_agent, created_at=ticket.created_at, first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at, closed_at=ticket.closed_at, reopen_count=ticket.reopen_count,
        due_at=ticket.due_at, due_at_provisional=any(v.due_at_provisional for v in views if v.due_at == ticket.due_at),
        policy_id=ticket.policy_id, clocks=views,
        allowed_actions=allowed_actions(ticket, principal))


async def load_ticket(session: AsyncSession, principal: Principal, ticket_id: str, *, lock: bool = False) -> Ticket:
    """The ticket if the caller may see it: the person helped, or staff of its department (403 for others' staff)."""
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        stmt = stmt.with_for_update()
    ticket = await session.scalar(stmt)
    if ticket is None:
        raise NotFound(texts.TICKET_NOT_FOUND)
    if _is_owner(principal, ticket):
        return ticket
    if principal.is_staff:
        if not staff_of(principal, ticket.department):
            raise Forbidden(texts.TICKET_OTHER_DEPARTMENT, department=ticket.department)
        return ticket
    raise NotFound(texts.TICKET_NOT_FOUND)  # someone else's ticket does not exist for an applicant


# -- HTTP-facing operations -----------------------------------------------------------------------


async def create_ticket(database: Database, principal: Principal, body: TicketCreate, idempotency_key: str | None,
                        *, matters_url: str, authorization: str | None) -> TicketView:
    if principal.is_staff:
        if not principal.has_role(Role.HELPDESK_AGENT, Role.OPS_ADMIN):
            raise Forbidden(texts.ONLY_STAFF_OPEN_FOR_OTHERS)
        applicant = body.applicant_subject
    else:
        if body.applicant_subject not in (None, principal.subject):
            raise Forbidden(texts.NOT_FOR_SOMEONE_ELSE)
        if body.channel != "online":
            raise ValidationFailed(texts.APPLICANTS_ASK_ONLINE,
                                   errors=[FieldError.of("channel", texts.APPLICANTS_USE_ONLINE, "channel")])
        applicant = principal.subject
    department = body.department or await routing.department_for(body.matter_code, matters_url=matters_url,
                                                                  authorization=authorization)

    async def create(session: AsyncSession) -> TicketView:
        at = utcnow()
        author_kind = "applicant" if not principal.is_staff else "system"
        ticket = await open_ticket(
            session, channel=body.channel, subject_text=body.subject, department=department, priority=body.priority,
            matter_code=body.matter_code, applicant_subject=applicant, application_id=body.application_id,
            conversation_id=None, contact_name=body.contact_name, contact_phone=body.contact_phone,
            messages=[(author_kind, principal.subject, body.subject, at)], at=at, actor=principal.subject)
        return await ticket_view(session, ticket, principal, at)

    return await create_once(database, f"tickets:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create, TicketView)


async def list_tickets(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                       status: str | None, channel: str | None, department: str | None, matter_code: str | None,
                       mine: bool, created_from: datetime | None, created_to: datetime | None) -> Page[TicketListItem]:
    stmt = select(Ticket)
    if principal.is_staff:
        if not sees_every_department(principal):
            stmt = stmt.where(Ticket.department == principal.department)
        if mine:
            stmt = stmt.where(Ticket.assigned_agent == principal.subject)
    else:
        stmt = stmt.where(Ticket.applicant_subject == principal.subject)
    for column, value in ((Ticket.status, status), (Ticket.channel, channel), (Ticket.department, department),
                          (Ticket.matter_code, matter_code)):
        if value:
            stmt = stmt.where(column == value)
    if created_from:
        stmt = stmt.where(Ticket.created_at >= created_from)
    if created_to:
        stmt = stmt.where(Ticket.created_at < created_to)
    after = newest_first_after(cursor, Ticket.created_at, Ticket.id)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.scalars(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit + 1))).all()
    return newest_first_page(rows, limit, _list_item, lambda t: t.created_at, lambda t: t.id)


def _list_item(t: Ticket) -> TicketListItem:
    return TicketListItem(id=t.id, channel=t.channel, status=t.status, priority=t.priority, matter_code=t.matter_code,
                          department=t.department, subject=t.subject_text, assigned_agent=t.assigned_agent,
                          created_at=t.created_at, due_at=t.due_at)


async def queue(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                include_unassigned: bool) -> Page[TicketListItem]:
    """The agent's open tickets, most urgent first (the earliest breach of a running clock); tickets
    whose clocks are all paused come last. With ``include_unassigned``, the department's unassigned ones too."""
    mine: ColumnElement[bool] = Ticket.assigned_agent == principal.subject
    if include_unassigned:
        unassigned: ColumnElement[bool] = Ticket.assigned_agent.is_(None)
        if not sees_every_department(principal):
            unassigned = unassigned & (Ticket.department == principal.department)
        mine = mine | unassigned
    stmt = select(Ticket).where(mine, Ticket.status.in_(OPEN_STATUSES))
    offset = (decode_cursor(cursor) or {}).get("o", 0)
    if not isinstance(offset, int) or not 0 <= offset <= 100_000:
        raise BadRequest(kit_messages.CURSOR_INVALID)
    rows = (await session.scalars(stmt.order_by(Ticket.due_at.asc().nulls_last(), Ticket.created_at, Ticket.id)
                                  .offset(offset).limit(limit + 1))).all()
    return Page(items=[_list_item(t) for t in rows[:limit]],
                next_cursor=encode_cursor({"o": offset + limit}) if len(rows) > limit else None)


async def messages(database: Database, principal: Principal, ticket_id: str, *, limit: int,
                   after_id: int) -> list[MessageView]:
    async with database.transaction() as session:
        ticket = await load_ticket(session, principal, ticket_id)
        rows = (await session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket_id,
                                                                  TicketMessage.id > after_id)
                                      .order_by(TicketMessage.id).limit(limit))).all()
        if rows and not _is_owner(principal, ticket):
            # Staff reading what a person wrote: audited (how many and from where, never the text). A poll
            # for new messages that finds none read nothing: agents' screens poll, the log stays readable.
            await record_audit(session, principal, "ticket.messages_read", "ticket", ticket.id,
                               owner=ticket.applicant_subject, details={"messages": len(rows), "after": after_id})
    return [MessageView(id=m.id, author_kind=m.author_kind, author_subject=m.author_subject, body=m.body,
                        created_at=m.created_at) for m in rows]


async def history(session: AsyncSession, principal: Principal, ticket_id: str) -> list[TicketStepView]:
    await load_ticket(session, principal, ticket_id)
    rows = (await session.scalars(select(TicketStep).where(TicketStep.ticket_id == ticket_id).order_by(TicketStep.id))).all()
    return [TicketStepView(action=s.action, status_before=s.status_before, status_after=s.status_after,
                           actor_subject=s.actor_subject, note=s.note, at=s.at) for s in rows]


async def _agent_row(session: AsyncSession, principal: Principal) -> Agent:
    agent = await session.get(Agent, principal.subject)
    if agent is None:
        agent = Agent(subject=principal.subject, department=principal.department or "", available=False, max_open=8)
        session.add(agent)
        await session.flush()
    return agent


async def post_message(database: Database, principal: Principal, ticket_id: str, body: MessageCreate) -> MessageView:
    async with database.transaction() as session:
        return await _post_message(session, principal, ticket_id, body)


async def _post_message(session: AsyncSession, principal: Principal, ticket_id: str, body: MessageCreate) -> MessageView:
    now = utcnow()
    ticket = await load_ticket(session, principal, ticket_id, lock=True)
    is_agent = principal.has_role(Role.HELPDESK_AGENT)
    if not is_agent and not _is_owner(principal, ticket):
        raise Forbidden(texts.ONLY_PERSON_OR_AGENT_WRITES)
    if ticket.status in ("resolved", "closed"):
        raise Conflict(texts.TICKET_FINISHED_REOPEN_FIRST, status_now=ticket.status,
                       allowed_actions=[a.model_dump() for a in TICKETS.allowed_actions(ticket.status)])
    clocks = await running_clocks(session, ticket.id)
    try:
        if is_agent:
            if ticket.assigned_agent is None:
                assignment.give_to(session, ticket, await _agent_row(session, principal), now, action="claimed",
                                   actor=principal.subject)
            for clock in clocks:
                if clock.kind in ("first_response", "next_response"):
                    sla.stop(clock, now, ticket.channel)
            ticket.first_response_at = ticket.first_response_at or now
            if ticket.status == "reopened":
                before, ticket.status = ticket.status, "assigned"
                _step(session, ticket, "responded", before, principal.subject, now)
        else:
            if ticket.status == "waiting_applicant":
                for clock in clocks:
                    if clock.kind == "resolution":
                        await sla.resume(session, clock, now)
                before, ticket.status = ticket.status, "assigned" if ticket.assigned_agent else "new"
                _step(session, ticket, "applicant_replied", before, principal.subject, now)
            waiting = any(c.kind in ("first_response", "next_response") for c in clocks)
            if ticket.first_response_at is not None and not waiting:
                policy = await session.get(SlaPolicy, ticket.policy_id)
                assert policy is not None
                clocks += _start_clocks(session, ticket, policy, ("next_response",), now)
    except CalendarError as e:
        raise sla.calendar_problem(e) from e
    message = TicketMessage(ticket_id=ticket.id, author_kind="agent" if is_agent else "applicant",
                            author_subject=principal.subject, body=body.body, created_at=now)
    session.add(message)
    refresh_due(ticket, clocks)
    if is_agent:
        await record_audit(session, principal, "ticket.message", "ticket", ticket.id, owner=ticket.applicant_subject)
    await session.flush()
    if is_agent and ticket.applicant_subject:
        # The person is told there is an answer (svc-notifications); the text stays on the ticket.
        await add_event(session, TicketAnswered(ticket_id=ticket.id, message_id=message.id,
                                                applicant_subject=ticket.applicant_subject, department=ticket.department,
                                                matter_code=ticket.matter_code, answered_at=now), subject=ticket.id)
    return MessageView(id=message.id, author_kind=message.author_kind, author_subject=message.author_subject,
                       body=message.body, created_at=message.created_at)


async def act(database: Database, principal: Principal, ticket_id: str, action: str, body: TicketAction) -> TicketView:
    async with database.transaction() as session:
        return await _act(session, principal, ticket_id, action, body)


async def _act(session: AsyncSession, principal: Principal, ticket_id: str, action: str, body: TicketAction) -> TicketView:
    now = utcnow()
    ticket = await load_ticket(session, principal, ticket_id, lock=True)
    transition = TICKETS.check(ticket.status, action, principal)
    if action not in allowed_actions(ticket, principal):  # staff acting on their own ticket of another department
        raise Forbidden(texts.TICKET_OTHER_DEPARTMENT, department=ticket.department)
    before = ticket.status
    clocks = await running_clocks(session, ticket.id)
    try:
        if action in ("claim", "assign"):
            # The assignment moves a new ticket to assigned (the machine's rows say the same).
            if action == "claim":
                agent = await _agent_row(session, principal)
            else:
                agent = await _agent_to_assign(session, ticket, body)
            assignment.give_to(session, ticket, agent, now, action=f"{action}ed", actor=principal.subject,
                               note=body.note)
        else:
            ticket.status = transition.target or ticket.status
            await _take_step(session, principal, ticket, action, body, clocks, now)
            _step(session, ticket, "transferred" if action == "transfer" else action, before, principal.subject, now,
                  note=body.department if action == "transfer" else body.note)
            if action == "transfer":
                await assignment.assign_if_possible(session, ticket, now)
            elif action == "reopen":
                policy = await session.get(SlaPolicy, ticket.policy_id)
                assert policy is not None
                clocks = _start_clocks(session, ticket, policy, ("next_response", "resolution"), now)
    except CalendarError as e:
        raise sla.calendar_problem(e) from e
    refresh_due(ticket, [c for c in clocks if c.stopped_at is None])
    if principal.is_staff:
        await record_audit(session, principal, f"ticket.{action}", "ticket", ticket.id, owner=ticket.applicant_subject,
                           details={"status_before": before, "status_after": ticket.status})
    await session.flush()
    return await ticket_view(session, ticket, principal, now)


async def _agent_to_assign(session: AsyncSession, ticket: Ticket, body: TicketAction) -> Agent:
    if not body.agent:
        raise missing("agent")
    agent = await session.get(Agent, body.agent)
    if agent is None or not (agent.department == ticket.department or agent.department == BUREAU):
        raise ValidationFailed(texts.NOT_AN_AGENT_OF_DEPARTMENT,
                               errors=[FieldError.of("agent", texts.NOT_AN_AGENT_OF_THIS_DEPARTMENT, "agent")])
    return agent


async def _take_step(session: AsyncSession, principal: Principal, ticket: Ticket, action: str, body: TicketAction,
                     clocks: Sequence[SlaClock], now: datetime) -> None:
    """What a step does besides moving the status (the machine's target, already set)."""
    if action == "transfer":
        if not body.department:
            raise missing("department")
        ticket.department = body.department
        ticket.assigned_agent = ticket.assigned_at = None
    elif action == "wait_for_applicant":
        for clock in clocks:
            if clock.kind == "resolution":
                sla.pause(session, clock, now, "waiting_applicant")
    elif action == "resolve":
        for clock in clocks:
            sla.stop(clock, now, ticket.channel)
        ticket.resolved_at = now
    elif action == "reopen":
        ticket.reopen_count += 1
        ticket.resolved_at = ticket.closed_at = None
    elif action == "close":
        ticket.closed_at = now
    elif action == "propose_answer":
        if not body.answer:
            raise missing("answer")
        await add_event(session, AnswerProposed(
            proposal_id=new_id(), ticket_id=ticket.id, conversation_id=ticket.conversation_id,
            matter_code=ticket.matter_code, question=body.question or ticket.subject_text, answer=body.answer,
            department=ticket.department, proposed_by=principal.subject, proposed_at=now), subject=ticket.id)


# -- events and scheduled work --------------------------------------------------------------------


async def on_handed_over(session: AsyncSession, event: CloudEvent) -> None:
    """The smart assistant hands a conversation over: a ticket on the ``assistant`` channel with the turns so far."""
    data = AssistantHandedOver.from_event(event)
    at = data.handed_over_at
    turns = [("applicant" if t.role == "user" else "assistant", data.user_subject if t.role == "user" else None,
              t.text, t.at) for t in data.turns]
    if not turns:
        turns = [("applicant", data.user_subject, data.question, at)]
    await open_ticket(session, channel="assistant", subject_text=data.question[:2000],
                      department=routing.known_department(data.matter_code) or BUREAU,
                      priority="normal", matter_code=data.matter_code, applicant_subject=data.user_subject,
                      application_id=data.application_id, conversation_id=data.conversation_id, contact_name=None,
                      contact_phone=None, messages=turns, at=at, actor=None)


async def send_due_alerts(session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """One tick of the alert job: warnings, breaches and escalations whose moment has come, as events."""
    rows = (await session.execute(
        select(SlaClock, Ticket).join(Ticket, Ticket.id == SlaClock.ticket_id)
        .where(SlaClock.next_alert_at <= now, SlaClock.stopped_at.is_(None), SlaClock.paused_since.is_(None))
        .order_by(SlaClock.next_alert_at).limit(limit).with_for_update(of=SlaClock, skip_locked=True))).all()
    sent = 0
    for clock, ticket in rows:
        try:
            steps = sla.reached_steps(clock, now)
            for percent in steps:
                level = sla.mark_alerted(clock, percent, now, ticket.channel)
                await add_event(session, ALERT_EVENTS[level](
                    ticket_id=ticket.id, clock=clock.kind, cycle=clock.cycle, percent=percent, channel=ticket.channel,
                    department=ticket.department, matter_code=ticket.matter_code, assigned_agent=ticket.assigned_agent,
                    target=f"{clock.amount} {clock.unit}", due_at=clock.due_at), subject=ticket.id)
                sent += 1
            if not steps and clock.next_alert_at is not None and clock.next_alert_at <= now:
                clock.next_alert_at = now + timedelta(seconds=1)  # rounding: look again a moment later
        except CalendarError as e:
            log.error("sla_clock_calendar_missing", ticket_id=ticket.id, clock=clock.kind, error=e.message_en)
            clock.next_alert_at = now + timedelta(hours=1)
    return sent


async def recompute_open_clocks(session: AsyncSession, batch: int = 5000) -> int:
    """Recompute every running or paused clock from its start and pauses (after a calendar change).

    Rows are read and written in batches by primary key with core statements: the clocks are
    computed on plain attribute bags (``SimpleNamespace``: the SLA functions only read and set
    attributes), since instrumented ORM objects cost more than the computation itself at this scale,
    and written back with one executemany per batch.
    """
    clocks = SlaClock.__table__
    assert isinstance(clocks, Table)  # typed FromClause on every mapped class; a plain table here
    columns = clocks.c
    done, last_id = 0, 0
    while True:
        rows = (await session.execute(select(*columns).where(columns.stopped_at.is_(None), columns.id > last_id)
                                      .order_by(columns.id).limit(batch))).mappings().all()
        if not rows:
            break
        pauses: dict[int, list[Any]] = {}
        pause_columns = SlaClockPause.__table__.c
        for p in (await session.execute(select(*pause_columns).where(
                pause_columns.clock_id == func.any(bindparam("ids", type_=ARRAY(BigInteger)))),
                {"ids": [r["id"] for r in rows]})).mappings():
            pauses.setdefault(p["clock_id"], []).append(SimpleNamespace(**p))
        updates = []
        for row in rows:
            clock = SimpleNamespace(**row)
            # A stand-in for SlaClock with the same attributes (see above); sla.recompute is typed for the
            # ORM class it is given everywhere else.
            sla.recompute(clock, pauses.get(clock.id, ()))  # type: ignore[arg-type]
            updates.append({"clock_id": clock.id, "elapsed_before": clock.elapsed_before, "due_at": clock.due_at,
                            "next_alert_at": clock.next_alert_at})
        await session.execute(
            clocks.update().where(columns.id == bindparam("clock_id"))
            .values(elapsed_before=bindparam("elapsed_before"), due_at=bindparam("due_at"),
                    next_alert_at=bindparam("next_alert_at")), updates)
        done += len(rows)
        last_id = rows[-1]["id"]
    await session.execute(text(
        "UPDATE tickets SET due_at = (SELECT min(c.due_at) FROM sla_clocks c WHERE c.ticket_id = tickets.id "
        "AND c.stopped_at IS NULL) WHERE status IN ('new', 'assigned', 'waiting_applicant', 'reopened')"))
    return done


async def recompute(database: Database) -> int:
    """Ops: every open clock recomputed (after a calendar change), in one transaction."""
    async with database.transaction() as session:
        return await recompute_open_clocks(session)
