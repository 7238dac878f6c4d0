"""Events published by svc-knowledge (stream ``LVRONG_KNOWLEDGE``)."""
from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel

from kit.events.envelope import EventContract


class ConversationTurn(BaseModel):
    role: Literal["user", "assistant"]
    text: str
    at: datetime


class AssistantHandedOver(EventContract):
    """The smart assistant (智能客服) could not resolve a conversation and hands it to human help (人工帮办),
    with the conversation so far."""

    event_type: ClassVar[str] = "lvrong.knowledge.conversation.handed_over"
    source_service: ClassVar[str] = "knowledge"

    conversation_id: str
    # The user's subject (token ``sub``); None for an anonymous visitor of the public assistant.
    user_subject: str | None = None
    matter_code: str | None = None
    application_id: str | None = None
    question: str
    # not_resolved: the person said an answer did not solve the problem and asked for a human (issue 21).
    reason: Literal["no_answer", "low_confidence", "user_asked", "repeated_question", "not_resolved"]
    turns: list[ConversationTurn]
    handed_over_at: datetime


class PolicyDeadlineMissed(EventContract):
    """A knowledge entry linked to a policy was not published at least one working day before the
    policy took effect (platform calendar); raised once per entry."""

    event_type: ClassVar[str] = "lvrong.knowledge.entry.policy_late"
    source_service: ClassVar[str] = "knowledge"

    entry_id: str
    question: str
    matter: str | None = None
    owner_department: str | None = None
    policy_effective_date: date
    deadline: date
    # When it was finally published (late), or None while it still is not.
    published_at: datetime | None = None
