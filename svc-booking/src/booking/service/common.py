"""What the capabilities share: ids, the time, the local day, the person's blind index, the masked view."""
from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, time

from booking.models import Booking, Venue
from booking.schemas import BookingView
from kit.calendar import SHANGHAI
from kit.protection import keyring, mask_id_number, mask_name, mask_phone

# Booking codes: no 0/O, 1/I/L, so a code read out at the gate is not misheard.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def new_id() -> str:
    return uuid.uuid4().hex


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def at(day: date, hhmm: str) -> datetime:
    """The moment ``hhmm`` of ``day`` in Shanghai."""
    return datetime.combine(day, time.fromisoformat(hhmm), SHANGHAI)


def person_hash(id_number: str) -> str:
    """The resident ID number's keyed hash (blind index): equal numbers, equal hashes; no number from it."""
    return keyring().lookup_hash(id_number, purpose="resident_id")


def slot_end(venue: Venue, start: str) -> str:
    return next((str(s["end"]) for s in venue.slots if s["start"] == start), start)


def booking_view(booking: Booking, venue: Venue, waiting_position: int | None = None) -> BookingView:
    return BookingView(
        id=booking.id, code=booking.code, venue_id=booking.venue_id, venue_name=venue.name, day=booking.day,
        slot_start=booking.slot_start, slot_end=slot_end(venue, booking.slot_start), status=booking.status,
        channel=booking.channel, person_name=mask_name(booking.person_name), id_number=mask_id_number(booking.id_number),
        phone=mask_phone(booking.phone) if booking.phone else None, waiting_position=waiting_position,
        created_at=booking.created_at, cancelled_at=booking.cancelled_at, promoted_at=booking.promoted_at,
        entered_at=booking.entered_at)
