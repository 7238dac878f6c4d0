"""The API's models of svc-booking."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from booking import messages
from kit.i18n import invalid
from kit.identifiers import is_valid_mainland_mobile, is_valid_resident_id, normalize_mobile, normalize_resident_id
from kit.params import IsoDate

Province = Literal["SH", "JS", "ZJ", "AH"]
VenueKind = Literal["zoo", "botanical_garden"]
BookingStatus = Literal["booked", "waiting", "entered", "cancelled", "no_show", "expired"]
HHMM = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotSpec(Strict):
    start: str = HHMM
    end: str = HHMM
    capacity: int = Field(ge=0, le=100_000)


def _ordered(slots: list[SlotSpec]) -> list[SlotSpec]:
    previous_end = "00:00"
    for slot in slots:
        if not (previous_end <= slot.start < slot.end):
            raise invalid(messages.SLOTS_INVALID)
        previous_end = slot.end
    return slots


class VenueCreate(Strict):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: VenueKind
    province: Province
    city: str = Field(min_length=1, max_length=64)
    slots: list[SlotSpec] = Field(min_length=1, max_length=24)
    closed_weekdays: list[int] = Field(default_factory=list, max_length=6)

    @field_validator("slots")
    @classmethod
    def _slots_in_order(cls, value: list[SlotSpec]) -> list[SlotSpec]:
        return _ordered(value)

    @field_validator("closed_weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(not 1 <= d <= 7 for d in value) or len(set(value)) != len(value):
            raise invalid(messages.WEEKDAYS_INVALID, "weekday")
        return sorted(value)


class VenueView(BaseModel):
    id: str
    name: str
    kind: VenueKind
    province: Province
    city: str
    slots: list[SlotSpec]
    closed_weekdays: list[int]


class ClosedDayCreate(Strict):
    day: IsoDate
    reason: str = Field(min_length=1, max_length=200)


class ClosedDayView(BaseModel):
    venue_id: str
    day: IsoDate
    reason: str


class CapacitySet(Strict):
    capacity: int = Field(ge=0, le=100_000)


class SlotView(BaseModel):
    venue_id: str
    day: IsoDate
    start: str
    end: str
    capacity: int
    taken: int
    remaining: int
    waiting: int


class Person(Strict):
    """The visitor, by real name (实名): the name and resident ID number (居民身份证号码) as on the card."""

    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=15, max_length=20)
    phone: str | None = Field(default=None, max_length=20)

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        if not is_valid_resident_id(value):
            raise invalid(messages.ID_NUMBER_INVALID)
        return normalize_resident_id(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not is_valid_mainland_mobile(value):
            raise invalid(messages.PHONE_INVALID)
        return normalize_mobile(value)


class BookingCreate(Strict):
    venue_id: str = Field(min_length=1, max_length=64)
    day: IsoDate
    slot_start: str = HHMM
    person: Person
    # When the slot is full: join its waiting list (promoted automatically when a place is freed).
    wait_if_full: bool = False


class BookingView(BaseModel):
    """A booking with the person masked (张*, 310***********1234, 138****5678)."""

    id: str
    code: str
    venue_id: str
    venue_name: str
    day: IsoDate
    slot_start: str
    slot_end: str
    status: BookingStatus
    channel: str
    person_name: str
    id_number: str
    phone: str | None
    # Place on the slot's waiting list (1 = next), for a waiting booking.
    waiting_position: int | None = None
    created_at: datetime
    cancelled_at: datetime | None = None
    promoted_at: datetime | None = None
    entered_at: datetime | None = None


class EntryCheck(Strict):
    """What the gate reads: the booking code, or the resident ID number from the card (one of them)."""

    venue_id: str = Field(min_length=1, max_length=64)
    code: str | None = Field(default=None, min_length=4, max_length=16)
    id_number: str | None = Field(default=None, min_length=15, max_length=20)

    @model_validator(mode="after")
    def _one_of(self) -> EntryCheck:
        if (self.code is None) == (self.id_number is None):
            raise invalid(messages.CODE_OR_ID_REQUIRED)
        return self


class DayReport(BaseModel):
    venue_id: str
    day: IsoDate
    capacity: int
    booked: int
    entered: int
    cancelled: int
    no_show: int
    waiting: int
    expired: int  # waiting entries that never got a place (候补未成功)
    slots: list[SlotView]
