"""Request and response bodies of svc-notifications."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

Kind = Literal["application_returned", "licence_expiring", "benefit_granted", "rectification_replied",
               "ticket_answered", "clock_warning", "booking_promoted", "booking_expired"]
Channel = Literal["email", "sms", "push"]
KINDS: tuple[Kind, ...] = ("application_returned", "licence_expiring", "benefit_granted", "rectification_replied",
                           "ticket_answered", "clock_warning", "booking_promoted", "booking_expired")
CHANNELS: tuple[Channel, ...] = ("email", "sms", "push")

EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
MOBILE_PATTERN = r"^1[3-9][0-9]{9}$"


class NotificationView(BaseModel):
    id: int
    kind: Kind
    title: str = Field(description="In the language of `Accept-Language` (Chinese unless English is preferred)")
    body: str
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str
    ref_type: str | None = None
    ref_id: str | None = None
    created_at: datetime
    read: bool
    read_at: datetime | None = None


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int


class DeliveryView(BaseModel):
    channel: Channel
    status: Literal["pending", "sent", "failed", "skipped"]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None


class Preferences(BaseModel):
    email: str | None = Field(default=None, description="Masked")
    phone: str | None = Field(default=None, description="Masked")
    channels: dict[Kind, dict[Channel, bool]]


class PreferencesUpdate(BaseModel):
    """What to change; a member left out stays as it is, ``null`` removes a contact."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)
    phone: str | None = Field(default=None, max_length=11, pattern=MOBILE_PATTERN, description="Mainland mobile number")
    # Strict: 0 or "yes" is not a choice (the document says boolean).
    channels: dict[Kind, dict[Channel, StrictBool]] | None = None
