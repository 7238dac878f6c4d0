"""Stall detection on a real database: thresholds in hours and in working days across a holiday and
a make-up working day, one stall per stay in a status, closing when the application moves on, and
what happens when the calendar lacks the year; and the periodic job under a frozen wall clock across
weekends, 春节 and 国庆 with their make-up working days, and the year boundary."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text

from kit.calendar import WorkingDayCalendar
from kit.db import Database
from kit.events import outbox
from matters.models import Application, ApplicationStep, Stall
from matters.schemas import ApplicationStatus
from matters.service import stalls
from matters.settings import (
    APPLICANT_SIDE,
    DEFAULT_THRESHOLDS,
    TERMINAL,
    Settings,
    effective_thresholds,
    parse_overrides,
)
from support import scratch_service_database, stall_entry_day, write_test_calendar

SH = dt.timezone(dt.timedelta(hours=8))
S = ApplicationStatus


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "matters", "lvrong_unit_stalls") as db:
        yield db


@pytest.fixture
async def clean(database):
    async with database.transaction() as session:
        # processed_events: the job's tick claims (kit.scheduling), so each test's frozen minutes are free.
        await session.execute(text("TRUNCATE stalls, application_steps, applications, outbox, processed_events CASCADE"))
    return database


@pytest.fixture
def calendar(tmp_path) -> WorkingDayCalendar:
    # Holidays Wed 3 and Thu 4 June 2026, Saturday 6 June a make-up working day.
    write_test_calendar(tmp_path, today=dt.date(2026, 6, 1))
    return WorkingDayCalendar(tmp_path)


def at(day: int, hour: float = 10, month: int = 6, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=SH) + dt.timedelta(hours=hour)


async def idle(database: Database, status: S, since: dt.datetime) -> str:
    async with database.transaction() as session:
        app = Application(id=uuid.uuid4().hex, matter_code="LR-XK-008", matter_version=1, matter_kind="licence",
                          department="市绿化市容局许可处", origin="application", applicant_subject="u-test",
                          applicant_kind="person", form={}, materials={}, status=status.value, attempt=1,
                          exempted_materials=0, clock_warned_percent=0, created_at=since, updated_at=since,
                          status_since=since)
        session.add(app)
        session.add(ApplicationStep(application_id=app.id, from_status=None, status=status.value, action="test",
                                    actor_subject="u-test", actor_role="applicant", details={}, occurred_at=since))
        return app.id


async def tick(database: Database, now: dt.datetime, cal: WorkingDayCalendar, overrides: dict | None = None,
               batch: int = 2000) -> stalls.DetectionResult:
    async with database.transaction() as session:
        return await stalls.detect(session, effective_thresholds(overrides), now=now, cal=cal, batch=batch)


async def stalls_by_app(database: Database) -> dict[str, list[Stall]]:
    async with database.session() as session:
        rows = (await session.scalars(select(Stall).order_by(Stall.opened_at))).all()
    found: dict[str, list[Stall]] = {}
    for s in rows:
        found.setdefault(s.application_id, []).append(s)
    return found


async def test_working_day_thresholds_follow_the_calendar(clean, calendar) -> None:
    db = clean
    now = at(8, 10)  # Monday 8 June 10:00
    # Entered Monday 1st: Tue 2nd is the one working day, then the holiday; stalls from Fri 5th 00:00.
    monday = await idle(db, S.PREREVIEWED, at(1, 15))
    # Entered Friday 5th: Saturday 6th is a make-up working day, so it stalls from Mon 8th 00:00.
    friday = await idle(db, S.PREREVIEWED, at(5, 9))
    # Entered Saturday 6th: Monday is its one working day; not a stall before Tuesday.
    saturday = await idle(db, S.PREREVIEWED, at(6, 9))
    # 10 minutes without a pre-review verdict, whatever the day.
    stuck = await idle(db, S.SUBMITTED, now - dt.timedelta(minutes=11))
    fresh = await idle(db, S.SUBMITTED, now - dt.timedelta(minutes=9))
    # Waiting on the applicant: not a stall by default, however long.
    waiting = await idle(db, S.CORRECTION_REQUESTED, at(1, 10, month=5))

    result = await tick(db, now, calendar)
    assert result.opened == 3 and result.closed == 0 and result.skipped == []
    found = await stalls_by_app(db)
    assert set(found) == {monday, friday, stuck}
    assert found[monday][0].threshold_hours == pytest.approx(3 * 24 + 9)  # Mon 15:00 → Fri 00:00
    assert found[friday][0].threshold_hours == pytest.approx(2 * 24 + 15)  # Fri 09:00 → Mon 00:00
    assert found[stuck][0].threshold_hours == pytest.approx(1 / 6)
    assert all(s[0].status == ("submitted" if a == stuck else "prereviewed") for a, s in found.items())
    assert fresh not in found and saturday not in found and waiting not in found

    # The next ticks find them again and open nothing; one event per stall.
    assert (await tick(db, now + dt.timedelta(minutes=1), calendar)).opened == 0
    async with db.session() as session:
        events = (await session.execute(select(outbox.c.envelope))).all()
    assert sorted(e.envelope["data"]["application_id"] for e in events) == sorted([monday, friday, stuck])
    assert {e.envelope["type"] for e in events} == {"lvrong.matters.stall.opened"}

    # Tuesday: Saturday's application has had its working day.
    assert (await tick(db, at(9, 0.5), calendar)).opened == 2  # Saturday's, and the fresh submission
    assert saturday in await stalls_by_app(db)

    # An override can switch the applicant's side on, and switch a status off.
    result = await tick(db, at(9, 1), calendar, {"correction_requested": {"working_days": 10}, "submitted": None})
    assert result.opened == 1 and waiting in await stalls_by_app(db)


async def test_a_stall_closes_when_the_application_moves_on(clean, calendar) -> None:
    db = clean
    app_id = await idle(db, S.ACCEPTED, at(1, 10))
    await tick(db, at(8, 10), calendar)
    moved = at(8, 11)
    async with db.transaction() as session:
        app = await session.get(Application, app_id)
        app.status, app.status_since = "under_review", moved
        session.add(ApplicationStep(application_id=app_id, from_status="accepted", status="under_review",
                                    action="review", actor_subject="u-reviewer", actor_role="reviewer", details={},
                                    occurred_at=moved))
    result = await tick(db, at(8, 12), calendar)
    assert result.closed == 1 and result.opened == 0
    [stall] = (await stalls_by_app(db))[app_id]
    assert stall.resolved_at == moved and stall.resolution == "status changed"

    # Back in the same status later (e.g. after a correction): a new stay, a new stall when it idles.
    async with db.transaction() as session:
        app = await session.get(Application, app_id)
        app.status, app.status_since = "accepted", at(9, 10)
    await tick(db, at(15, 10), calendar)
    assert [s.resolved_at is None for s in (await stalls_by_app(db))[app_id]] == [False, True]


async def test_a_stall_resolved_by_hand_is_not_reopened(clean, calendar) -> None:
    db = clean
    app_id = await idle(db, S.APPROVED, at(1, 10))
    await tick(db, at(8, 10), calendar)
    async with db.transaction() as session:
        stall = await session.scalar(select(Stall).where(Stall.application_id == app_id))
        stall.resolved_at, stall.resolution = at(8, 11), "已催办"
    assert (await tick(db, at(9, 10), calendar)).opened == 0
    assert len((await stalls_by_app(db))[app_id]) == 1


async def test_batches_bound_one_tick(clean, calendar) -> None:
    db = clean
    for day in (1, 2):
        for _ in range(3):
            await idle(db, S.UNDER_REVIEW, at(day, 9, month=5))
    assert (await tick(db, at(8, 10), calendar, batch=4)).opened == 4
    assert (await tick(db, at(8, 10), calendar, batch=4)).opened == 2
    assert (await tick(db, at(8, 10), calendar, batch=4)).opened == 0


async def test_a_year_missing_from_the_calendar_skips_working_day_thresholds_only(clean) -> None:
    db = clean
    cal = WorkingDayCalendar()  # the library's years: no 2031
    now = dt.datetime(2031, 3, 3, 10, tzinfo=SH)
    await idle(db, S.PREREVIEWED, now - dt.timedelta(days=30))
    submitted = await idle(db, S.SUBMITTED, now - dt.timedelta(hours=2))
    result = await tick(db, now, cal)
    assert result.opened == 1 and "prereviewed" in result.skipped
    assert set(await stalls_by_app(db)) == {submitted}


async def test_old_idle_periods_outside_the_calendar_count_calendar_days(clean) -> None:
    db = clean
    cal = WorkingDayCalendar()
    ancient = await idle(db, S.PREREVIEWED, dt.datetime(2001, 5, 1, 10, tzinfo=SH))  # before the library's years
    await tick(db, at(8, 10), cal)
    [stall] = (await stalls_by_app(db))[ancient]
    assert stall.threshold_hours == pytest.approx(2 * 24 - 10)  # 1 working day + the rest of the first day


@pytest.mark.parametrize("raw", [
    {"flying": 1}, {"completed": 2}, {"submitted": 0}, {"submitted": -1}, {"submitted": True},
    {"submitted": "2h"}, {"prereviewed": {"working_days": 0}}, {"prereviewed": {"working_days": 1.5}},
    {"prereviewed": {"days": 1}}, {"prereviewed": {"hours": 1, "working_days": 1}}, {"submitted": float("inf")},
])
def test_bad_threshold_overrides_stop_the_service_at_start(raw: dict) -> None:
    with pytest.raises(ValueError):
        parse_overrides(raw)
    with pytest.raises(ValidationError):
        Settings(stall_thresholds=raw)


def test_threshold_overrides(monkeypatch) -> None:
    monkeypatch.setenv("MATTERS_STALL_THRESHOLDS", '{"prereviewed": 0.5, "returned": {"working_days": 3}, '
                                                   '"licence_issued": null, "accepted": {"hours": 4}}')
    effective = effective_thresholds(Settings().stall_thresholds)
    assert effective[S.PREREVIEWED].hours == 0.5 and effective[S.PREREVIEWED].working_days is None
    assert effective[S.RETURNED].working_days == 3 and effective[S.ACCEPTED].hours == 4
    assert S.LICENCE_ISSUED not in effective and effective[S.UNDER_REVIEW] == DEFAULT_THRESHOLDS[S.UNDER_REVIEW]
    assert set(DEFAULT_THRESHOLDS) & (APPLICANT_SIDE | TERMINAL) == set()



# --- the periodic job under a frozen wall clock ---------------------------------------------------
#
# The job reads the wall clock (datetime.now) and the platform calendar: here the clock is frozen
# (time-machine; asyncio's monotonic clock keeps running) and the job is run as the scheduler runs it,
# on the library's real 2026 (春节, 国庆, their 调休 working days) and a 2027 given here, so the
# crossings below hold on whatever day the suite runs.

def real_calendar() -> WorkingDayCalendar:
    """2026 as the State Council published it (library data); 2027's New Year holiday given explicitly, so
    the year boundary does not depend on which later years the library or the provisional rules know."""
    from kit.calendar import CalendarYear

    new_year = frozenset({dt.date(2027, 1, 1), dt.date(2027, 1, 2), dt.date(2027, 1, 3)})
    return WorkingDayCalendar(years=[CalendarYear(2027, holidays=new_year, workdays=frozenset(), source="test")])


async def job_tick(database: Database, moment: dt.datetime, cal: WorkingDayCalendar,
                   overrides: dict | None = None) -> int | None:
    """One tick of the stall-detection job as the scheduler runs it, with the wall clock frozen at ``moment``."""
    import time_machine

    from kit.scheduling import run_tick

    job = stalls.detection_job(effective_thresholds(overrides), batch=100, cal=cal)
    with time_machine.travel(moment, tick=False):
        return await run_tick(database, "matters.stall-detection", job, tick_seconds=60)


# (what, status, entered, the last moment it is not a stall, threshold hours from entry to crossing)
CROSSINGS = [
    # An ordinary weekend: entered Friday, Monday is the one working day, a stall from Tuesday 00:00.
    ("weekend", S.PREREVIEWED, dt.datetime(2026, 3, 6, 10, tzinfo=SH), dt.datetime(2026, 3, 10, tzinfo=SH), 86),
    # 春节: Saturday 14 Feb is a make-up working day (调休上班), 15–23 Feb are off: the second working day
    # after Friday 13th is Tuesday 24th — ten calendar days, where a count of days would say three.
    ("spring festival", S.PREREVIEWED, dt.datetime(2026, 2, 13, 15, tzinfo=SH),
     dt.datetime(2026, 2, 24, tzinfo=SH), 10 * 24 + 9),
    # 国庆 ends on Wednesday 7 Oct; Saturday 10 Oct is a make-up working day, so entered on Thursday 8th
    # the stall begins on that Saturday at 00:00.
    ("make-up Saturday", S.PREREVIEWED, dt.datetime(2026, 10, 8, 11, tzinfo=SH),
     dt.datetime(2026, 10, 10, tzinfo=SH), 37),
    # Across the year boundary and 元旦 2027: entered Thursday 31 Dec, working days Mon 4 and Tue 5 Jan.
    ("year boundary", S.PREREVIEWED, dt.datetime(2026, 12, 31, 14, tzinfo=SH),
     dt.datetime(2027, 1, 5, tzinfo=SH), 4 * 24 + 10),
    ("year boundary, 2 working days", S.ACCEPTED, dt.datetime(2026, 12, 31, 14, tzinfo=SH),
     dt.datetime(2027, 1, 6, tzinfo=SH), 5 * 24 + 10),
]


@pytest.mark.parametrize(("status", "entered", "crossing", "hours"), [c[1:] for c in CROSSINGS],
                         ids=[c[0] for c in CROSSINGS])
async def test_the_job_opens_a_stall_exactly_when_the_working_days_have_passed(
        clean, status: S, entered: dt.datetime, crossing: dt.datetime, hours: float) -> None:
    db, cal = clean, real_calendar()
    app_id = await idle(db, status, entered)
    assert await job_tick(db, crossing - dt.timedelta(seconds=1), cal) == 0
    assert await stalls_by_app(db) == {}
    later = crossing + dt.timedelta(hours=30)
    assert await job_tick(db, crossing + dt.timedelta(minutes=1), cal) == 1
    [stall] = (await stalls_by_app(db))[app_id]
    assert stall.status == status.value and stall.idle_since == entered
    assert stall.threshold_hours == pytest.approx(hours)
    assert await job_tick(db, later, cal) == 0  # found again a day later: nothing more opened

    # Time lost (耽误时长) as the views show it at a frozen "now": idle beyond the threshold.
    import time_machine

    from kit.auth import Principal, Role, SubjectKind

    ops = Principal(subject="u-ops", kind=SubjectKind.STAFF, roles=frozenset({Role.OPS_ADMIN}))
    with time_machine.travel(later, tick=False):
        async with db.session() as session:
            [view] = (await stalls.list_stalls(session, ops, limit=10, cursor=None, application_id=app_id)).items
            ranking = await stalls.ranking(session, ops, from_date=crossing.date(), to_date=later.date())
    assert view.idle_hours == pytest.approx((later - entered).total_seconds() / 3600, abs=1e-3)
    assert view.hours_lost == pytest.approx((later - crossing).total_seconds() / 3600, abs=1e-3)
    [entry] = ranking.statuses
    assert entry.key == status.value and entry.stalls == 1 and entry.hours_lost == pytest.approx(30, abs=0.01)


async def test_the_job_waits_for_the_years_schedule_without_guessing(clean) -> None:
    """A day past even the provisional calendar (2029 here: data to 2027, 2028 provisional): working-day
    thresholds are skipped, not guessed; hour thresholds still open their stalls."""
    db, cal = clean, real_calendar()
    moment = dt.datetime(2029, 1, 10, 10, tzinfo=SH)
    await idle(db, S.PREREVIEWED, moment - dt.timedelta(days=20))
    stuck = await idle(db, S.SUBMITTED, moment - dt.timedelta(hours=1))
    assert await job_tick(db, moment, cal) == 1
    assert set(await stalls_by_app(db)) == {stuck}


async def test_the_job_counts_a_provisional_year_like_the_statutory_clock(clean) -> None:
    """The year after the last one with data (2028) is counted on its provisional calendar, as the
    statutory clock counts it: a stay idle for 20 calendar days is past its working-day threshold."""
    db, cal = clean, real_calendar()
    assert cal.provisional_allowed(2028)
    moment = dt.datetime(2028, 1, 10, 10, tzinfo=SH)
    idle_long = await idle(db, S.PREREVIEWED, moment - dt.timedelta(days=20))
    stuck = await idle(db, S.SUBMITTED, moment - dt.timedelta(hours=1))
    assert await job_tick(db, moment, cal) == 2
    assert set(await stalls_by_app(db)) == {idle_long, stuck}


@pytest.mark.parametrize("working_days", [1, 2, 3, 5])
def test_the_integration_tests_idle_an_application_past_its_threshold_on_every_day(working_days: int) -> None:
    """support.stall_entry_day, with which the integration tests move an application back, gives an
    entry day whose stay has crossed the threshold by 00:00 of any day of 2026 (weekends, 春节, 国庆, 调休),
    and the day after it has not yet crossed: the idling is exactly as long as needed."""
    cal = real_calendar()
    day = dt.date(2026, 1, 20)  # past 元旦's working days, so the earliest entries stay inside 2026
    while day <= dt.date(2026, 12, 31):
        entry = stall_entry_day(cal, working_days, day)
        assert stalls._crossing(entry, working_days, cal) <= stalls._midnight(day), (day, entry)
        assert stalls._crossing(entry + dt.timedelta(days=1), working_days, cal) > stalls._midnight(day), (day, entry)
        day += dt.timedelta(days=1)
