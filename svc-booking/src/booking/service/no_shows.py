"""The no-show rule (爽约): a booking not entered by ``no_show_grace_minutes`` after its slot ended becomes
``no_show``; a person with ``no_show_limit`` no-shows within ``no_show_window_days`` may not book for
``no_show_block_days`` (``person_blocks``). And the waiting list's end (候补未成功): a waiting entry still
waiting at its slot's cancellation cut-off becomes ``expired``, since from then on no cancellation can free a
place for it. Run by a scheduled job (events.py), once per tick across replicas."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import Booking, PersonBlock, Venue
from booking.service.bookings import MACHINE, facts
from booking.service.common import at, local_today, slot_end
from booking.settings import Settings
from kit.contracts.booking import BookingExpired
from kit.events import add_event


async def expire_waiting(session: AsyncSession, now: datetime, settings: Settings) -> int:
    """End the waiting entries whose slot is past its cancellation cut-off; returns how many were ended."""
    cutoff = timedelta(minutes=settings.cancel_cutoff_minutes)
    candidates = (await session.execute(
        select(Booking, Venue.name).join(Venue, Venue.id == Booking.venue_id)
        .where(Booking.status == "waiting", Booking.day <= local_today(now + cutoff))
        .with_for_update(of=Booking, skip_locked=True))).tuples().all()
    expired = 0
    for booking, venue_name in candidates:
        if at(booking.day, booking.slot_start) - cutoff >= now:  # at the cut-off itself a holder may still cancel
            continue
        MACHINE.check(booking.status, "expire")
        booking.status = "expired"
        expired += 1
        # The family is told (svc-notifications) that the waiting list ended without a place.
        await add_event(session, BookingExpired(**facts(booking, now), venue_name=venue_name), subject=booking.id)
    return expired


async def mark_no_shows(session: AsyncSession, now: datetime, settings: Settings) -> int:
    """Mark the bookings whose slot ended (plus grace) unused, and block repeat no-shows; returns how many were marked."""
    grace = timedelta(minutes=settings.no_show_grace_minutes)
    candidates = (await session.execute(
        select(Booking, Venue).join(Venue, Venue.id == Booking.venue_id)
        .where(Booking.status == "booked", Booking.day <= local_today(now))
        .with_for_update(of=Booking, skip_locked=True))).all()
    marked: set[str] = set()
    for booking, venue in candidates:
        if at(booking.day, slot_end(venue, booking.slot_start)) + grace > now:
            continue
        MACHINE.check(booking.status, "no_show")
        booking.status = "no_show"
        marked.add(booking.person_hash)
    if not marked:
        return 0
    await session.flush()
    since = local_today(now) - timedelta(days=settings.no_show_window_days)
    counts = (await session.execute(
        select(Booking.person_hash, func.count()).where(Booking.person_hash.in_(marked), Booking.status == "no_show",
                                                        Booking.day > since)
        .group_by(Booking.person_hash))).tuples().all()
    until = now + timedelta(days=settings.no_show_block_days)
    for hashed, count in counts:
        if count >= settings.no_show_limit:
            await session.execute(insert(PersonBlock).values(
                person_hash=hashed, blocked_until=until, no_shows=count, created_at=now,
            ).on_conflict_do_update(index_elements=["person_hash"],
                                    set_={"blocked_until": until, "no_shows": count, "created_at": now}))
    return sum(1 for b, _ in candidates if b.status == "no_show")
