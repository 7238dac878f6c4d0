"""The statutory clock on a real database: pauses across a holiday and a make-up working day,
extensions, and the 50/80/100% warnings sent once each."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from kit.calendar import WorkingDayCalendar
from kit.events import outbox
from matters.models import Application, ClockPause
from matters.service import clock
from support import scratch_service_database, write_test_calendar

SH = clock.SHANGHAI


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "matters", "lvrong_unit_clock") as db:
        yield db


@pytest.fixture
def calendar(tmp_path, monkeypatch) -> tuple[WorkingDayCalendar, dict]:
    added = write_test_calendar(tmp_path, today=dt.date(2026, 6, 1))  # Monday: holidays Wed 3rd, Thu 4th; Sat 6th works
    cal = WorkingDayCalendar(tmp_path)
    monkeypatch.setattr(clock, "calendar", lambda: cal)
    return cal, added


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), SH)


async def new_application(session, **values) -> Application:
    app = Application(id=uuid.uuid4().hex, matter_code="LR-XK-008", matter_version=1, matter_kind="licence",
                      department="市绿化市容局许可处", origin="application", applicant_subject="u-test",
                      applicant_kind="person", form={}, materials={}, status="accepted", attempt=1,
                      exempted_materials=0, clock_warned_percent=0, **values)
    session.add(app)
    await session.flush()
    return app


async def test_holiday_and_make_up_day_shape_the_due_date(database, calendar) -> None:
    cal, added = calendar
    assert added["holidays"] == [dt.date(2026, 6, 3), dt.date(2026, 6, 4)] and added["workday"] == dt.date(2026, 6, 6)
    async with database.transaction() as session:
        app = await new_application(session)
        clock.start(app, 5, at(dt.date(2026, 6, 1)))
        # Tue 2, (Wed 3, Thu 4 off), Fri 5, Sat 6 (make-up), (Sun 7 off), Mon 8, Tue 9 → the 5th working day is Tue 9.
        assert app.clock_due_date == dt.date(2026, 6, 9)
        view = clock.view(app, at(dt.date(2026, 6, 5)))
        assert view.working_days_left == 3 and not view.overdue and view.percent_used == 40
        late = clock.view(app, at(dt.date(2026, 6, 10)))
        assert late.overdue and late.working_days_left == -1


async def test_pause_across_holidays_moves_the_due_date_by_working_days_waited(database, calendar) -> None:
    async with database.transaction() as session:
        app = await new_application(session)
        clock.start(app, 10, at(dt.date(2026, 6, 1)))
        due_before = app.clock_due_date
        clock.pause(session, app, at(dt.date(2026, 6, 2)), "补正")
        frozen = clock.view(app, at(dt.date(2026, 6, 8)))
        assert frozen.paused and frozen.working_days_left == clock.view(app, at(dt.date(2026, 6, 2))).working_days_left
        assert not frozen.overdue
        await clock.resume(session, app, at(dt.date(2026, 6, 8)))
        # Waited Wed 3 (off), Thu 4 (off), Fri 5, Sat 6 (make-up), Sun 7 (off), Mon 8: three working days.
        assert app.clock_due_date == calendar[0].add_working_days(due_before, 3)
        pause = await session.scalar(select(ClockPause).where(ClockPause.application_id == app.id))
        assert pause.working_days == 3 and pause.resumed_at is not None
        clock.extend(session, app, 2, "专家论证", "u-reviewer", at(dt.date(2026, 6, 8)))
        assert app.clock_limit_days == 12


async def test_warnings_at_50_80_100_percent_are_sent_once_each(database, calendar) -> None:
    async with database.transaction() as session:
        app = await new_application(session)
        clock.start(app, 10, at(dt.date(2026, 6, 1)))
        app_id = app.id

    async def tick(day: dt.date) -> list[int]:
        async with database.transaction() as session:
            before = await session.scalar(select(func.count()).select_from(outbox))
            await clock.send_due_warnings(session, day)
            rows = (await session.execute(select(outbox.c.envelope).order_by(outbox.c.position).offset(before))).all()
        return [r.envelope["data"]["percent"] for r in rows
                if r.envelope["type"] == "lvrong.matters.clock.warning" and r.envelope["data"]["application_id"] == app_id]

    cal = calendar[0]
    start = dt.date(2026, 6, 1)
    assert await tick(cal.add_working_days(start, 4)) == []
    assert await tick(cal.add_working_days(start, 5)) == [50]
    assert await tick(cal.add_working_days(start, 5)) == []  # the same day again: nothing twice
    assert await tick(cal.add_working_days(start, 8)) == [80]
    assert await tick(cal.add_working_days(start, 12)) == [100]  # reached late (scheduler was down): sent once
    assert await tick(cal.add_working_days(start, 13)) == []
