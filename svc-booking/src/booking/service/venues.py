"""Venues (场馆: zoos and botanical gardens of 三省一市), their time slots and closed days, and a day's
capacity. Ops (``booking:admin``) keep them; anyone signed in reads them."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from booking import messages
from booking.models import Booking, ClosedDay, Slot, Venue
from booking.schemas import CapacitySet, ClosedDayCreate, ClosedDayView, SlotSpec, SlotView, VenueCreate, VenueView
from kit.auth import Principal, Role
from kit.db import Database
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed


def venue_view(venue: Venue) -> VenueView:
    return VenueView(id=venue.id, name=venue.name, kind=venue.kind, province=venue.province, city=venue.city,
                     slots=[SlotSpec.model_validate(s) for s in venue.slots], closed_weekdays=list(venue.closed_weekdays))


async def get_venue(session: AsyncSession, venue_id: str) -> Venue:
    venue = await session.get(Venue, venue_id)
    if venue is None:
        raise NotFound(messages.VENUE_NOT_FOUND)
    return venue


async def staffed_venue(session: AsyncSession, principal: Principal, venue_id: str) -> Venue:
    """The venue, when ``principal`` may check its gate and read its day: ops and the bureau's inspectors any venue, a
    venue's own staff (``venue_staff``) only the venue their identity platform places them in — the department of
    their account is the venue's name, as 上海动物园's gate account says ``上海动物园``. Anyone else: 403, before
    anything is read or written."""
    venue = await get_venue(session, venue_id)
    if principal.has_role(Role.OPS_ADMIN, Role.INSPECTOR):
        return venue
    if principal.has_role(Role.VENUE_STAFF) and principal.department is not None and principal.department == venue.name:
        return venue
    raise Forbidden(messages.NOT_STAFF_OF_VENUE, reason="not_staff_of_venue")


async def create_venue(database: Database, body: VenueCreate) -> VenueView:
    async with database.transaction() as session:
        inserted = (await session.execute(insert(Venue).values(
            id=body.id, name=body.name, kind=body.kind, province=body.province, city=body.city,
            slots=[s.model_dump() for s in body.slots], closed_weekdays=body.closed_weekdays,
        ).on_conflict_do_nothing().returning(Venue.id))).scalar()
        if inserted is None:
            raise Conflict(messages.VENUE_EXISTS)
        return venue_view(await get_venue(session, body.id))


async def list_venues(session: AsyncSession, province: str | None) -> list[VenueView]:
    query = select(Venue).order_by(Venue.province, Venue.id)
    if province:
        query = query.where(Venue.province == province)
    return [venue_view(v) for v in (await session.execute(query)).scalars()]


async def is_closed(session: AsyncSession, venue: Venue, day: date) -> bool:
    if day.isoweekday() in venue.closed_weekdays:
        return True
    return await session.get(ClosedDay, (venue.id, day)) is not None


async def close_day(database: Database, venue_id: str, body: ClosedDayCreate) -> ClosedDayView:
    """Close the venue on a day (bookings already made stay: ops tell their holders; the day takes no more)."""
    async with database.transaction() as session:
        await get_venue(session, venue_id)
        await session.execute(insert(ClosedDay).values(venue_id=venue_id, day=body.day, reason=body.reason)
                              .on_conflict_do_update(index_elements=["venue_id", "day"], set_={"reason": body.reason}))
        return ClosedDayView(venue_id=venue_id, day=body.day, reason=body.reason)


async def list_closed_days(session: AsyncSession, venue_id: str) -> list[ClosedDayView]:
    await get_venue(session, venue_id)
    rows = (await session.execute(select(ClosedDay).where(ClosedDay.venue_id == venue_id).order_by(ClosedDay.day))).scalars()
    return [ClosedDayView(venue_id=r.venue_id, day=r.day, reason=r.reason) for r in rows]


def spec_of(venue: Venue, start: str) -> SlotSpec:
    for s in venue.slots:
        if s["start"] == start:
            return SlotSpec.model_validate(s)
    raise NotFound(messages.SLOT_NOT_FOUND)


async def ensure_slot(session: AsyncSession, venue: Venue, day: date, start: str) -> None:
    """The slot's row of that day, created from the venue's slots when it is not there yet."""
    spec = spec_of(venue, start)
    await session.execute(insert(Slot).values(venue_id=venue.id, day=day, start=start, end=spec.end,
                                              capacity=spec.capacity, taken=0).on_conflict_do_nothing())


async def set_capacity(database: Database, venue_id: str, day: date, start: str, body: CapacitySet) -> SlotView:
    """Set one day's capacity of one slot; never below the places already taken (checked in the UPDATE)."""
    async with database.transaction() as session:
        venue = await get_venue(session, venue_id)
        await ensure_slot(session, venue, day, start)
        updated = (await session.execute(
            update(Slot)
            .where(Slot.venue_id == venue_id, Slot.day == day, Slot.start == start, Slot.taken <= body.capacity)
            .values(capacity=body.capacity).returning(Slot.taken))).first()
        if updated is None:
            taken = (await session.execute(select(Slot.taken).where(
                Slot.venue_id == venue_id, Slot.day == day, Slot.start == start))).scalar_one()
            text = messages.CAPACITY_BELOW_TAKEN.format(taken=taken)
            raise ValidationFailed(text, errors=[FieldError.of("capacity", text, "below_taken")])
        return (await day_slots(session, venue, day))[[s["start"] for s in venue.slots].index(start)]


async def day_slots(session: AsyncSession, venue: Venue, day: date) -> list[SlotView]:
    """Every slot of the day with its places (none when the venue is closed)."""
    if await is_closed(session, venue, day):
        return []
    stored = {s.start: s for s in (await session.execute(
        select(Slot).where(Slot.venue_id == venue.id, Slot.day == day))).scalars()}
    waiting = dict((await session.execute(
        select(Booking.slot_start, func.count()).where(Booking.venue_id == venue.id, Booking.day == day,
                                                       Booking.status == "waiting")
        .group_by(Booking.slot_start))).tuples().all())
    views = []
    for raw in venue.slots:
        spec = SlotSpec.model_validate(raw)
        row = stored.get(spec.start)
        capacity, taken = (row.capacity, row.taken) if row else (spec.capacity, 0)
        views.append(SlotView(venue_id=venue.id, day=day, start=spec.start, end=spec.end, capacity=capacity,
                              taken=taken, remaining=capacity - taken, waiting=waiting.get(spec.start, 0)))
    return views


async def slots_of(session: AsyncSession, venue_id: str, day: date) -> list[SlotView]:
    return await day_slots(session, await get_venue(session, venue_id), day)
