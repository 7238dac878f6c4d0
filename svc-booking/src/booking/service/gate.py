"""The real-name entry check at the gate (实名核验入园): gate staff read the booking code or the resident
ID number from the card; a booking of this venue, today, within its slot's entry window and not yet used
admits once (``booking.entered``); anything else is refused with its reason (``reason`` of the problem)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking import messages
from booking.models import Booking, Venue
from booking.schemas import BookingView, EntryCheck
from booking.service.bookings import MACHINE, facts
from booking.service.common import at, booking_view, local_today, person_hash, slot_end, utcnow
from booking.service.venues import staffed_venue
from booking.settings import Settings
from kit.audit import record_audit
from kit.auth import Principal
from kit.contracts.booking import BookingEntered
from kit.db import Database
from kit.errors import Conflict, NotFound
from kit.events import add_event
from kit.identifiers import normalize_resident_id

# Which of a person's bookings explains a refusal best: today's at this venue first, then today's elsewhere.
_ORDER = {"booked": 0, "entered": 1, "waiting": 2, "no_show": 3, "expired": 4, "cancelled": 5}


async def _find(session: AsyncSession, check: EntryCheck, venue: Venue) -> Booking | None:
    if check.code is not None:
        return (await session.execute(select(Booking).where(Booking.code == check.code.strip().upper())
                                      .with_for_update())).scalar()
    hashed = person_hash(normalize_resident_id(check.id_number or ""))
    today = local_today(utcnow())
    candidates = (await session.execute(select(Booking).where(Booking.person_hash == hashed, Booking.day >= today)
                                        .order_by(Booking.day).with_for_update())).scalars().all()
    if not candidates:
        return None
    return min(candidates, key=lambda b: (b.day != today, b.venue_id != venue.id, _ORDER.get(b.status, 9)))


async def admit(database: Database, principal: Principal, check: EntryCheck, settings: Settings) -> BookingView:
    async with database.transaction() as session:
        venue = await staffed_venue(session, principal, check.venue_id)
        booking = await _find(session, check, venue)
        if booking is None:
            raise NotFound(messages.ENTRY_NO_BOOKING, reason="no_booking")
        now = utcnow()
        slot = f"{booking.slot_start}-{slot_end(venue, booking.slot_start)}"
        if booking.venue_id != venue.id:
            other = await session.get(Venue, booking.venue_id)
            raise Conflict(messages.ENTRY_WRONG_VENUE.format(venue=other.name if other else booking.venue_id),
                           reason="wrong_venue", status_now=booking.status)
        if booking.day != local_today(now):
            raise Conflict(messages.ENTRY_WRONG_DAY.format(day=booking.day.isoformat()), reason="wrong_day",
                           status_now=booking.status)
        if booking.status != "booked":
            raise Conflict(messages.ENTRY_NOT_ADMISSIBLE.format(status=booking.status), reason=booking.status,
                           status_now=booking.status)
        if now < at(booking.day, booking.slot_start) - timedelta(minutes=settings.entry_early_minutes):
            raise Conflict(messages.ENTRY_TOO_EARLY.format(slot=slot), reason="too_early", status_now=booking.status)
        if now >= at(booking.day, slot_end(venue, booking.slot_start)):
            raise Conflict(messages.ENTRY_TOO_LATE.format(slot=slot), reason="too_late", status_now=booking.status)
        MACHINE.check(booking.status, "enter", principal)
        booking.status, booking.entered_at = "entered", now
        await session.flush()
        await add_event(session, BookingEntered(**facts(booking, now), checked_by=principal.subject), subject=booking.id)
        # The gate sees the person (masked) to compare with the card: a staff read of personal data.
        await record_audit(session, principal, "admit", "booking", booking.id, owner=booking.booked_by,
                           details={"fields_read": ["person_name", "id_number"], "by": "code" if check.code else "id_number"})
        return booking_view(booking, venue)
