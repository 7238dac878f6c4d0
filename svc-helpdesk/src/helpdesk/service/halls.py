"""Service halls (服务大厅): appointments, check-in (取号), calls to windows, handling — and the
measured wait (check-in → call) and handling time (call → done) against the plan's promises:
waits ≤ 10 minutes for general matters and ≤ 30 for complex ones, window handling ≤ 20 minutes.

A hall opens in its periods on working days of the platform calendar; time slots of
``slot_minutes`` each take ``slot_capacity`` bookings (the slot's row is locked while booking, so a
full slot is never overbooked); a person may hold ``daily_cap_per_person`` bookings a day. Elderly
and disabled visitors (适老化、无障碍) are called before everyone else; then first come, first served.

Numbers: ``P`` priority, ``A`` with an appointment, ``G`` general walk-in, ``C`` complex walk-in,
then the day's sequence of that letter (A001, A002, …).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import messages
from helpdesk.models import Appointment, Hall, HallSlot, Visit
from helpdesk.schemas import (
    AppointmentCreate,
    AppointmentView,
    CheckinCreate,
    HallCreate,
    HallView,
    OpeningPeriod,
    SlotView,
    VisitView,
)
from helpdesk.service import sla
from helpdesk.service.common import new_id, utcnow
from kit.audit import record_audit
from kit.auth import Principal, Role
from kit.calendar import SHANGHAI, CalendarError
from kit.db import Database
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.i18n import Text
from kit.idempotency import create_once
from kit.scheduling import lock_id
from kit.statemachine import StateMachine, Transition

WAIT_TARGET_MINUTES = {"general": 10, "complex": 30}
HANDLING_TARGET_MINUTES = 20
HALL_STAFF = (Role.WINDOW_OFFICER, Role.OPS_ADMIN, Role.HELPDESK_AGENT)
# How far ahead slots are offered and booked.
BOOKING_HORIZON_DAYS = 60


def _invalid(field: str, text: Text, code: str) -> ValidationFailed:
    return ValidationFailed(text, errors=[FieldError.of(field, text, code)])


def is_open_on(hall: Hall, day: date) -> bool:
    if hall.open_on_rest_days:
        return True
    try:
        return sla.clockwork.calendar().is_working_day(day)
    except CalendarError as e:
        raise sla.calendar_problem(e) from e


def is_open_at(hall: Hall, moment: datetime) -> bool:
    local = moment.astimezone(SHANGHAI)
    now = local.time().strftime("%H:%M")
    return is_open_on(hall, local.date()) and any(start <= now < end for start, end in hall.opening_periods)


def slot_starts(hall: Hall, day: date) -> list[datetime]:
    """Every slot start of ``day`` (none on a day the hall is closed)."""
    if not is_open_on(hall, day):
        return []
    starts = []
    step = timedelta(minutes=hall.slot_minutes)
    for start, end in hall.opening_periods:
        moment = datetime.combine(day, time.fromisoformat(start), SHANGHAI)
        close = datetime.combine(day, time.fromisoformat(end), SHANGHAI)
        while moment + step <= close:
            starts.append(moment)
            moment += step
    return starts


def _hall_view(h: Hall) -> HallView:
    return HallView(id=h.id, name=h.name, district=h.district, windows=h.windows,
                    opening_periods=[OpeningPeriod(opens=a, closes=b) for a, b in h.opening_periods],
                    open_on_rest_days=h.open_on_rest_days,
                    slot_minutes=h.slot_minutes,
                    slot_capacity=h.slot_capacity, daily_cap_per_person=h.daily_cap_per_person, matters=h.matters)


async def create_hall(database: Database, body: HallCreate) -> HallView:
    async with database.transaction() as session:
        return await _create_hall(session, body)


async def _create_hall(session: AsyncSession, body: HallCreate) -> HallView:
    if await session.get(Hall, body.id) is not None:
        raise Conflict(messages.HALL_EXISTS)
    hall = Hall(id=body.id, name=body.name, district=body.district, windows=body.windows,
                opening_periods=[[p.opens, p.closes] for p in body.opening_periods],
                open_on_rest_days=body.open_on_rest_days,
                slot_minutes=body.slot_minutes,
                slot_capacity=body.slot_capacity, daily_cap_per_person=body.daily_cap_per_person, matters=body.matters)
    session.add(hall)
    await session.flush()
    return _hall_view(hall)


async def get_hall(session: AsyncSession, hall_id: str, *, lock: bool = False) -> Hall:
    hall = await session.get(Hall, hall_id, with_for_update=lock)
    if hall is None:
        raise NotFound(messages.HALL_NOT_FOUND)
    return hall


async def list_halls(session: AsyncSession) -> list[HallView]:
    return [_hall_view(h) for h in (await session.scalars(select(Hall).order_by(Hall.id))).all()]


def _check_bookable(field: str, day: date) -> None:
    today = utcnow().astimezone(SHANGHAI).date()
    if not today <= day <= today + timedelta(days=BOOKING_HORIZON_DAYS):
        raise _invalid(field, messages.BOOKABLE_WITHIN.format(days=BOOKING_HORIZON_DAYS), "out_of_horizon")


async def slots(session: AsyncSession, hall_id: str, day: date) -> list[SlotView]:
    hall = await get_hall(session, hall_id)
    _check_bookable("date", day)
    starts = slot_starts(hall, day)
    booked = dict((await session.execute(select(HallSlot.slot_start, HallSlot.booked).where(
        HallSlot.hall_id == hall_id, HallSlot.slot_start.in_(starts)))).all()) if starts else {}
    return [SlotView(slot_start=s, capacity=hall.slot_capacity, booked=booked.get(s, 0),
                     available=max(0, hall.slot_capacity - booked.get(s, 0))) for s in starts]


def _appointment_view(a: Appointment) -> AppointmentView:
    return AppointmentView(id=a.id, hall_id=a.hall_id, matter_code=a.matter_code, applicant_subject=a.applicant_subject,
                           slot_start=a.slot_start, status=a.status, created_at=a.created_at, cancelled_at=a.cancelled_at)


async def book(database: Database, principal: Principal, body: AppointmentCreate,
               idempotency_key: str | None) -> AppointmentView:
    if not principal.has_role(Role.APPLICANT):
        raise Forbidden(messages.ONLY_APPLICANTS_BOOK)

    async def create(session: AsyncSession) -> AppointmentView:
        now = utcnow()
        hall = await get_hall(session, body.hall_id)
        if body.matter_code not in hall.matters:
            raise _invalid("matter_code", messages.MATTER_NOT_SERVED, "matter_not_served")
        start = body.slot_start.astimezone(SHANGHAI)
        if start <= now:
            raise _invalid("slot_start", messages.SLOT_BEGUN, "past")
        _check_bookable("slot_start", start.date())
        if start not in slot_starts(hall, start.date()):
            raise _invalid("slot_start", messages.NOT_A_SLOT, "not_a_slot")
        day = start.date()
        # One person's bookings of a day are counted and added under one lock, so the cap holds under races.
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                              {"id": lock_id(f"helpdesk.booking.{principal.subject}.{day}")})
        held = await session.scalar(select(func.count()).select_from(Appointment).where(
            Appointment.applicant_subject == principal.subject, Appointment.local_day == day,
            Appointment.status.in_(("booked", "checked_in"))))
        if (held or 0) >= hall.daily_cap_per_person:
            raise Conflict(messages.DAILY_CAP.format(cap=hall.daily_cap_per_person), reason="daily_cap")
        await session.execute(insert(HallSlot).values(hall_id=hall.id, slot_start=start, booked=0)
                              .on_conflict_do_nothing())
        slot = await session.scalar(select(HallSlot).where(HallSlot.hall_id == hall.id, HallSlot.slot_start == start)
                                    .with_for_update())
        assert slot is not None
        if slot.booked >= hall.slot_capacity:
            raise Conflict(messages.SLOT_FULL, reason="slot_full")
        slot.booked += 1
        appointment = Appointment(id=new_id(), hall_id=hall.id, matter_code=body.matter_code,
                                  applicant_subject=principal.subject, slot_start=start, local_day=day, status="booked",
                                  created_at=now)
        session.add(appointment)
        await session.flush()
        return _appointment_view(appointment)

    return await create_once(database, f"appointments:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create, AppointmentView)


async def cancel(database: Database, principal: Principal, appointment_id: str) -> AppointmentView:
    async with database.transaction() as session:
        return await _cancel(session, principal, appointment_id)


async def _cancel(session: AsyncSession, principal: Principal, appointment_id: str) -> AppointmentView:
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None or (appointment.applicant_subject != principal.subject
                               and not principal.has_role(*HALL_STAFF)):
        raise NotFound(messages.APPOINTMENT_NOT_FOUND)
    if appointment.status != "booked":
        raise Conflict(messages.APPOINTMENT_NOT_CANCELLABLE.format(status=appointment.status),
                       status_now=appointment.status)
    appointment.status, appointment.cancelled_at = "cancelled", utcnow()
    slot = await session.scalar(select(HallSlot).where(HallSlot.hall_id == appointment.hall_id,
                                                       HallSlot.slot_start == appointment.slot_start).with_for_update())
    if slot is not None and slot.booked > 0:
        slot.booked -= 1
    await session.flush()
    return _appointment_view(appointment)


async def list_appointments(session: AsyncSession, principal: Principal, *, hall_id: str | None, day: date | None,
                            limit: int, offset: int) -> list[AppointmentView]:
    stmt = select(Appointment)
    if not principal.has_role(*HALL_STAFF):
        stmt = stmt.where(Appointment.applicant_subject == principal.subject)
    if hall_id:
        stmt = stmt.where(Appointment.hall_id == hall_id)
    if day:
        stmt = stmt.where(Appointment.local_day == day)
    rows = (await session.scalars(stmt.order_by(Appointment.slot_start, Appointment.id).offset(offset).limit(limit))).all()
    return [_appointment_view(a) for a in rows]


async def visit_view(session: AsyncSession, v: Visit) -> VisitView:
    ahead = None
    if v.status == "waiting":
        ahead = await session.scalar(select(func.count()).select_from(Visit).where(
            Visit.hall_id == v.hall_id, Visit.local_day == v.local_day, Visit.status == "waiting", Visit.id != v.id,
            _called_before(v)))
    return VisitView(
        id=v.id, hall_id=v.hall_id, local_day=v.local_day, number=v.number, matter_code=v.matter_code,
        complexity=v.complexity, appointment_id=v.appointment_id, priority_reason=v.priority_reason, status=v.status,
        checked_in_at=v.checked_in_at, called_at=v.called_at, window=v.window, started_at=v.started_at,
        finished_at=v.finished_at, waiting_ahead=ahead,
        wait_minutes=round((v.called_at - v.checked_in_at).total_seconds() / 60, 2) if v.called_at else None,
        wait_target_minutes=WAIT_TARGET_MINUTES[v.complexity],
        handling_minutes=round((v.finished_at - v.called_at).total_seconds() / 60, 2)
        if v.finished_at and v.called_at else None,
        handling_target_minutes=HANDLING_TARGET_MINUTES)


def _called_before(v: Visit) -> ColumnElement[bool]:
    """Visitors the queue calls before ``v``: priority ones first, then earlier check-ins."""
    if v.priority_reason:
        return Visit.priority_reason.is_not(None) & (Visit.checked_in_at < v.checked_in_at)
    return Visit.priority_reason.is_not(None) | (Visit.checked_in_at < v.checked_in_at)


async def check_in(database: Database, principal: Principal, body: CheckinCreate,
                   idempotency_key: str | None) -> VisitView:
    async def create(session: AsyncSession) -> VisitView:
        now = utcnow()
        today = now.astimezone(SHANGHAI).date()
        hall = await get_hall(session, body.hall_id, lock=True)  # numbers of a hall are issued one at a time
        if not is_open_at(hall, now):
            raise Conflict(messages.HALL_CLOSED_NOW, reason="closed")
        appointment = None
        visitor = None if principal.has_role(*HALL_STAFF) else principal.subject
        if body.appointment_id:
            appointment = await session.get(Appointment, body.appointment_id, with_for_update=True)
            if appointment is None or appointment.hall_id != hall.id or (
                    visitor is not None and appointment.applicant_subject != visitor):
                raise NotFound(messages.APPOINTMENT_NOT_FOUND)
            if appointment.status != "booked":
                raise Conflict(messages.APPOINTMENT_NOT_BOOKED.format(status=appointment.status),
                               status_now=appointment.status)
            if appointment.local_day != today:
                raise Conflict(messages.APPOINTMENT_NOT_TODAY)
            if body.matter_code and body.matter_code != appointment.matter_code:
                raise _invalid("matter_code", messages.MATTER_DIFFERS_FROM_APPOINTMENT, "mismatch")
            appointment.status = "checked_in"
            visitor = appointment.applicant_subject
        matter_code = appointment.matter_code if appointment else body.matter_code
        assert matter_code is not None
        if matter_code not in hall.matters:
            raise _invalid("matter_code", messages.MATTER_NOT_SERVED, "matter_not_served")
        complexity = hall.matters[matter_code]
        letter = "P" if body.priority_reason else "A" if appointment else "C" if complexity == "complex" else "G"
        issued = await session.scalar(select(func.count()).select_from(Visit).where(
            Visit.hall_id == hall.id, Visit.local_day == today, Visit.number.like(f"{letter}%")))
        visit = Visit(id=new_id(), hall_id=hall.id, local_day=today, number=f"{letter}{(issued or 0) + 1:03d}",
                      matter_code=matter_code, complexity=complexity, visitor_subject=visitor,
                      appointment_id=appointment.id if appointment else None, priority_reason=body.priority_reason,
                      status="waiting", checked_in_at=now)
        session.add(visit)
        await session.flush()
        return await visit_view(session, visit)

    return await create_once(database, f"checkins:{principal.subject}", idempotency_key, body.model_dump(mode="json"),
                             create, VisitView)


async def call_next(database: Database, principal: Principal, hall_id: str, window: int) -> VisitView:
    async with database.transaction() as session:
        return await _call_next(session, principal, hall_id, window)


async def _call_next(session: AsyncSession, principal: Principal, hall_id: str, window: int) -> VisitView:
    hall = await get_hall(session, hall_id)
    if window > hall.windows:
        raise _invalid("window", messages.HALL_WINDOWS.format(windows=hall.windows), "window")
    today = utcnow().astimezone(SHANGHAI).date()
    visit = await session.scalar(
        select(Visit).where(Visit.hall_id == hall_id, Visit.local_day == today, Visit.status == "waiting")
        .order_by(Visit.priority_reason.is_(None), Visit.checked_in_at, Visit.id).limit(1)
        .with_for_update(skip_locked=True))
    if visit is None:
        raise Conflict(messages.NOBODY_WAITING, reason="queue_empty")
    visit.status, visit.called_at, visit.window, visit.officer_subject = "called", utcnow(), window, principal.subject
    await record_audit(session, principal, "visit.call", "visit", visit.id, owner=visit.visitor_subject,
                       details={"window": window})
    await session.flush()
    return await visit_view(session, visit)


# Calling a visitor (``call_next``) is the queue's work; what follows at the window is this machine.
_WINDOW_STAFF = frozenset({Role.WINDOW_OFFICER, Role.OPS_ADMIN})
VISITS: StateMachine[str] = StateMachine(messages.VISIT, [
    Transition("start", frozenset({"called"}), "handling", _WINDOW_STAFF),
    Transition("finish", frozenset({"handling"}), "done", _WINDOW_STAFF),
    Transition("no_show", frozenset({"called"}), "no_show", _WINDOW_STAFF),
])


async def act_on_visit(database: Database, principal: Principal, visit_id: str, action: str) -> VisitView:
    async with database.transaction() as session:
        return await _act_on_visit(session, principal, visit_id, action)


async def _act_on_visit(session: AsyncSession, principal: Principal, visit_id: str, action: str) -> VisitView:
    visit = await session.get(Visit, visit_id, with_for_update=True)
    if visit is None:
        raise NotFound(messages.VISIT_NOT_FOUND)
    target = VISITS.check(visit.status, action, principal).target
    assert target is not None
    visit.status = target
    now = utcnow()
    if action == "start":
        visit.started_at = now
    elif action == "finish":
        visit.finished_at = now
    await record_audit(session, principal, f"visit.{action}", "visit", visit.id, owner=visit.visitor_subject)
    await session.flush()
    return await visit_view(session, visit)


async def get_visit(session: AsyncSession, principal: Principal, visit_id: str) -> VisitView:
    visit = await session.get(Visit, visit_id)
    if visit is None or (visit.visitor_subject != principal.subject and not principal.has_role(*HALL_STAFF)):
        raise NotFound(messages.VISIT_NOT_FOUND)
    return await visit_view(session, visit)


async def list_visits(session: AsyncSession, hall_id: str, day: date, status: str | None) -> list[VisitView]:
    stmt = select(Visit).where(Visit.hall_id == hall_id, Visit.local_day == day)
    if status:
        stmt = stmt.where(Visit.status == status)
    rows = (await session.scalars(stmt.order_by(Visit.checked_in_at))).all()
    return [await visit_view(session, v) for v in rows]
