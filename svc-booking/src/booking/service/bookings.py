"""Booking a place (预约), the waiting list (候补) and cancellation.

The capacity rule lives in PostgreSQL: a place is taken by one conditional UPDATE of the slot's row
(``taken = taken + 1 WHERE taken + 1 <= capacity RETURNING``) in the same transaction as the booking's
INSERT, so concurrent bookings queue on the row and none can take a place that is not there; a booking
refused for a full slot (or for the person's other booking of the day) rolls back whole. The one booking
per person per venue per day is a partial unique index on the resident ID number's keyed hash.

A cancellation hands its place to the first of the slot's waiting list in the same transaction
(``booking.promoted``); with nobody waiting the place goes back to the slot.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from booking import messages
from booking.models import LIVE_BOOKING, Booking, PersonBlock, Slot, Venue
from booking.schemas import BookingCreate, BookingView
from booking.service.common import at, booking_view, local_today, new_code, new_id, person_hash, utcnow
from booking.service.venues import ensure_slot, get_venue, is_closed, spec_of
from booking.settings import Settings
from kit.auth import Principal
from kit.contracts.booking import BookingCancelled, BookingCreated, BookingPromoted
from kit.db import Database
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.events import add_event
from kit.i18n import Text
from kit.idempotency import create_once
from kit.statemachine import StateMachine, Transition

# Who moves a booking: its holder (the person by our login, or the partner app that made it), the gate,
# the no-show job (no principal), and a cancellation's promotion of the next on the waiting list.
HOLDER = frozenset({"applicant", "partner"})
GATE = frozenset({"venue_staff", "ops_admin"})
MACHINE: StateMachine[str] = StateMachine(messages.BOOKING, [
    Transition("cancel", frozenset({"booked", "waiting"}), "cancelled", HOLDER),
    Transition("promote", frozenset({"waiting"}), "booked", frozenset()),
    Transition("enter", frozenset({"booked"}), "entered", GATE),
    Transition("no_show", frozenset({"booked"}), "no_show", frozenset()),
    Transition("expire", frozenset({"waiting"}), "expired", frozenset()),
])


def channel_of(principal: Principal) -> str:
    return f"partner:{principal.province}" if principal.kind == "partner" else "web"


def facts(booking: Booking, now: datetime) -> dict[str, object]:
    return {"booking_id": booking.id, "code": booking.code, "venue_id": booking.venue_id, "day": booking.day,
            "slot_start": booking.slot_start, "channel": booking.channel, "booked_by": booking.booked_by, "at": now}


def _day_invalid(text: Text) -> ValidationFailed:
    return ValidationFailed(text, errors=[FieldError.of("day", text, "not_bookable")])


async def _check_bookable(session: AsyncSession, venue: Venue, body: BookingCreate, settings: Settings) -> None:
    now = utcnow()
    today = local_today(now)
    if not today <= body.day < today + timedelta(days=settings.horizon_days):
        raise _day_invalid(messages.DAY_OUT_OF_RANGE.format(days=settings.horizon_days))
    if await is_closed(session, venue, body.day):
        raise _day_invalid(messages.VENUE_CLOSED)
    spec_of(venue, body.slot_start)
    if at(body.day, body.slot_start) <= now:
        text_ = messages.SLOT_STARTED
        raise ValidationFailed(text_, errors=[FieldError.of("slot_start", text_, "started")])


async def _check_not_blocked(session: AsyncSession, hashed: str) -> None:
    block = await session.get(PersonBlock, hashed)
    if block is not None and block.blocked_until > utcnow():
        raise Forbidden(messages.PERSON_BLOCKED.format(until=block.blocked_until.date().isoformat()),
                        reason="no_show_block")


async def _seen_full(session: AsyncSession, venue_id: str, body: BookingCreate) -> bool:
    """Whether the slot was full when last committed: a shortcut (no write, no lock) for the many attempts
    at a full slot; the conditional UPDATE below stays what decides."""
    row = (await session.execute(select(Slot.taken, Slot.capacity).where(
        Slot.venue_id == venue_id, Slot.day == body.day, Slot.start == body.slot_start))).first()
    return row is not None and row.taken >= row.capacity


async def take_place(session: AsyncSession, venue_id: str, day: date, start: str) -> bool:
    """One place of the slot, if there is one: the conditional UPDATE that never exceeds the capacity."""
    taken = (await session.execute(
        update(Slot).where(Slot.venue_id == venue_id, Slot.day == day, Slot.start == start,
                           Slot.taken + 1 <= Slot.capacity)
        .values(taken=Slot.taken + 1).returning(Slot.taken))).first()
    return taken is not None


async def book(database: Database, principal: Principal, body: BookingCreate, settings: Settings,
               key: str | None) -> BookingView:
    if principal.kind == "partner" and not principal.province:
        raise Forbidden(messages.PARTNER_PROVINCE_REQUIRED)

    async def create(session: AsyncSession) -> BookingView:
        venue = await get_venue(session, body.venue_id)
        await _check_bookable(session, venue, body, settings)
        hashed = person_hash(body.person.id_number)
        await _check_not_blocked(session, hashed)
        if not body.wait_if_full and await _seen_full(session, venue.id, body):
            raise Conflict(messages.SLOT_FULL, reason="slot_full")
        now = utcnow()
        booking_id = new_id()
        # The person's one booking of the venue and day: the partial unique index refuses a second
        # (a concurrent second waits for the first's transaction and then finds it).
        inserted = (await session.execute(insert(Booking).values(
            id=booking_id, code=new_code(), venue_id=venue.id, day=body.day, slot_start=body.slot_start,
            status="booked", channel=channel_of(principal), booked_by=principal.client_id or principal.subject,
            person_name=body.person.name, id_number=body.person.id_number, phone=body.person.phone,
            person_hash=hashed, created_at=now,
        ).on_conflict_do_nothing(index_elements=["venue_id", "day", "person_hash"], index_where=text(LIVE_BOOKING))
         .returning(Booking.id))).scalar()
        if inserted is None:
            raise Conflict(messages.ALREADY_BOOKED, reason="already_booked")
        await ensure_slot(session, venue, body.day, body.slot_start)
        if not await take_place(session, venue.id, body.day, body.slot_start):
            if not body.wait_if_full:
                raise Conflict(messages.SLOT_FULL, reason="slot_full")
            await session.execute(update(Booking).where(Booking.id == booking_id).values(status="waiting"))
        booking = await session.get(Booking, booking_id, populate_existing=True)
        assert booking is not None
        await add_event(session, BookingCreated(**facts(booking, now), status=booking.status), subject=booking.id)
        return booking_view(booking, venue, await waiting_position(session, booking))

    return await create_once(database, f"booking:{principal.client_id or principal.subject}", key,
                             body.model_dump(mode="json"), create, BookingView)


async def waiting_position(session: AsyncSession, booking: Booking) -> int | None:
    if booking.status != "waiting":
        return None
    ahead = (await session.execute(select(func.count()).select_from(Booking).where(
        Booking.venue_id == booking.venue_id, Booking.day == booking.day, Booking.slot_start == booking.slot_start,
        Booking.status == "waiting", tuple_(Booking.created_at, Booking.id) < (booking.created_at, booking.id)))).scalar_one()
    return int(ahead) + 1


def holds(principal: Principal, booking: Booking) -> bool:
    """Whether the caller is the booking's holder: the applicant who made it, or the partner client that did."""
    return booking.booked_by == (principal.client_id or principal.subject)


async def _own(session: AsyncSession, principal: Principal, booking_id: str, *, lock: bool = False) -> Booking:
    query = select(Booking).where(Booking.id == booking_id)
    booking = (await session.execute(query.with_for_update() if lock else query)).scalar()
    if booking is None or not holds(principal, booking):
        raise NotFound(messages.BOOKING_NOT_FOUND)  # another's booking: not even its existence is told
    return booking


async def get_own(session: AsyncSession, principal: Principal, booking_id: str) -> BookingView:
    booking = await _own(session, principal, booking_id)
    return booking_view(booking, await get_venue(session, booking.venue_id), await waiting_position(session, booking))


async def list_own(session: AsyncSession, principal: Principal, limit: int) -> list[BookingView]:
    # Newest first: the booking just made (or just promoted from a waiting list) is always on the first page,
    # however many bookings for later days an account (a partner app, a family) already holds.
    rows = (await session.execute(select(Booking).where(Booking.booked_by == (principal.client_id or principal.subject))
                                  .order_by(Booking.created_at.desc(), Booking.id).limit(limit))).scalars().all()
    venues = {v.id: v for v in (await session.execute(
        select(Venue).where(Venue.id.in_({r.venue_id for r in rows})))).scalars()}
    return [booking_view(r, venues[r.venue_id], await waiting_position(session, r)) for r in rows]


async def cancel(database: Database, principal: Principal, booking_id: str, settings: Settings) -> BookingView:
    async with database.transaction() as session:
        booking = await _own(session, principal, booking_id, lock=True)
        MACHINE.check(booking.status, "cancel", principal)
        now = utcnow()
        if now > at(booking.day, booking.slot_start) - timedelta(minutes=settings.cancel_cutoff_minutes):
            raise Conflict(messages.CANCEL_TOO_LATE.format(minutes=settings.cancel_cutoff_minutes),
                           reason="cancel_cut_off", status_now=booking.status)
        held_place = booking.status == "booked"
        booking.status, booking.cancelled_at = "cancelled", now
        await session.flush()
        await add_event(session, BookingCancelled(**facts(booking, now)), subject=booking.id)
        if held_place:
            await _pass_on_place(session, booking, now)
        return booking_view(booking, await get_venue(session, booking.venue_id))


async def _pass_on_place(session: AsyncSession, freed: Booking, now: datetime) -> None:
    """The freed place to the first waiting for the slot (oldest first), or back to the slot."""
    slot = and_(Booking.venue_id == freed.venue_id, Booking.day == freed.day, Booking.slot_start == freed.slot_start)
    nxt = (await session.execute(select(Booking).where(slot, Booking.status == "waiting")
                                 .order_by(Booking.created_at, Booking.id).limit(1)
                                 .with_for_update(skip_locked=True))).scalar()
    if nxt is None:
        await session.execute(update(Slot).where(Slot.venue_id == freed.venue_id, Slot.day == freed.day,
                                                 Slot.start == freed.slot_start).values(taken=Slot.taken - 1))
        return
    MACHINE.check(nxt.status, "promote")
    nxt.status, nxt.promoted_at = "booked", now
    await session.flush()
    venue = await session.get(Venue, nxt.venue_id)
    await add_event(session, BookingPromoted(**facts(nxt, now), freed_by=freed.id, venue_name=venue.name if venue else ""),
                    subject=nxt.id)
