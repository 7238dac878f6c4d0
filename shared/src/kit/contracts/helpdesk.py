"""Events published by svc-helpdesk (stream ``LVRONG_HELPDESK``)."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

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
