"""Tables of svc-notifications: the notifications (站内信) of each recipient, their deliveries on the
outside channels, and each recipient's contacts (encrypted) and preferences."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.db import Base as KitBase
from kit.db import new_metadata
from kit.protection import ProtectedText


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()


class Notification(Base):
    """One notification in one inbox, made from one event (at most one per event)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # "subject:<subject>" (a person, an officer) or "org:<USCC>" (a company, whoever logs in for it).
    recipient: Mapped[str] = mapped_column(String(160), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    title_zh: Mapped[str] = mapped_column(Text, nullable=False)
    title_en: Mapped[str] = mapped_column(Text, nullable=False)
    body_zh: Mapped[str] = mapped_column(Text, nullable=False)
    body_en: Mapped[str] = mapped_column(Text, nullable=False)
    # What it is about, for the front-end's link: ("application", id), ("licence", id), ("ticket", id) …
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_notifications_inbox", "recipient", "id"),
        Index("ix_notifications_unread", "recipient", postgresql_where="read_at IS NULL"),
    )


class Delivery(Base):
    """One notification on one outside channel: pending → sent, or failed after the last attempt.

    Unique per (event, channel): an event delivered again never sends twice."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    notification_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    recipient: Mapped[str] = mapped_column(String(160), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Why the last attempt failed or why it waits (quiet_hours); never personal data.
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("event_id", "channel", name="uq_deliveries_event_channel"),
        Index("ix_deliveries_due", "next_attempt_at", postgresql_where="status = 'pending'"),
        Index("ix_deliveries_notification", "notification_id"),
    )


class Recipient(Base):
    """A recipient's contacts for the outside channels (encrypted at rest) and which channels they want
    for which kind of notification (``{kind: {channel: bool}}``; a kind not listed: every channel on)."""

    __tablename__ = "recipients"

    recipient: Mapped[str] = mapped_column(String(160), primary_key=True)
    email: Mapped[str | None] = mapped_column(ProtectedText("recipients.email"))
    phone: Mapped[str | None] = mapped_column(ProtectedText("recipients.phone"))
    channels: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
