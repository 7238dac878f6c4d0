"""Statutory clocks across the 2026→2027 boundary with no approved 2027 (counted on the provisional
year, marked so), then 2027 approved with a make-up working Saturday and a holiday the provisional year
does not have: due dates recomputed from start, limit and pauses, with a timeline note and an event,
once. On a real database; the calendar is swapped as the bucket watcher would swap it."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select, update

from kit.calendar import WorkingDayCalendar, parse_year_data
from kit.events import outbox
from kit.i18n import Text
from matters.models import Application, ApplicationStep, ClockPause
from matters.service import calendar_years, clock

SH = clock.SHANGHAI
# Test data in the shape of a notice, NOT the real 2027 arrangement: 元旦 Friday 1 January, a make-up
# working Saturday 2 January and an extra holiday on Monday 4 January.
APPROVED_2027 = parse_year_data({
    "year": 2027, "holidays": ["2027-01-01", "2027-01-04", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10"],
    "workdays": ["2027-01-02"], "source": "synthetic test data (not the real 2027 notice)",
    "approved_by": "test-ops", "approved_at": "2026-12-10T10:00:00+08:00"}, "test")


@pytest.fixture(scope="module")
async def database(servers):
    from support import scratch_service_database

    async with scratch_service_database(servers.database_url, "matters", "lvrong_unit_calendar_years") as db:
        yield db


@pytest.fixture
async def calendars(database, monkeypatch):
    """The library's calendar (2027 provisional) until ``approve()`` swaps in the approved 2027."""
    async with database.transaction() as session:  # each test counts only its own clocks (steps are append-only)
        await session.execute(update(Application).values(clock_started_on=None, clock_due_date=None,
                                                         clock_due_provisional=False))
    state = {"cal": WorkingDayCalendar()}
    monkeypatch.setattr(clock, "calendar", lambda: state["cal"])

    def approve() -> WorkingDayCalendar:
        state["cal"] = WorkingDayCalendar(years=[APPROVED_2027])
        return state["cal"]

    return state["cal"], approve


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), SH)


async def new_application(session, **values) -> Application:
    values = {"status": "accepted", **values}
    app = Application(id=uuid.uuid4().hex, matter_code="LR-XK-008", matter_version=1, matter_kind="licence",
                      department="市绿化市容局许可处", origin="application", applicant_subject="u-test",
                      applicant_kind="person", form={}, materials={}, attempt=1,
                      exempted_materials=0, clock_warned_percent=0, created_at=at(dt.date(2026, 12, 1)),
                      status_since=at(dt.date(2026, 12, 6)), **values)
    session.add(app)
    await session.flush()
    return app


async def recompute(database, year: int = 2027) -> tuple[int, list[dict]]:
    async with database.transaction() as session:
        before = await session.scalar(select(func.count()).select_from(outbox))
        changed = await calendar_years.recompute_year(session, year, at(dt.date(2026, 12, 10)))
        rows = (await session.execute(select(outbox.c.envelope).order_by(outbox.c.position).offset(before))).all()
    return changed, [r.envelope for r in rows]


async def test_accepted_on_6_december_counts_on_the_provisional_2027_then_on_the_approved_one(database, calendars) -> None:
    provisional, approve = calendars
    assert provisional.is_provisional(2027)
    async with database.transaction() as session:
        app = await new_application(session)
        clock.start(app, 20, at(dt.date(2026, 12, 6)))  # Sunday; 20 working days
        # 19 working days from 7 to 31 December, 1 January (元旦) off: the 20th is Monday 4 January.
        assert app.clock_due_date == dt.date(2027, 1, 4) and app.clock_due_provisional
        view = clock.view(app, at(dt.date(2026, 12, 7)))
        assert view.due_date_provisional and view.working_days_left == 19 and not view.overdue
        app_id = app.id
    approve()
    changed, events = await recompute(database)
    assert changed == 1
    async with database.session() as session:
        app = await session.get(Application, app_id)
        # The approved 2027 works Saturday 2 January: that is the 20th working day now; final.
        assert app.clock_due_date == dt.date(2027, 1, 2) and not app.clock_due_provisional
        assert not clock.view(app, at(dt.date(2026, 12, 10))).due_date_provisional
        note = (await session.scalars(select(ApplicationStep).where(ApplicationStep.application_id == app_id))).one()
    assert note.action == "recompute_due_date" and note.status == note.from_status == "accepted"
    assert note.reason.startswith("法定日历 2027 已批准，办理时限重新计算为 2027-01-02")
    assert "the due date is recomputed as 2027-01-02" in note.reason and "provisional" not in note.reason
    assert note.details == {"calendar_year": 2027, "previous_due_date": "2027-01-04", "due_date": "2027-01-02",
                            "due_date_provisional": False}
    # The step's status event (as for an extension: live streams show the note) and the due-date event.
    assert [e["type"] for e in events] == ["lvrong.matters.application.status_changed",
                                           "lvrong.matters.application.due_date_changed"]
    assert (events[0]["data"]["action"], events[0]["data"]["to_status"]) == ("recompute_due_date", "accepted")
    data = events[1]["data"]
    assert (data["application_id"], data["previous_due_date"], data["due_date"], data["provisional"],
            data["previous_provisional"], data["reason"], data["calendar_year"], data["step_id"]) == (
        app_id, "2027-01-04", "2027-01-02", False, True, "calendar_year_approved", 2027, note.id)
    # The same approval again (a redelivered event, a second replica): nothing changes, nothing is written.
    assert await recompute(database) == (0, [])


async def test_pauses_are_counted_again_on_the_approved_year(database, calendars) -> None:
    provisional, approve = calendars
    async with database.transaction() as session:
        app = await new_application(session)
        clock.start(app, 10, at(dt.date(2026, 12, 21)))
        clock.pause(session, app, at(dt.date(2026, 12, 23)), "补正")
        await session.flush()
        await clock.resume(session, app, at(dt.date(2027, 1, 6)))  # waited across 元旦 and a provisional week
        pause = await session.scalar(select(ClockPause).where(ClockPause.application_id == app.id))
        # Waited (23 Dec, 6 Jan]: 24, 25, 28, 29, 30, 31 Dec, 4, 5, 6 Jan on the provisional year.
        assert pause.working_days == 9 and app.clock_due_provisional
        assert app.clock_due_date == provisional.add_working_days(dt.date(2026, 12, 21), 19)
        clock.extend(session, app, 3, "专家论证", "u-reviewer", at(dt.date(2027, 1, 6)))
        app_id = app.id
    cal = approve()
    changed, events = await recompute(database)
    assert changed == 1 and len(events) == 2
    async with database.session() as session:
        app = await session.get(Application, app_id)
        pause = await session.scalar(select(ClockPause).where(ClockPause.application_id == app_id))
        # On the approved 2027: Saturday 2 January worked, Monday 4 January off: still 9 days waited.
        assert pause.working_days == cal.working_days_between(dt.date(2026, 12, 23), dt.date(2027, 1, 6)) == 9
        assert app.clock_limit_days == 13
        assert app.clock_due_date == cal.add_working_days(dt.date(2026, 12, 21), 13 + 9)
        assert not app.clock_due_provisional and app.clock_next_warning_on is not None


async def test_only_clocks_counted_on_the_year_are_touched(database, calendars) -> None:
    _, approve = calendars
    async with database.transaction() as session:
        inside_2026 = await new_application(session)
        clock.start(inside_2026, 5, at(dt.date(2026, 12, 1)))  # due 8 December: no 2027 in it
        decided = await new_application(session, status="approved")
        clock.start(decided, 20, at(dt.date(2026, 12, 6)))
        clock.stop(decided, at(dt.date(2026, 12, 20)))  # decided, its due date provisional: made final
        assert not inside_2026.clock_due_provisional and decided.clock_due_provisional
        ids = inside_2026.id, decided.id
    approve()
    changed, events = await recompute(database)
    assert changed == 1 and {e["data"]["application_id"] for e in events} == {ids[1]}
    async with database.session() as session:
        assert (await session.get(Application, ids[0])).clock_due_date == dt.date(2026, 12, 8)
        assert (await session.get(Application, ids[1])).clock_due_date == dt.date(2027, 1, 2)


async def test_a_clock_past_the_provisional_year_still_fails_loudly(database, calendars) -> None:
    from kit.errors import ServiceUnavailable

    async with database.transaction() as session:
        app = await new_application(session)
        with pytest.raises(ServiceUnavailable) as problem:
            clock.start(app, 300, at(dt.date(2026, 12, 6)))  # reaches 2028: no data, not provisional either
        detail = problem.value.detail
        assert isinstance(detail, Text) and "2028" in detail.zh and "2028" in detail.en
