"""Tables of svc-booking: venues (zoos, botanical gardens) with their time slots and closed days; the
places taken per slot and day; bookings (real-name, personal data encrypted, the ID number's blind index
for the one-per-person-per-venue-per-day rule and the gate); no-show blocks."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.db import Base as KitBase
from kit.db import new_metadata
from kit.protection import ProtectedText

# Bookings that hold (or wait for) a place: the one-per-person-per-venue-per-day rule counts these.
# The bookings that hold the person's one booking of the venue and day. A waiting entry that expired (no place was
# freed before the cancellation cut-off) holds nothing: the person may book another slot of that day.
LIVE_BOOKING = "status NOT IN ('cancelled', 'expired')"


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()


class Venue(Base):
    """A zoo (动物园) or botanical garden (植物园) of 上海, 江苏, 浙江 or 安徽."""

    __tablename__ = "venues"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # zoo, botanical_garden
    province: Mapped[str] = mapped_column(String(2), nullable=False)  # SH, JS, ZJ, AH
    city: Mapped[str] = mapped_column(String(64), nullable=False)
    # [{"start": "09:00", "end": "11:00", "capacity": 2000}, …] local time (Asia/Shanghai), every open day.
    slots: Mapped[list[dict[str, object]]] = mapped_column(JSONB, nullable=False)
    # ISO weekdays the venue is closed every week (1 = Monday), e.g. [1] for a Monday closing.
    closed_weekdays: Mapped[list[int]] = mapped_column(JSONB, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ClosedDay(Base):
    """A day the venue is closed besides its weekly closing (maintenance, weather)."""

    __tablename__ = "closed_days"

    venue_id: Mapped[str] = mapped_column(ForeignKey("venues.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)


class Slot(Base):
    """The places of one time slot of one day: created from the venue's slots on first booking (or when
    ops set that day's capacity); ``taken`` only moves by a conditional UPDATE (never above capacity)."""

    __tablename__ = "slots"

    venue_id: Mapped[str] = mapped_column(ForeignKey("venues.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    start: Mapped[str] = mapped_column(String(5), primary_key=True)
    end: Mapped[str] = mapped_column(String(5), nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    taken: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __table_args__ = (CheckConstraint("taken >= 0 AND taken <= capacity", name="taken_within_capacity"),)


class Booking(Base):
    """One person's booking of one slot: booked → entered, or cancelled, or no_show; or waiting for a place."""

    __tablename__ = "bookings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    venue_id: Mapped[str] = mapped_column(ForeignKey("venues.id"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    slot_start: Mapped[str] = mapped_column(String(5), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # booked, waiting, entered, cancelled, no_show, expired
    # web (our login) or partner:<province> (a partner province's app on the person's behalf).
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    # Who booked: the applicant's subject or the partner client's id.
    booked_by: Mapped[str] = mapped_column(String(128), nullable=False)
    person_name: Mapped[str] = mapped_column(ProtectedText("bookings.person_name"), nullable=False)
    id_number: Mapped[str] = mapped_column(ProtectedText("bookings.id_number"), nullable=False)
    phone: Mapped[str | None] = mapped_column(ProtectedText("bookings.phone"))
    # Keyed hash of the resident ID number (kit.protection lookup_hash): the rule and the gate look it up.
    person_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    entered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_bookings_person_venue_day", "venue_id", "day", "person_hash", unique=True,
              postgresql_where=text(LIVE_BOOKING)),
        Index("ix_bookings_slot_status", "venue_id", "day", "slot_start", "status", "created_at"),
        Index("ix_bookings_person_status", "person_hash", "status", "day"),
        Index("ix_bookings_booked_by", "booked_by", "day"),
    )


class PersonBlock(Base):
    """A person (by the ID number's keyed hash) who may not book until ``blocked_until`` (no-show rule)."""

    __tablename__ = "person_blocks"

    person_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    blocked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    no_shows: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
