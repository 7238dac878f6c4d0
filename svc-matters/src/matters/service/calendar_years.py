"""When ops approve a year of the working-day calendar (svc-helpdesk's four-eyes approval, event
``lvrong.helpdesk.calendar.approved``), every statutory clock counted on that year is counted again on
the approved data: the new due date is stored, the timeline gets a note (a step ``recompute_due_date``
whose ``status_changed`` event reaches live status streams) and the application a
``lvrong.matters.application.due_date_changed`` event. Clocks whose due date does not change get
nothing, so a redelivered event (or a second approval of the same data) changes nothing either.

Which clocks: those whose period from the start to the due date touches the year and that are still
running, plus the stopped ones whose due date was provisional (the record of a decided application
then keeps the due date of the approved calendar). A stopped clock counted on approved data is
history and stays as it was if ops approve a correction.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

import structlog
from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.calendar import CalendarError, approved_years, refresh_approved_year
from kit.contracts import ApplicationDueDateChanged
from kit.contracts.helpdesk import CalendarYearApproved
from kit.events import CloudEvent, outbox, outbox_row
from matters import messages
from matters.models import Application, ClockPause
from matters.schemas import ApplicationStatus
from matters.service import clock, lifecycle
from matters.settings import Settings

log = structlog.get_logger("matters.calendar_years")

REASON = "calendar_year_approved"
ACTION = "recompute_due_date"


class ApprovedYearNotYetReadable(RuntimeError):
    """The approval an event announces is not in the calendar bucket yet: the event is retried."""


def _note(year: int, due: date, provisional: bool) -> str:
    note = messages.DUE_DATE_RECOMPUTED_PROVISIONAL_NOTE if provisional else messages.DUE_DATE_RECOMPUTED_NOTE
    return note.format(year=year, due=due.isoformat()).both()


async def _ensure_installed(year: int, kv_revision: int | None) -> None:
    """This process counts on the approval the event names, even before its bucket watcher has seen it."""
    installed = approved_years().get(year)
    if installed is not None and (kv_revision is None or (installed.revision or 0) >= kv_revision):
        return
    data = await refresh_approved_year(Settings().nats_client, year)
    if data is None or (kv_revision is not None and (data.revision or 0) < kv_revision):
        raise ApprovedYearNotYetReadable(f"calendar year {year} (revision {kv_revision}) is not in the bucket yet")


async def recompute_year(session: AsyncSession, year: int, at: datetime) -> int:
    """Count every clock touching ``year`` again on the current calendar; returns how many due dates changed."""
    cal = clock.calendar()
    first, last = date(year, 1, 1), date(year, 12, 31)
    apps = (await session.scalars(
        select(Application)
        .where(Application.clock_started_on.is_not(None), Application.clock_started_on <= last,
               Application.clock_due_date >= first,
               or_(Application.clock_stopped_at.is_(None), Application.clock_due_provisional))
        .order_by(Application.id).with_for_update()
    )).all()
    if not apps:
        return 0
    pauses: dict[str, list[ClockPause]] = defaultdict(list)
    for pause in (await session.scalars(select(ClockPause).where(
            ClockPause.application_id.in_([a.id for a in apps])).order_by(ClockPause.paused_at))).all():
        pauses[pause.application_id].append(pause)
    changes = []
    for app in apps:
        try:
            due, provisional = clock.recomputed_due_date(app, pauses[app.id], cal)
        except CalendarError as e:
            # Past the provisional year: kept as it is; ops see it in the log and in the calendar alarm.
            log.warning("due_date_not_recomputed", application_id=app.id, error=e.message_en)
            continue
        previous, previous_provisional = app.clock_due_date, app.clock_due_provisional
        if (due, provisional) == (previous, previous_provisional):
            continue
        assert previous is not None
        clock.apply_recomputed_due_date(app, due, provisional, cal)
        # A step like an extension's (its status_changed event carries the note to live status streams),
        # and the due-date event with the dates for whoever tells the applicant. The status does not
        # change, so nothing else follows a step (lifecycle.step_written).
        step, _ = lifecycle.begin_step(
            app, status=ApplicationStatus(app.status), action=ACTION, actor="svc-matters", actor_role=lifecycle.SERVICE,
            reason=_note(year, due, provisional),
            details={"calendar_year": year, "previous_due_date": previous.isoformat(), **clock.due_details(app)}, at=at)
        changes.append((app, step, previous, previous_provisional))
    if not changes:
        return 0
    # Thousands of clocks may run into a new year: the steps, then the events, each in one statement.
    session.add_all([step for _, step, _, _ in changes])
    await session.flush()
    events = []
    for app, step, previous, previous_provisional in changes:
        assert app.clock_due_date is not None
        events.append(outbox_row(session, lifecycle.status_event(app, step), subject=app.id))
        events.append(outbox_row(session, ApplicationDueDateChanged(
            application_id=app.id, matter_code=app.matter_code, applicant_subject=app.applicant_subject,
            applicant_org_code=app.applicant_org_code, department=app.department, step_id=step.id,
            previous_due_date=previous, due_date=app.clock_due_date, provisional=app.clock_due_provisional,
            previous_provisional=previous_provisional, reason=REASON, calendar_year=year, occurred_at=at),
            subject=app.id))
    await session.execute(insert(outbox), events)
    return len(changes)


async def on_year_approved(session: AsyncSession, event: CloudEvent) -> None:
    approved = CalendarYearApproved.from_event(event)
    await _ensure_installed(approved.year, approved.kv_revision)
    changed = await recompute_year(session, approved.year, datetime.now(UTC))
    log.info("due_dates_recomputed", year=approved.year, changed=changed)
