"""For venue staff and ops: a venue's day in figures (booked, entered, cancelled, no-show, waiting, expired) and the
day's bookings (masked; every such read of personal data is audited)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking
from booking.schemas import BookingView, DayReport
from booking.service.bookings import waiting_position
from booking.service.common import booking_view
from booking.service.venues import day_slots, staffed_venue
from kit.audit import record_audit
from kit.auth import Principal
from kit.db import Database


async def day_report(session: AsyncSession, principal: Principal, venue_id: str, day: date) -> DayReport:
    venue = await staffed_venue(session, principal, venue_id)
    counts = dict((await session.execute(
        select(Booking.status, func.count()).where(Booking.venue_id == venue_id, Booking.day == day)
        .group_by(Booking.status))).tuples().all())
    slots = await day_slots(session, venue, day)
    entered, no_show = counts.get("entered", 0), counts.get("no_show", 0)
    return DayReport(venue_id=venue_id, day=day, capacity=sum(s.capacity for s in slots),
                     # Booked: every place held that day, whatever became of it at the gate.
                     booked=counts.get("booked", 0) + entered + no_show, entered=entered,
                     cancelled=counts.get("cancelled", 0), no_show=no_show, waiting=counts.get("waiting", 0),
                     expired=counts.get("expired", 0),
                     slots=slots)


async def day_bookings(database: Database, principal: Principal, venue_id: str, day: date,
                       status: str | None, limit: int) -> list[BookingView]:
    async with database.transaction() as session:
        venue = await staffed_venue(session, principal, venue_id)
        query = select(Booking).where(Booking.venue_id == venue_id, Booking.day == day)
        if status:
            query = query.where(Booking.status == status)
        rows = (await session.execute(query.order_by(Booking.slot_start, Booking.created_at, Booking.id)
                                      .limit(limit))).scalars().all()
        await record_audit(session, principal, "list", "venue_day", f"{venue_id}/{day.isoformat()}",
                           details={"fields_read": ["person_name", "id_number", "phone"], "bookings": len(rows)})
        return [booking_view(r, venue, await waiting_position(session, r)) for r in rows]
