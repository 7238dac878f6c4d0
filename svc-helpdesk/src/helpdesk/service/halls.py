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
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.idempotency import create_once_with_status as create_once
from kit.scheduling import lock_id

WAIT_TARGET_MINUTES = {"general": 10, "complex": 30}
HANDLING_TARGET_MINUTES = 20
HALL_STAFF = (Role.WINDOW_OFFICER, Role.OPS_ADMIN, Role.HELPDESK_AGENT)
# How far ahead slots are offered and booked.
BOOKING_HORIZON_DAYS = 60


def _invalid(field: str, zh: str, en: str, code: str) -> ValidationFailed:
    return ValidationFailed(f"{zh} / {en}", errors=[FieldError(field=field, message=zh, message_en=en, code=code)])


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


async def create_hall(session: AsyncSession, body: HallCreate) -> HallView:
    if await session.get(Hall, body.id) is not None:
        raise Conflict("大厅已存在 / the hall already exists")
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
        raise NotFound("大厅不存在 / no such hall")
    return hall


async def list_halls(session: AsyncSession) -> list[HallView]:
    return [_hall_view(h) for h in (await session.scalars(select(Hall).order_by(Hall.id))).all()]


def _check_bookable(field: str, day: date) -> None:
    today = utcnow().astimezone(SHANGHAI).date()
    if not today <= day <= today + timedelta(days=BOOKING_HORIZON_DAYS):
        raise _invalid(field, f"只能预约今天起 {BOOKING_HORIZON_DAYS} 天内", f"bookable only from today to "
                       f"{BOOKING_HORIZON_DAYS} days ahead", "out_of_horizon")


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


async def book(database: Any, principal: Principal, body: AppointmentCreate, idempotency_key: str | None) -> tuple[int, Any]:
    if not principal.has_role(Role.APPLICANT):
        raise Forbidden("只有申请人可以预约 / only applicants book appointments")

    async def create(session: AsyncSession) -> tuple[int, Any]:
        now = utcnow()
        hall = await get_hall(session, body.hall_id)
        if body.matter_code not in hall.matters:
            raise _invalid("matter_code", "该大厅不办理此事项", "the hall does not serve this matter", "matter_not_served")
        start = body.slot_start.astimezone(SHANGHAI)
        if start <= now:
            raise _invalid("slot_start", "预约时段已过", "the slot has already begun", "past")
        _check_bookable("slot_start", start.date())
        if start not in slot_starts(hall, start.date()):
            raise _invalid("slot_start", "不是该大厅的预约时段（非工作日或非开放时段）",
                           "not a slot of the hall (not a working day or outside opening hours)", "not_a_slot")
        day = start.date()
        # One person's bookings of a day are counted and added under one lock, so the cap holds under races.
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                              {"id": lock_id(f"helpdesk.booking.{principal.subject}.{day}")})
        held = await session.scalar(select(func.count()).select_from(Appointment).where(
            Appointment.applicant_subject == principal.subject, Appointment.local_day == day,
            Appointment.status.in_(("booked", "checked_in"))))
        if (held or 0) >= hall.daily_cap_per_person:
            raise Conflict(f"每人每天最多预约 {hall.daily_cap_per_person} 次 / at most "
                           f"{hall.daily_cap_per_person} bookings a day per person", reason="daily_cap")
        await session.execute(insert(HallSlot).values(hall_id=hall.id, slot_start=start, booked=0)
                              .on_conflict_do_nothing())
        slot = await session.scalar(select(HallSlot).where(HallSlot.hall_id == hall.id, HallSlot.slot_start == start)
                                    .with_for_update())
        assert slot is not None
        if slot.booked >= hall.slot_capacity:
            raise Conflict("该时段已约满 / the slot is fully booked", reason="slot_full")
        slot.booked += 1
        appointment = Appointment(id=new_id(), hall_id=hall.id, matter_code=body.matter_code,
                                  applicant_subject=principal.subject, slot_start=start, local_day=day, status="booked",
                                  created_at=now)
        session.add(appointment)
        await session.flush()
        return 201, _appointment_view(appointment).model_dump(mode="json")

    return await create_once(database, f"appointments:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create)


async def cancel(session: AsyncSession, principal: Principal, appointment_id: str) -> AppointmentView:
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None or (appointment.applicant_subject != principal.subject
                               and not principal.has_role(*HALL_STAFF)):
        raise NotFound("预约不存在 / no such appointment")
    if appointment.status != "booked":
        raise Conflict(f"预约状态为 {appointment.status}，不能取消 / cannot cancel an appointment that is {appointment.status}")
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


def _called_before(v: Visit) -> Any:
    """Visitors the queue calls before ``v``: priority ones first, then earlier check-ins."""
    if v.priority_reason:
        return Visit.priority_reason.is_not(None) & (Visit.checked_in_at < v.checked_in_at)
    return Visit.priority_reason.is_not(None) | (Visit.checked_in_at < v.checked_in_at)


async def check_in(database: Any, principal: Principal, body: CheckinCreate, idempotency_key: str | None) -> tuple[int, Any]:
    async def create(session: AsyncSession) -> tuple[int, Any]:
        now = utcnow()
        today = now.astimezone(SHANGHAI).date()
        hall = await get_hall(session, body.hall_id, lock=True)  # numbers of a hall are issued one at a time
        if not is_open_at(hall, now):
            raise Conflict("大厅现在不开放 / the hall is not open now", reason="closed")
        appointment = None
        visitor = None if principal.has_role(*HALL_STAFF) else principal.subject
        if body.appointment_id:
            appointment = await session.get(Appointment, body.appointment_id, with_for_update=True)
            if appointment is None or appointment.hall_id != hall.id or (
                    visitor is not None and appointment.applicant_subject != visitor):
                raise NotFound("预约不存在 / no such appointment")
            if appointment.status != "booked":
                raise Conflict(f"预约状态为 {appointment.status} / the appointment is {appointment.status}")
            if appointment.local_day != today:
                raise Conflict("预约不是今天 / the appointment is not for today")
            if body.matter_code and body.matter_code != appointment.matter_code:
                raise _invalid("matter_code", "与预约的事项不一致", "differs from the appointment's matter", "mismatch")
            appointment.status = "checked_in"
            visitor = appointment.applicant_subject
        matter_code = appointment.matter_code if appointment else body.matter_code
        assert matter_code is not None
        if matter_code not in hall.matters:
            raise _invalid("matter_code", "该大厅不办理此事项", "the hall does not serve this matter", "matter_not_served")
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
        return 201, (await visit_view(session, visit)).model_dump(mode="json")

    return await create_once(database, f"checkins:{principal.subject}", idempotency_key, body.model_dump(mode="json"),
                             create)


async def call_next(session: AsyncSession, principal: Principal, hall_id: str, window: int) -> VisitView:
    hall = await get_hall(session, hall_id)
    if window > hall.windows:
        raise _invalid("window", f"大厅只有 {hall.windows} 个窗口", f"the hall has {hall.windows} windows", "window")
    today = utcnow().astimezone(SHANGHAI).date()
    visit = await session.scalar(
        select(Visit).where(Visit.hall_id == hall_id, Visit.local_day == today, Visit.status == "waiting")
        .order_by(Visit.priority_reason.is_(None), Visit.checked_in_at, Visit.id).limit(1)
        .with_for_update(skip_locked=True))
    if visit is None:
        raise Conflict("没有等候的人 / nobody is waiting", reason="queue_empty")
    visit.status, visit.called_at, visit.window, visit.officer_subject = "called", utcnow(), window, principal.subject
    await record_audit(session, principal, "visit.call", "visit", visit.id, owner=visit.visitor_subject,
                       details={"window": window})
    await session.flush()
    return await visit_view(session, visit)


VISIT_ACTIONS: dict[str, tuple[str, str]] = {"start": ("called", "handling"), "finish": ("handling", "done"),
                                             "no_show": ("called", "no_show")}


async def act_on_visit(session: AsyncSession, principal: Principal, visit_id: str, action: str) -> VisitView:
    if action not in VISIT_ACTIONS:
        raise NotFound(f"没有这个操作 / no such action: {action}", allowed_actions=list(VISIT_ACTIONS))
    visit = await session.get(Visit, visit_id, with_for_update=True)
    if visit is None:
        raise NotFound("取号记录不存在 / no such visit")
    source, target = VISIT_ACTIONS[action]
    if visit.status != source:
        raise Conflict(f"当前状态为 {visit.status}，不能 {action} / not possible while {visit.status}",
                       status_now=visit.status)
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
        raise NotFound("取号记录不存在 / no such visit")
    return await visit_view(session, visit)


async def list_visits(session: AsyncSession, hall_id: str, day: date, status: str | None) -> list[VisitView]:
    stmt = select(Visit).where(Visit.hall_id == hall_id, Visit.local_day == day)
    if status:
        stmt = stmt.where(Visit.status == status)
    rows = (await session.scalars(stmt.order_by(Visit.checked_in_at))).all()
    return [await visit_view(session, v) for v in rows]
