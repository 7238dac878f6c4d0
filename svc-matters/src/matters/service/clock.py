"""The statutory clock (法定时限): starts at acceptance, counts working days of the platform
calendar (Asia/Shanghai dates), pauses while the applicant corrects, can be extended with a reason,
stops at the decision. Warning events at 50%, 80% and 100% of the limit.

The due date is kept on the application and moved when the clock pauses or is extended, so lists
of overdue applications are one indexed comparison, and the next warning date is precomputed so the
scheduler finds due warnings with an index too. The counting itself is ``kit.clock``'s: a running
clock is the reading ``(clock_due_date, clock_limit_days)``, and a pause moves the due date by the
working days it lasted.

A clock that runs into a year whose calendar ops have not approved yet counts on kit.calendar's
provisional year (the regulation's holidays, no 调休): the due date is marked provisional
(``clock_due_provisional``, ``due_date_provisional`` in every view) and recomputed from the start,
the limit and the pauses when the year is approved (``recomputed_due_date``). Only a clock reaching
past the provisional year fails (503 naming the year).
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.calendar import SHANGHAI, CalendarError, WorkingDayCalendar, default_calendar, local_date
from kit.clock import Reading, WorkingDays, pause_length
from kit.contracts import ClockWarning
from kit.errors import ServiceUnavailable
from kit.events import add_event
from kit.i18n import Text
from matters.models import Application, ClockExtension, ClockPause
from matters.schemas import ClockView

WARNING_PERCENTS = (50, 80, 100)


def calendar() -> WorkingDayCalendar:
    return default_calendar()


def _calendar_problem(error: CalendarError) -> ServiceUnavailable:
    # No calendar for a year the clock runs into: fail loudly rather than assume weekends only.
    return ServiceUnavailable(Text(error.message_zh, error.message_en), calendar_error=type(error).__name__)


def _reading(app: Application) -> Reading[date, int]:
    """The clock as one reading: at its due date it will have counted its limit (extensions included)."""
    assert app.clock_limit_days is not None and app.clock_due_date is not None
    return Reading(app.clock_due_date, app.clock_limit_days)


def _reference(app: Application, today: date) -> date:
    """The day the clock is read on: a paused or stopped clock is read on the day it paused or stopped."""
    if app.clock_paused_since is not None:
        return local_date(app.clock_paused_since)
    if app.clock_stopped_at is not None:
        return local_date(app.clock_stopped_at)
    return today


def _elapsed_days(app: Application, today: date, cal: WorkingDayCalendar) -> int:
    """Working days the clock has run."""
    return _reading(app).elapsed(WorkingDays(cal), _reference(app, today))


def _days_left(app: Application, today: date, cal: WorkingDayCalendar) -> int:
    assert app.clock_limit_days is not None
    return _reading(app).remaining(WorkingDays(cal), app.clock_limit_days, _reference(app, today))


def _set_due_date(app: Application, due: date, cal: WorkingDayCalendar) -> None:
    assert app.clock_started_on is not None
    app.clock_due_date = due
    app.clock_due_provisional = WorkingDays(cal).provisional(app.clock_started_on, due)


def recomputed_due_date(app: Application, pauses: list[ClockPause], cal: WorkingDayCalendar) -> tuple[date, bool]:
    """The due date (and whether it is provisional) of ``app``'s clock counted again on ``cal``: the limit
    (extensions included) plus the working days of every finished pause, from the start. Adding working
    days composes (the n-th working day after the m-th is the (m+n)-th), so this is the date that
    start, each resume and each extension would have reached on this calendar. Each pause's
    ``working_days`` is updated; an open pause moves the due date when it ends, as always."""
    assert app.clock_started_on is not None and app.clock_limit_days is not None
    scale = WorkingDays(cal)
    waited = 0
    for pause in pauses:
        if pause.resumed_at is not None:
            pause.working_days = pause_length(scale, local_date(pause.paused_at), local_date(pause.resumed_at))
            waited += pause.working_days
    due = Reading(app.clock_started_on, 0).skip(waited).moment_at(scale, app.clock_limit_days)
    return due, scale.provisional(app.clock_started_on, due)


def apply_recomputed_due_date(app: Application, due: date, provisional: bool, cal: WorkingDayCalendar) -> None:
    app.clock_due_date = due
    app.clock_due_provisional = provisional
    _schedule_next_warning(app, cal)


def _schedule_next_warning(app: Application, cal: WorkingDayCalendar) -> None:
    """Precompute the date of the next warning not yet sent, from the current due date."""
    app.clock_next_warning_on = None
    if app.clock_paused_since is not None or app.clock_stopped_at is not None or app.clock_due_date is None:
        return
    limit = app.clock_limit_days or 0
    for percent in WARNING_PERCENTS:
        if percent > app.clock_warned_percent:
            app.clock_next_warning_on = _reading(app).moment_at(WorkingDays(cal), math.ceil(limit * percent / 100))
            return


def start(app: Application, statutory_days: int, at: datetime) -> None:
    cal = calendar()
    started = local_date(at)
    try:
        app.clock_started_on = started
        app.clock_limit_days = statutory_days
        _set_due_date(app, Reading(started, 0).moment_at(WorkingDays(cal), statutory_days), cal)
        app.clock_warned_percent = 0
        _schedule_next_warning(app, cal)
    except CalendarError as e:
        raise _calendar_problem(e) from e


def pause(session: AsyncSession, app: Application, at: datetime, reason: str | None) -> None:
    if app.clock_started_on is None or app.clock_paused_since is not None or app.clock_stopped_at is not None:
        return
    app.clock_paused_since = at
    app.clock_next_warning_on = None
    session.add(ClockPause(application_id=app.id, paused_at=at, reason=reason))


async def resume(session: AsyncSession, app: Application, at: datetime) -> None:
    """The working days spent waiting for the applicant do not count: the due date moves by them."""
    if app.clock_paused_since is None:
        return
    cal = calendar()
    try:
        scale = WorkingDays(cal)
        waited = pause_length(scale, local_date(app.clock_paused_since), local_date(at))
        assert app.clock_limit_days is not None
        if waited:
            _set_due_date(app, _reading(app).skip(waited).moment_at(scale, app.clock_limit_days), cal)
        pause_row = await session.scalar(select(ClockPause).where(ClockPause.application_id == app.id,
                                                                  ClockPause.resumed_at.is_(None)))
        if pause_row is not None:
            pause_row.resumed_at = at
            pause_row.working_days = waited
        app.clock_paused_since = None
        _schedule_next_warning(app, cal)
    except CalendarError as e:
        raise _calendar_problem(e) from e


def extend(session: AsyncSession, app: Application, working_days: int, reason: str, actor: str, at: datetime) -> None:
    cal = calendar()
    assert app.clock_due_date is not None and app.clock_limit_days is not None
    try:
        _set_due_date(app, _reading(app).moment_at(WorkingDays(cal), app.clock_limit_days + working_days), cal)
        app.clock_limit_days += working_days
        _schedule_next_warning(app, cal)
    except CalendarError as e:
        raise _calendar_problem(e) from e
    session.add(ClockExtension(application_id=app.id, working_days=working_days, reason=reason, actor_subject=actor,
                               extended_at=at))


def stop(app: Application, at: datetime) -> None:
    if app.clock_started_on is not None and app.clock_stopped_at is None:
        app.clock_stopped_at = at
        app.clock_next_warning_on = None


def view(app: Application, now: datetime | None = None) -> ClockView:
    if app.clock_started_on is None or app.clock_due_date is None:
        return ClockView(started_on=None, limit_days=None, due_date=None, due_date_provisional=False,
                         working_days_left=None, paused=False, overdue=False, stopped=False, percent_used=None)
    today = local_date(now or datetime.now(SHANGHAI))
    cal = calendar()
    try:
        left = _days_left(app, today, cal)
    except CalendarError:
        left = None  # the view still answers; acting on the clock is what fails loudly
    limit = app.clock_limit_days or 0
    end = local_date(app.clock_stopped_at) if app.clock_stopped_at else today
    return ClockView(
        started_on=app.clock_started_on, limit_days=app.clock_limit_days, due_date=app.clock_due_date,
        due_date_provisional=app.clock_due_provisional, working_days_left=left, paused=app.clock_paused_since is not None,
        overdue=app.clock_paused_since is None and end > app.clock_due_date,
        stopped=app.clock_stopped_at is not None,
        percent_used=None if left is None or not limit else max(0, round(100 * (limit - left) / limit)),
    )


async def send_due_warnings(session: AsyncSession, today: date, limit: int = 500) -> int:
    """Emit the warnings whose date has come (one scheduler tick); returns how many were sent."""
    cal = calendar()
    apps = (await session.scalars(
        select(Application)
        .where(Application.clock_next_warning_on <= today, Application.clock_paused_since.is_(None),
               Application.clock_stopped_at.is_(None))
        .order_by(Application.clock_next_warning_on).limit(limit).with_for_update(skip_locked=True)
    )).all()
    sent = 0
    for app in apps:
        assert app.clock_due_date is not None  # a warning is only scheduled on a due date
        try:
            elapsed = _elapsed_days(app, today, cal)
        except CalendarError:
            continue
        limit_days = app.clock_limit_days or 1
        reached = [p for p in WARNING_PERCENTS if p > app.clock_warned_percent and elapsed >= math.ceil(limit_days * p / 100)]
        if reached:
            app.clock_warned_percent = reached[-1]
            await add_event(session, ClockWarning(
                application_id=app.id, matter_code=app.matter_code, department=app.department, percent=reached[-1],
                due_date=app.clock_due_date.isoformat(), working_days_left=limit_days - elapsed,
                assignee_subject=app.assignee_subject), subject=app.id)
            sent += 1
        _schedule_next_warning(app, cal)
        if app.clock_next_warning_on is not None and app.clock_next_warning_on <= today and not reached:
            app.clock_next_warning_on = today + timedelta(days=1)  # not reached yet today: look again tomorrow
    return sent


def due_details(app: Application) -> dict[str, object]:
    """The due date as a timeline step's details show it."""
    return {"due_date": app.clock_due_date.isoformat() if app.clock_due_date else None,
            "due_date_provisional": app.clock_due_provisional}
