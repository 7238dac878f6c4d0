"""Events published by svc-booking (stream ``LVRONG_BOOKING``). No personal data: the booking's id,
code, venue, day and slot, how it was made and by whom (an applicant's subject or a partner client)."""
from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from pydantic import BaseModel

from kit.events.envelope import EventContract


class BookingFacts(BaseModel):
    """What every booking event says."""

    booking_id: str
    code: str
    venue_id: str
    day: date
    slot_start: str
    channel: str  # web, partner:<province>
    booked_by: str
    at: datetime


class BookingCreated(BookingFacts, EventContract):
    """A place was booked (``status`` booked), or the person joined the slot's waiting list (``waiting``)."""

    event_type: ClassVar[str] = "lvrong.booking.booking.created"
    source_service: ClassVar[str] = "booking"

    status: str


class BookingCancelled(BookingFacts, EventContract):
    """A booking or a waiting-list entry was cancelled; a place it held went to the next on the waiting list or back."""

    event_type: ClassVar[str] = "lvrong.booking.booking.cancelled"
    source_service: ClassVar[str] = "booking"


class BookingPromoted(BookingFacts, EventContract):
    """The first of a slot's waiting list got the place a cancellation freed (in the cancellation's transaction)."""

    event_type: ClassVar[str] = "lvrong.booking.booking.promoted"
    source_service: ClassVar[str] = "booking"

    freed_by: str  # the cancelled booking's id
    venue_name: str = ""  # for the family's notification (empty in events from before it was carried)


class BookingExpired(BookingFacts, EventContract):
    """A waiting-list entry ended without a place (候补未成功): its slot reached the cancellation cut-off, after which
    no cancellation can free a place."""

    event_type: ClassVar[str] = "lvrong.booking.booking.expired"
    source_service: ClassVar[str] = "booking"

    venue_name: str


class BookingEntered(BookingFacts, EventContract):
    """The person was admitted at the gate after the real-name check."""

    event_type: ClassVar[str] = "lvrong.booking.booking.entered"
    source_service: ClassVar[str] = "booking"

    checked_by: str
