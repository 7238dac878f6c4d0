"""The SLA engine on a real database, against a golden set of dates: every public holiday and every
make-up working day (调休) of 2025 and 2026 as the State Council's notices set them, pauses across a
weekend, a holiday and a make-up Saturday, reopening, alerts, recomputation, a provisional year and a missing one.

The expected dates are written out by hand from the notices (国办发明电〔2024〕12号 for 2025, the
notice of November 2025 for 2026), not derived from the calendar under test.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from helpdesk.models import SlaClock, SlaClockPause, SlaPolicy, Ticket
from helpdesk.service import sla, tickets
from kit.calendar import SHANGHAI, CalendarYearMissing, WorkingDayCalendar, WorkingHours
from kit.errors import ServiceUnavailable
from kit.events import outbox
from kit.i18n import Text
from support import scratch_service_database

HOURS = WorkingHours()  # 09:00–12:00 and 13:00–17:00: 7 working hours a day
DAY = 7 * 3600


def at(y: int, m: int, d: int, hour: int = 15, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hour, minute, tzinfo=SHANGHAI)


# One working day (7 office hours) from 15:00 on the first date ends at 15:00 on the second.
GOLDEN_ONE_WORKING_DAY = [
    # 2025
    (at(2024, 12, 31), at(2025, 1, 2)),     # 元旦 1/1
    (at(2025, 1, 24), at(2025, 1, 26)),     # Sunday 1/26 is a make-up working day
    (at(2025, 1, 26), at(2025, 1, 27)),
    (at(2025, 1, 27), at(2025, 2, 5)),      # 春节 1/28–2/4
    (at(2025, 2, 7), at(2025, 2, 8)),       # Saturday 2/8 make-up
    (at(2025, 4, 3), at(2025, 4, 7)),       # 清明 4/4–4/6
    (at(2025, 4, 25), at(2025, 4, 27)),     # Sunday 4/27 make-up
    (at(2025, 4, 30), at(2025, 5, 6)),      # 劳动节 5/1–5/5
    (at(2025, 5, 30), at(2025, 6, 3)),      # 端午 5/31–6/2
    (at(2025, 9, 26), at(2025, 9, 28)),     # Sunday 9/28 make-up
    (at(2025, 9, 30), at(2025, 10, 9)),     # 国庆·中秋 10/1–10/8
    (at(2025, 10, 10), at(2025, 10, 11)),   # Saturday 10/11 make-up
    # 2026
    (at(2025, 12, 31), at(2026, 1, 4)),     # 元旦 1/1–1/3, Sunday 1/4 make-up
    (at(2026, 1, 4), at(2026, 1, 5)),
    (at(2026, 2, 13), at(2026, 2, 14)),     # Saturday 2/14 make-up
    (at(2026, 2, 14), at(2026, 2, 24)),     # 春节 2/15–2/23
    (at(2026, 2, 27), at(2026, 2, 28)),     # Saturday 2/28 make-up
    (at(2026, 4, 3), at(2026, 4, 7)),       # 清明 4/4–4/6
    (at(2026, 4, 30), at(2026, 5, 6)),      # 劳动节 5/1–5/5
    (at(2026, 5, 8), at(2026, 5, 9)),       # Saturday 5/9 make-up
    (at(2026, 6, 18), at(2026, 6, 22)),     # 端午 6/19–6/21
    (at(2026, 9, 18), at(2026, 9, 20)),     # Sunday 9/20 make-up
    (at(2026, 9, 24), at(2026, 9, 28)),     # 中秋 9/25–9/27
    (at(2026, 9, 30), at(2026, 10, 8)),     # 国庆 10/1–10/7
    (at(2026, 10, 9), at(2026, 10, 10)),    # Saturday 10/10 make-up
]


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "helpdesk", "lvrong_hb_unit_sla") as db:
        yield db


@pytest.fixture(autouse=True)
def library_calendar(monkeypatch: pytest.MonkeyPatch) -> WorkingDayCalendar:
    """The library's years only (2004–2026), whatever CALENDAR_DIR says; the default office hours."""
    cal = WorkingDayCalendar()
    monkeypatch.setattr(sla.clockwork, "calendar", lambda: cal)
    monkeypatch.setattr(sla.clockwork, "hours", HOURS)
    return cal


async def new_ticket(session, start: dt.datetime, **values) -> Ticket:
    return await tickets.open_ticket(
        session, channel=values.get("channel", "online"), subject_text="测试问题", department="市绿化市容局许可处",
        priority=values.get("priority", "normal"), matter_code=None, applicant_subject="u-test", application_id=None,
        conversation_id=None, contact_name=None, contact_phone=None, messages=[], at=start, actor="u-test")


async def clock_of(session, ticket: Ticket, kind: str, cycle: int = 0) -> SlaClock:
    return (await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket.id, SlaClock.kind == kind,
                                                         SlaClock.cycle == cycle))).one()


@pytest.mark.parametrize(("start", "due"), GOLDEN_ONE_WORKING_DAY, ids=lambda v: v.date().isoformat())
async def test_resolution_due_over_every_holiday_and_make_up_day(database, start, due) -> None:
    async with database.transaction() as session:
        ticket = await new_ticket(session, start)
        clock = await clock_of(session, ticket, "resolution")
        assert (clock.unit, clock.amount, clock.target_seconds) == ("working_days", 1, DAY)
        assert clock.due_at == due
        assert ticket.due_at == start + dt.timedelta(seconds=60)  # the 1-minute first response comes first
        # The warning at 80% of 7 h: 5 h 36 min of office time after the start.
        assert sla.clockwork.measure("working_days", start, clock.next_alert_at) == pytest.approx(0.8 * DAY)


def test_working_hours_across_the_lunch_break_and_a_holiday(library_calendar: WorkingDayCalendar) -> None:
    cal = library_calendar
    # Four hours from Friday 13 Feb 2026 15:00: 2 h on Friday, 2 h on the make-up Saturday.
    assert cal.add_working_time(at(2026, 2, 13), 4 * 3600, HOURS) == at(2026, 2, 14, 11)
    # Four hours from the make-up Saturday 16:00: 1 h there, then 3 h after the Spring Festival (ends at 12:00).
    assert cal.add_working_time(at(2026, 2, 14, 16), 4 * 3600, HOURS) == at(2026, 2, 24, 12)
    assert cal.working_seconds_between(at(2026, 2, 14, 16), at(2026, 2, 24, 12), HOURS) == 4 * 3600
    # Time before opening, at lunch and after closing does not count.
    assert cal.working_seconds_between(at(2026, 3, 2, 7), at(2026, 3, 2, 12, 30), HOURS) == 3 * 3600
    assert cal.working_seconds_between(at(2026, 3, 2, 17, 30), at(2026, 3, 3, 8), HOURS) == 0
    # From the evening of the last working day before National Day 2026 to the morning after it.
    assert cal.add_working_time(at(2026, 9, 30, 20), 1800, HOURS) == at(2026, 10, 8, 9, 30)


async def test_pause_across_a_weekend(database) -> None:
    async with database.transaction() as session:
        ticket = await new_ticket(session, at(2026, 11, 20, 10))  # an ordinary Friday
        clock = await clock_of(session, ticket, "resolution")
        sla.pause(session, clock, at(2026, 11, 20, 11), "waiting_applicant")  # 1 h used
        assert clock.due_at is None and clock.next_alert_at is None
        await session.flush()
        await sla.resume(session, clock, at(2026, 11, 23, 14))  # Monday 14:00
        # 6 h left: Monday 14–17, Tuesday 9–12.
        assert clock.due_at == at(2026, 11, 24, 12)
        assert sla.elapsed(clock, at(2026, 11, 23, 16)) == pytest.approx(3 * 3600)
        pause = (await session.scalars(select(SlaClockPause).where(SlaClockPause.clock_id == clock.id))).one()
        assert (pause.paused_at, pause.resumed_at) == (at(2026, 11, 20, 11), at(2026, 11, 23, 14))
        # The stored intervals alone give the same figures.
        clock.elapsed_before, clock.due_at = 0.0, None
        sla.recompute(clock, [pause])
        assert clock.elapsed_before == pytest.approx(3600) and clock.due_at == at(2026, 11, 24, 12)


async def test_pause_across_national_day(database) -> None:
    async with database.transaction() as session:
        ticket = await new_ticket(session, at(2025, 9, 30, 16))
        clock = await clock_of(session, ticket, "resolution")
        sla.pause(session, clock, at(2025, 9, 30, 16, 30), "waiting_applicant")
        await session.flush()
        await sla.resume(session, clock, at(2025, 10, 9, 10))
        # 6.5 h left: Thursday 10–12 and 13–17, then 30 minutes on Friday 10 October.
        assert clock.due_at == at(2025, 10, 10, 9, 30)


async def test_pause_before_a_make_up_saturday(database) -> None:
    async with database.transaction() as session:
        ticket = await new_ticket(session, at(2025, 10, 10, 16))  # Friday
        clock = await clock_of(session, ticket, "resolution")
        sla.pause(session, clock, at(2025, 10, 10, 16, 30), "waiting_applicant")
        await session.flush()
        await sla.resume(session, clock, at(2025, 10, 11, 10))  # Saturday 11 October: a make-up working day
        # 6.5 h left: the Saturday 10–12 and 13–17 count, Sunday does not: Monday 09:30.
        assert clock.due_at == at(2025, 10, 13, 9, 30)


async def test_stop_reopen_starts_a_new_cycle(database) -> None:
    async with database.transaction() as session:
        start = at(2026, 3, 2, 9)
        ticket = await new_ticket(session, start)
        first = await clock_of(session, ticket, "first_response")
        sla.stop(first, start + dt.timedelta(seconds=45), ticket.channel)
        resolution = await clock_of(session, ticket, "resolution")
        sla.stop(resolution, at(2026, 3, 2, 14), ticket.channel)  # 4 office hours of 7
        assert sla.met(first) is True and sla.met(resolution) is True
        assert resolution.elapsed_seconds == pytest.approx(4 * 3600)
        # Reopened on Friday at 16:00: a fresh resolution clock counts from there.
        ticket.reopen_count = 1
        policy = await session.get(SlaPolicy, ticket.policy_id)
        again = sla.start(session, ticket.id, "resolution", policy, at(2026, 3, 6, 16), cycle=1)
        await session.flush()
        assert again.cycle == 1 and again.elapsed_before == 0
        assert again.due_at == at(2026, 3, 9, 16)  # 1 h on Friday, 6 h on Monday
        clocks = (await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket.id)
                                        .order_by(SlaClock.cycle, SlaClock.kind))).all()
        assert [(c.kind, c.cycle, c.stopped_at is not None) for c in clocks] == [
            ("first_response", 0, True), ("resolution", 0, True), ("resolution", 1, False)]


async def test_stopped_late_counts_as_breached(database) -> None:
    async with database.transaction() as session:
        start = at(2026, 3, 3, 10)
        ticket = await new_ticket(session, start)
        first = await clock_of(session, ticket, "first_response")
        sla.stop(first, start + dt.timedelta(seconds=75), ticket.channel)
        assert sla.met(first) is False and first.breached_at is not None and first.elapsed_seconds == 75


async def test_warning_breach_and_escalation_events(database) -> None:
    start = at(2026, 3, 4, 10)
    async with database.transaction() as session:
        ticket = await new_ticket(session, start)
        ticket_id = ticket.id

    async def alerts_at(seconds: float) -> list[str]:
        async with database.transaction() as session:
            before = await session.scalar(select(func.max(outbox.c.position)))
            await tickets.send_due_alerts(session, start + dt.timedelta(seconds=seconds))
            rows = (await session.execute(select(outbox.c.subject, outbox.c.envelope).where(
                outbox.c.position > (before or 0)).order_by(outbox.c.position))).all()
            return [(r.subject, r.envelope["data"]["clock"], r.envelope["data"]["percent"]) for r in rows
                    if r.envelope["subject"] == ticket_id]

    assert await alerts_at(47) == []
    assert await alerts_at(48) == [("lvrong.helpdesk.sla.warning", "first_response", 80)]
    assert await alerts_at(50) == []  # sent once
    assert await alerts_at(61) == [("lvrong.helpdesk.sla.breached", "first_response", 100)]
    assert await alerts_at(91) == [("lvrong.helpdesk.sla.escalated", "first_response", 150)]
    # Late by a whole tick: the 200% step follows; the resolution clock (7 office hours) is not yet at 80%.
    assert await alerts_at(3600) == [("lvrong.helpdesk.sla.escalated", "first_response", 200)]
    async with database.session() as session:
        first = (await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id,
                                                              SlaClock.kind == "first_response"))).one()
        assert first.breached_at == start + dt.timedelta(seconds=61) and first.next_alert_at is None


async def test_a_clock_into_an_unapproved_year_counts_provisionally(database) -> None:
    # No approved 2027: the provisional year (元旦 Friday 1 January off, no make-up days) counts.
    assert sla.clockwork.advance("working_days", at(2026, 12, 31), DAY) == at(2027, 1, 4, 15)
    async with database.transaction() as session:
        ticket = await new_ticket(session, at(2026, 12, 31, 15))
        resolution = await clock_of(session, ticket, "resolution")
        assert resolution.due_at == at(2027, 1, 4, 15)
        assert tickets.clock_view(resolution, at(2026, 12, 31, 16)).due_at_provisional
        # Counted in seconds, the first response does not use the calendar.
        first = await clock_of(session, ticket, "first_response")
        assert not tickets.clock_view(first, at(2026, 12, 31, 16)).due_at_provisional
    async with database.transaction() as session:
        ticket = await new_ticket(session, at(2026, 12, 1, 15))
        resolution = await clock_of(session, ticket, "resolution")
        assert not tickets.clock_view(resolution, at(2026, 12, 1, 16)).due_at_provisional


async def test_a_clock_past_the_provisional_year_fails_loudly(database) -> None:
    with pytest.raises(CalendarYearMissing) as info:
        sla.clockwork.advance("working_days", at(2027, 12, 31), DAY)
    assert info.value.year == 2028
    with pytest.raises(ServiceUnavailable) as problem:
        async with database.transaction() as session:
            await new_ticket(session, at(2027, 12, 31, 15))
    assert problem.value.extensions["missing_year"] == 2028
    detail = problem.value.detail
    assert isinstance(detail, Text) and "2028" in detail.zh and "2028" in detail.en
    async with database.session() as session:  # nothing half-written
        assert await session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.created_at == at(2027, 12, 31, 15))) == 0
    # A clock measured in seconds does not need the calendar.
    assert sla.clockwork.advance("seconds", at(2027, 12, 31, 23, 59), 120) == at(2028, 1, 1, 0, 1)


async def test_recompute_rebuilds_stored_figures_from_start_and_pauses(database) -> None:
    async with database.transaction() as session:
        ticket = await new_ticket(session, at(2026, 11, 20, 10))
        clock = await clock_of(session, ticket, "resolution")
        sla.pause(session, clock, at(2026, 11, 20, 11), "waiting_applicant")
        await session.flush()
        await sla.resume(session, clock, at(2026, 11, 23, 14))
        tickets.refresh_due(ticket, await tickets.running_clocks(session, ticket.id))
        ticket_id, clock_id = ticket.id, clock.id
    async with database.transaction() as session:
        # Figures measured with other calendar data (as before ops corrected a year): wrong on purpose.
        await session.execute(SlaClock.__table__.update().where(SlaClock.id == clock_id)
                              .values(elapsed_before=9999.0, due_at=at(2030, 1, 1), next_alert_at=None))
        assert await tickets.recompute_open_clocks(session) >= 2
    async with database.session() as session:
        clock = await session.get(SlaClock, clock_id)
        assert clock.elapsed_before == pytest.approx(3600) and clock.due_at == at(2026, 11, 24, 12)
        assert sla.clockwork.measure("working_days", at(2026, 11, 23, 14), clock.next_alert_at) \
            == pytest.approx(0.8 * DAY - 3600)
        ticket = await session.get(Ticket, ticket_id)
        first = await clock_of(session, ticket, "first_response")
        assert ticket.due_at == min(first.due_at, clock.due_at)
