"""Agents and assignment: **least-loaded** — an available agent of the ticket's department with the
fewest open tickets, the one idle longest first on a tie; the bureau's own agents when the
department has nobody free. A ticket whose agent has not answered within
``reassign_after_seconds`` of being assigned goes to another available agent (the one who did
not answer is skipped and marked away until they say they are available again, so neither this
person nor the next is left with someone who is not there.

Assignment of one department is serialised with a transaction-level advisory lock, so two tickets
arriving together cannot both take the last free place of the same agent.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ScalarSelect, and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import messages
from helpdesk.models import Agent, SlaClock, Ticket, TicketStep
from helpdesk.schemas import AgentUpdate, AgentView
from helpdesk.service.common import BUREAU
from kit.auth import Principal
from kit.db import Database
from kit.scheduling import lock_id

OPEN_STATUSES = ("new", "assigned", "waiting_applicant", "reopened")
# States in which the ticket is the agent's move: no answer here means re-assignment.
AGENTS_MOVE = ("assigned", "reopened")


def open_count() -> ScalarSelect[int]:
    """An agent's open tickets, correlated to the ``Agent`` of the enclosing query."""
    return (select(func.count()).select_from(Ticket)
            .where(Ticket.assigned_agent == Agent.subject, Ticket.status.in_(OPEN_STATUSES))
            .correlate(Agent).scalar_subquery())


async def pick_agent(session: AsyncSession, department: str, exclude: set[str] | None = None) -> Agent | None:
    """The least-loaded available agent for ``department`` (its own staff before the bureau's)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id(f"helpdesk.assign.{department}")})
    load = open_count()
    for pool in ([department, BUREAU] if department != BUREAU else [BUREAU]):
        stmt = (select(Agent).where(Agent.department == pool, Agent.available.is_(True), load < Agent.max_open)
                .order_by(load, Agent.last_assigned_at.asc().nulls_first(), Agent.subject).limit(1))
        if exclude:
            stmt = stmt.where(Agent.subject.not_in(exclude))
        agent = await session.scalar(stmt)
        if agent is not None:
            return agent
    return None


def give_to(session: AsyncSession, ticket: Ticket, agent: Agent, at: datetime, *, action: str, actor: str | None,
            note: str | None = None) -> None:
    before = ticket.status
    ticket.assigned_agent = agent.subject
    ticket.assigned_at = at
    if ticket.status == "new":
        ticket.status = "assigned"
    agent.last_assigned_at = at
    session.add(TicketStep(ticket_id=ticket.id, action=action, status_before=before, status_after=ticket.status,
                           actor_subject=actor, note=note or agent.subject, at=at))


async def assign_if_possible(session: AsyncSession, ticket: Ticket, at: datetime) -> bool:
    agent = await pick_agent(session, ticket.department)
    if agent is None:
        return False
    give_to(session, ticket, agent, at, action="assigned", actor=None)
    return True


async def reassign_unanswered(session: AsyncSession, now: datetime, after_seconds: float, limit: int = 200) -> int:
    """One tick: assign waiting unassigned tickets, and move tickets whose agent did not answer in time."""
    moved = 0
    unassigned = (await session.scalars(
        select(Ticket).where(Ticket.status.in_(("new", "reopened")), Ticket.assigned_agent.is_(None))
        .order_by(Ticket.due_at.asc().nulls_last()).limit(limit).with_for_update(skip_locked=True))).all()
    for ticket in unassigned:
        moved += await assign_if_possible(session, ticket, now)
    # Waiting for a response (a running response clock) longer than allowed since the assignment.
    cutoff = now - timedelta(seconds=after_seconds)
    waiting_response = select(SlaClock.ticket_id).where(
        SlaClock.kind.in_(("first_response", "next_response")), SlaClock.stopped_at.is_(None),
        SlaClock.started_at < cutoff)
    stale = (await session.scalars(
        select(Ticket).where(Ticket.status.in_(AGENTS_MOVE), Ticket.assigned_agent.is_not(None),
                             Ticket.assigned_at < cutoff,
                             Ticket.id.in_(waiting_response))
        .order_by(Ticket.due_at.asc().nulls_last()).limit(limit).with_for_update(skip_locked=True))).all()
    for ticket in stale:
        previous = ticket.assigned_agent
        agent = await pick_agent(session, ticket.department, exclude={previous} if previous else None)
        if agent is None:
            continue
        # The step's note is stored once for readers of either language.
        reason = messages.REASSIGNED_NO_ANSWER.format(seconds=f"{after_seconds:.0f}")
        give_to(session, ticket, agent, now, action="reassigned", actor=None,
                note=f"{previous} → {agent.subject}: {reason.both()}")
        absent = await session.get(Agent, previous) if previous else None
        if absent is not None and absent.available:
            absent.available, absent.updated_at = False, now
        moved += 1
    return moved


async def agents_with_load(session: AsyncSession, department: str | None) -> list[tuple[Agent, int]]:
    stmt = select(Agent, open_count()).order_by(Agent.department, Agent.subject)
    if department:
        stmt = stmt.where(or_(Agent.department == department, and_(Agent.department == BUREAU)))
    return [(a, n) for a, n in (await session.execute(stmt)).all()]


def _agent_view(agent: Agent, open_tickets: int) -> AgentView:
    return AgentView(subject=agent.subject, department=agent.department, available=agent.available,
                     max_open=agent.max_open, open_tickets=open_tickets, last_assigned_at=agent.last_assigned_at)


async def list_agents(session: AsyncSession, department: str | None) -> list[AgentView]:
    return [_agent_view(a, n) for a, n in await agents_with_load(session, department)]


async def set_availability(database: Database, principal: Principal, body: AgentUpdate) -> AgentView:
    """The agent goes available or away and says how many open tickets they take at once."""
    async with database.transaction() as session:
        agent = await session.get(Agent, principal.subject, with_for_update=True)
        if agent is None:
            agent = Agent(subject=principal.subject, department=principal.department or "")
            session.add(agent)
        agent.department = principal.department or agent.department
        agent.available, agent.max_open = body.available, body.max_open
        await session.flush()
        open_tickets = dict((a.subject, n) for a, n in await agents_with_load(session, agent.department))
        return _agent_view(agent, open_tickets.get(agent.subject, 0))
