"""Events published by svc-helpdesk (stream ``LVRONG_HELPDESK``)."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel

from kit.events.envelope import EventContract


class AnswerProposed(EventContract):
    """A help-desk agent's good answer, proposed to the knowledge base; svc-knowledge makes it a draft entry."""

    event_type: ClassVar[str] = "lvrong.helpdesk.answer.proposed"
    source_service: ClassVar[str] = "helpdesk"

    proposal_id: str
    ticket_id: str
    # Set when the ticket came from an assistant hand-over: the knowledge base can close the gap it showed.
    conversation_id: str | None = None
    matter_code: str | None = None
    question: str
    answer: str
    department: str
    proposed_by: str
    proposed_at: datetime


class SlaClockAlert(BaseModel):
    """The data of every SLA alert: which clock of which ticket, how far it has run, whose it is."""

    ticket_id: str
    clock: str  # first_response, next_response, resolution
    cycle: int
    percent: int
    channel: str
    department: str
    matter_code: str | None = None
    assigned_agent: str | None = None
    target: str  # e.g. "60 seconds", "1 working_days"
    due_at: datetime | None = None


class SlaClockWarning(SlaClockAlert, EventContract):
    """A clock reached its warning percentage (80% of the target by default)."""

    event_type: ClassVar[str] = "lvrong.helpdesk.sla.warning"
    source_service: ClassVar[str] = "helpdesk"


class SlaClockBreached(SlaClockAlert, EventContract):
    """A clock ran past its target."""

    event_type: ClassVar[str] = "lvrong.helpdesk.sla.breached"
    source_service: ClassVar[str] = "helpdesk"


class SlaClockEscalated(SlaClockAlert, EventContract):
    """An escalation step after the breach (150%, 200% of the target by default)."""

    event_type: ClassVar[str] = "lvrong.helpdesk.sla.escalated"
    source_service: ClassVar[str] = "helpdesk"


class RatingSubmitted(EventContract):
    """A rating (好差评) of a finished interaction; scores 1–2 are bad ratings (差评)."""

    event_type: ClassVar[str] = "lvrong.helpdesk.rating.submitted"
    source_service: ClassVar[str] = "helpdesk"

    rating_id: str
    target_kind: str  # ticket, hall_visit, application_step
    target_id: str
    score: int
    tags: list[str]
    matter_code: str | None = None
    department: str | None = None
    rectification_id: str | None = None
    rated_at: datetime


class RectificationClosed(EventContract):
    """A bad rating was answered, put right (整改) and followed up."""

    event_type: ClassVar[str] = "lvrong.helpdesk.rectification.closed"
    source_service: ClassVar[str] = "helpdesk"

    rectification_id: str
    rating_id: str
    department: str
    late: bool
    satisfied: bool | None = None
    closed_at: datetime


class TicketAnswered(EventContract):
    """An agent wrote to the person a ticket is for (帮办答复): svc-notifications tells them. The text
    stays in svc-helpdesk (the person reads it on the ticket)."""

    event_type: ClassVar[str] = "lvrong.helpdesk.ticket.answered"
    source_service: ClassVar[str] = "helpdesk"

    ticket_id: str
    message_id: int
    applicant_subject: str
    department: str
    matter_code: str | None = None
    answered_at: datetime


class RectificationReplied(EventContract):
    """The department replied to the person who gave a bad rating (差评整改答复)."""

    event_type: ClassVar[str] = "lvrong.helpdesk.rectification.replied"
    source_service: ClassVar[str] = "helpdesk"

    rectification_id: str
    rating_id: str
    rater_subject: str
    department: str
    reply: str
    replied_at: datetime


class CalendarYearApproved(EventContract):
    """Ops approved a year's holiday arrangement; it is in the ``LVRONG_CALENDAR`` KV bucket."""

    event_type: ClassVar[str] = "lvrong.helpdesk.calendar.approved"
    source_service: ClassVar[str] = "helpdesk"

    year: int
    submitted_by: str
    approved_by: str
    approved_at: datetime
    kv_revision: int | None = None
