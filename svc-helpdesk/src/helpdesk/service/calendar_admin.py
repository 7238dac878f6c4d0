"""Ops keep the working-day calendar (工作日历) as data: one ops person submits a year's holiday
arrangement (from the State Council's notice), a second one approves it (四眼原则: the submitter
cannot approve their own), and the approved year goes into the NATS KV bucket ``LVRONG_CALENDAR``,
which every process of the platform watches (``kit.calendar.watch_approved_years``). No release,
no restart. On approval svc-helpdesk recomputes its open SLA clocks with the new data.

Nobody can invent a year: the data must be typed from the notice. Until a year is approved, clocks
that run into it count on kit.calendar's provisional year (the regulation's holidays, no 调休), are
shown as provisional and are recomputed on approval: svc-helpdesk's SLA clocks here, the statutory
clocks in svc-matters on the ``lvrong.helpdesk.calendar.approved`` event. A clock that runs past the
provisional year still fails loudly (503 naming the year).
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime

import nats
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import messages
from helpdesk.models import CalendarSubmission
from helpdesk.schemas import CalendarSubmissionView, CalendarSubmit, CalendarYearView
from helpdesk.service import tickets
from helpdesk.service.common import new_id, utcnow
from kit.audit import record_audit
from kit.auth import Principal
from kit.calendar import (
    CALENDAR_BUCKET,
    SHANGHAI,
    CalendarDataError,
    CalendarYear,
    CalendarYearMissing,
    default_calendar,
    install_approved_year,
    parse_year_data,
    put_approved_year,
)
from kit.contracts.helpdesk import CalendarYearApproved
from kit.db import Database
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from kit.events import add_event
from kit.i18n import Text
from kit.natsauth import NatsClient

log = structlog.get_logger("helpdesk.calendar")

FIRST_YEAR, LAST_YEAR = 2004, 2100


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise NotFound(messages.YEAR_OUT_OF_RANGE.format(first=FIRST_YEAR, last=LAST_YEAR))


def _submission_view(s: CalendarSubmission) -> CalendarSubmissionView:
    return CalendarSubmissionView(
        id=s.id, year=s.year, status=s.status, holidays=[date.fromisoformat(d) for d in s.document["holidays"]],
        workdays=[date.fromisoformat(d) for d in s.document["workdays"]], source=s.document["source"],
        submitted_by=s.submitted_by, submitted_at=s.submitted_at, approved_by=s.approved_by,
        approved_at=s.approved_at, kv_revision=s.kv_revision)


async def _pending(session: AsyncSession, year: int, *, lock: bool = False) -> CalendarSubmission | None:
    stmt = select(CalendarSubmission).where(CalendarSubmission.year == year, CalendarSubmission.status == "pending")
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def year_view(session: AsyncSession, year: int) -> CalendarYearView:
    _check_year(year)
    calendar = default_calendar()
    coverage = calendar.coverage(datetime.now(SHANGHAI).date())
    pending = await _pending(session, year)
    try:
        data = calendar.year_data(year)
        working = sum(calendar.is_working_day(date.fromordinal(d))
                      for d in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1))
    except CalendarYearMissing:
        data, working = None, None
    return CalendarYearView(
        year=year, known=data is not None, provisional=data is not None and data.provisional, origin=data.origin if data else None, source=data.source if data else None,
        approved_by=data.approved_by if data else None, holidays=sorted(data.holidays) if data else [],
        workdays=sorted(data.workdays) if data else [], working_days=working,
        pending=_submission_view(pending) if pending else None, coverage_days_left=coverage.days_left,
        alarm=coverage.alarm, missing_year=coverage.missing_year)


async def submit_year(database: Database, principal: Principal, year: int,
                      body: CalendarSubmit) -> CalendarSubmissionView:
    async with database.transaction() as session:
        return await _submit_year(session, principal, year, body)


async def _submit_year(session: AsyncSession, principal: Principal, year: int,
                       body: CalendarSubmit) -> CalendarSubmissionView:
    _check_year(year)
    now = utcnow()
    document = {"year": year, "holidays": sorted({d.isoformat() for d in body.holidays}),
                "workdays": sorted({d.isoformat() for d in body.workdays}), "source": body.source,
                "approved_by": "(pending)", "approved_at": now.isoformat()}
    if body.notes:
        document["notes"] = body.notes
    try:
        parse_year_data(document, f"PUT /v1/calendar/{year}")
    except CalendarDataError as e:
        problem = Text(e.message_zh, e.message_en)
        raise ValidationFailed(problem, errors=[FieldError.of("holidays", problem, "calendar")]) from None
    await session.execute(update(CalendarSubmission).where(CalendarSubmission.year == year,
                                                           CalendarSubmission.status == "pending")
                          .values(status="superseded"))
    submission = CalendarSubmission(id=new_id(), year=year, document=document, status="pending",
                                    submitted_by=principal.subject, submitted_at=now)
    session.add(submission)
    await record_audit(session, principal, "calendar.submit", "calendar_year", str(year),
                       details={"submission": submission.id, "source": body.source})
    await session.flush()
    return _submission_view(submission)


async def approve_year(database: Database, principal: Principal, year: int,
                       nats_client: NatsClient) -> CalendarSubmissionView:
    async with database.transaction() as session:
        return await _approve_year(session, principal, year, nats_client)


async def _approve_year(session: AsyncSession, principal: Principal, year: int,
                        nats_client: NatsClient) -> CalendarSubmissionView:
    _check_year(year)
    submission = await _pending(session, year, lock=True)
    if submission is None:
        raise Conflict(messages.NO_PENDING_CALENDAR.format(year=year))
    if submission.submitted_by == principal.subject:
        raise Forbidden(messages.SUBMITTER_CANNOT_APPROVE)
    now = utcnow()
    document = dict(submission.document, approved_by=principal.subject, approved_at=now.isoformat())
    data: CalendarYear = parse_year_data(document, f"calendar submission {submission.id}")
    try:
        nc = await nats.connect(**nats_client.connect_options(), connect_timeout=3, allow_reconnect=False)
        try:
            revision = await put_approved_year(nc.jetstream(timeout=5), data)
        finally:
            await nc.close()
    except Exception as e:
        log.error("calendar_publish_failed", year=year, error=type(e).__name__)
        raise ServiceUnavailable(messages.CALENDAR_PUBLISH_FAILED) from e
    submission.document = document
    submission.status, submission.approved_by, submission.approved_at = "approved", principal.subject, now
    submission.kv_revision = revision
    # This process at once (as the watchers will see it); the others through the bucket's watchers.
    install_approved_year(dataclasses.replace(data, origin=f"{CALENDAR_BUCKET}/{year}@{revision}", revision=revision))
    await add_event(session, CalendarYearApproved(year=year, submitted_by=submission.submitted_by,
                                                  approved_by=principal.subject, approved_at=now,
                                                  kv_revision=revision), subject=str(year))
    await record_audit(session, principal, "calendar.approve", "calendar_year", str(year),
                       details={"submission": submission.id, "kv_revision": revision})
    recomputed = await tickets.recompute_open_clocks(session)
    log.info("calendar_year_approved", year=year, revision=revision, clocks_recomputed=recomputed)
    return _submission_view(submission)
