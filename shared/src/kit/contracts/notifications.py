"""Events published by svc-notifications (stream ``LVRONG_NOTIFICATIONS``)."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from kit.events.envelope import EventContract


class NotificationCreated(EventContract):
    """A notification (站内信) was put in a person's or company's inbox. Every replica of svc-notifications
    reads it with a core subscription to wake the live streams (SSE) of that recipient; it carries no
    text and no personal data, only whose inbox and the notification's id."""

    event_type: ClassVar[str] = "lvrong.notifications.notification.created"
    source_service: ClassVar[str] = "notifications"

    notification_id: int
    recipient: str  # "subject:<subject>" or "org:<unified social credit code>"
    kind: str
    created_at: datetime
