"""Least-loaded assignment on a real database: the available agent of the ticket's department with
the fewest open tickets, the longest idle on a tie; full or away agents skipped; the bureau's own
agents when the department has nobody free; re-assignment of a ticket nobody answered."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from helpdesk.models import Agent, SlaClock, Ticket, TicketStep
from helpdesk.service import assignment, sla, tickets
from helpdesk.service.common import BUREAU
from kit.calendar import WorkingDayCalendar
from support import scratch_service_database

OFFICE = "市绿化市容局许可处"
NOW = dt.datetime(2026, 6, 1, 10, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "helpdesk", "lvrong_hb_unit_assign") as db:
        yield db


@pytest.fixture(autouse=True)
async def clean(database, monkeypatch: pytest.MonkeyPatch):
    cal = WorkingDayCalendar()
    monkeypatch.setattr(sla.clockwork, "calendar", lambda: cal)
    async with database.transaction() as session:
        for table in ("sla_clock_pauses", "sla_clocks", "ticket_steps", "ticket_messages", "tickets", "agents"):
            await session.execute(delete(Ticket.metadata.tables[table]))
    yield


async def ticket_for(session, department: str = OFFICE, at: dt.datetime = NOW) -> Ticket:
    return await tickets.open_ticket(
        session, channel="online", subject_text="问题", department=department, priority="normal", matter_code=None,
        applicant_subject="u-test", application_id=None, conversation_id=None, contact_name=None, contact_phone=None,
        messages=[], at=at, actor="u-test")


async def test_least_loaded_then_longest_idle(database) -> None:
    async with database.transaction() as session:
        session.add_all([
            Agent(subject="a-busy", department=OFFICE, available=True, max_open=10, last_assigned_at=NOW),
            Agent(subject="a-idle-long", department=OFFICE, available=True, max_open=10,
                  last_assigned_at=NOW - dt.timedelta(hours=2)),
            Agent(subject="a-idle-short", department=OFFICE, available=True, max_open=10,
                  last_assigned_at=NOW - dt.timedelta(hours=1)),
            Agent(subject="a-away", department=OFFICE, available=False, max_open=10),
            Agent(subject="a-bureau", department=BUREAU, available=True, max_open=10),
        ])
        await session.flush()
        later = [NOW + dt.timedelta(seconds=i) for i in range(1, 6)]
        first = await ticket_for(session, at=later[0])
        assert first.assigned_agent == "a-idle-long"  # all at 0 open: the longest idle
        second = await ticket_for(session, at=later[1])
        assert second.assigned_agent == "a-idle-short"
        third = await ticket_for(session, at=later[2])
        assert third.assigned_agent == "a-busy"
        fourth = await ticket_for(session, at=later[3])  # every office agent has 1 now: the longest idle again
        assert fourth.assigned_agent == "a-idle-long"
        # A resolved ticket no longer counts as load: a-busy has none open now.
        third.status = "resolved"
        await session.flush()
        assert (await ticket_for(session, at=later[4])).assigned_agent == "a-busy"


async def test_full_and_away_agents_are_skipped_and_the_bureau_helps(database) -> None:
    async with database.transaction() as session:
        session.add_all([Agent(subject="a-one", department=OFFICE, available=True, max_open=1),
                         Agent(subject="a-bureau", department=BUREAU, available=True, max_open=1)])
        await session.flush()
        assert (await ticket_for(session)).assigned_agent == "a-one"
        assert (await ticket_for(session)).assigned_agent == "a-bureau"  # the office is full
        nobody = await ticket_for(session)
        assert nobody.assigned_agent is None and nobody.status == "new"
        other = await ticket_for(session, department="市林业总站")
        assert other.assigned_agent is None  # the bureau's one agent is full too


async def test_unanswered_ticket_goes_to_someone_else(database) -> None:
    async with database.transaction() as session:
        session.add_all([Agent(subject="a-first", department=OFFICE, available=True, max_open=5),
                         Agent(subject="a-second", department=OFFICE, available=True, max_open=5,
                               last_assigned_at=NOW)])
        await session.flush()
        ticket = await ticket_for(session)
        assert ticket.assigned_agent == "a-first"
        answered = await ticket_for(session)
        assert answered.assigned_agent == "a-second"
        for clock in (await session.scalars(select(SlaClock).where(SlaClock.ticket_id == answered.id))).all():
            if clock.kind == "first_response":
                sla.stop(clock, NOW + dt.timedelta(seconds=5), "online")
        await session.flush()
        # 20 s: not yet; 31 s: the unanswered one moves, the answered one stays.
        assert await assignment.reassign_unanswered(session, NOW + dt.timedelta(seconds=20), 30) == 0
        assert await assignment.reassign_unanswered(session, NOW + dt.timedelta(seconds=31), 30) == 1
        await session.flush()
        assert ticket.assigned_agent == "a-second" and answered.assigned_agent == "a-second"
        step = (await session.scalars(select(TicketStep).where(TicketStep.ticket_id == ticket.id)
                                      .order_by(TicketStep.id.desc()).limit(1))).one()
        assert step.action == "reassigned" and step.note.startswith("a-first → a-second")
        # The agent who did not answer is away until they come back; new tickets skip them.
        assert (await session.get(Agent, "a-first")).available is False
        assert (await ticket_for(session, at=NOW + dt.timedelta(seconds=31))).assigned_agent == "a-second"
        # A waiting unassigned ticket is assigned by the same job once someone is free.
        session.add(Agent(subject="a-late", department="市林业总站", available=False, max_open=5))
        waiting = await ticket_for(session, department="市林业总站")
        assert waiting.assigned_agent is None
        (await session.get(Agent, "a-late")).available = True
        await session.flush()
        assert await assignment.reassign_unanswered(session, NOW + dt.timedelta(seconds=32), 30) >= 1
        await session.flush()
        assert waiting.assigned_agent == "a-late" and waiting.status == "assigned"
