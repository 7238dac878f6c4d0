"""Tables of svc-knowledge: entries with every version and an append-only history, assistant
conversations, unanswered questions grouped with deadlines, and the search index's generation."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

import kit.audit  # noqa: F401 - the audit log is part of this service's schema (revision 0003)
from kit.db import Base as KitBase
from kit.db import new_metadata


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()


class Entry(Base):
    """A knowledge entry. Its content lives in ``entry_versions``; ``version`` is the newest (being
    edited or reviewed), ``published_version`` the one the public and the assistant see while
    ``live``. Editing a published entry makes a new draft version and leaves the published one live."""

    __tablename__ = "entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # of the newest version
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    published_version: Mapped[int | None] = mapped_column(Integer)
    live: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    matter: Mapped[str | None] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    owner_department: Mapped[str | None] = mapped_column(String(128))
    policy_effective_date: Mapped[date | None] = mapped_column(Date)
    # The last working day on which publishing still meets the policy deadline (platform calendar).
    policy_deadline: Mapped[date | None] = mapped_column(Date)
    policy_late_reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_inspection_due: Mapped[date | None] = mapped_column(Date)
    last_inspected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_proposal_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("ix_entries_live", "live"),
        Index("ix_entries_status_updated", "status", "updated_at"),
        Index("ix_entries_policy_deadline", "policy_deadline", postgresql_where=text("policy_deadline IS NOT NULL")),
    )


class EntryVersion(Base):
    """One version's content; never changed once its entry moved on to a newer version."""

    __tablename__ = "entry_versions"

    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # Retrieval tokens made when the version was published, with the fingerprint of the lexicon that
    # made them: a replica (re)building its index reads them instead of segmenting every entry again.
    tokens: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class EntryEvent(Base):
    """The history of an entry: who did what to which version, when (append-only). ``published`` and
    ``retired`` rows answer "what did the public see on date D"."""

    __tablename__ = "entry_history"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(24), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    changed_fields: Mapped[list[str] | None] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_entry_history_entry_at", "entry_id", "at"),)


class IndexState(Base):
    """One row: bumped in the transaction that changes what is live, so every replica sees that its
    in-memory index is stale and rebuilds it."""

    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_subject: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    turns: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    answered: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    handed_over: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    solved: Mapped[bool | None] = mapped_column(Boolean)  # the person's own word, when given
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_conversations_created", "created_at"),)


class Message(Base):
    __tablename__ = "messages"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str | None] = mapped_column(String(16))
    entry_id: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class AnswerConfirmation(Base):
    """The person's word on one answer (这个回答解决了您的问题吗): given once, yes or no (revision 0005)."""

    __tablename__ = "answer_confirmations"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    answer_seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # the assistant message's seq
    resolved: Mapped[bool] = mapped_column(Boolean, nullable=False)
    handed_over: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    confirmed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class UnansweredGroup(Base):
    """Questions the assistant could not answer, grouped with similar ones; due in 5 working days."""

    __tablename__ = "unanswered_groups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    question: Mapped[str] = mapped_column(Text, nullable=False)  # the first one asked: the group's title
    terms: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    matter: Mapped[str | None] = mapped_column(String(128))
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # open, resolved
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    first_asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    entry_id: Mapped[str | None] = mapped_column(String(64))
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_unanswered_groups_status_due", "status", "due_date"),)


class UnansweredQuestion(Base):
    __tablename__ = "unanswered_questions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("unanswered_groups.id"), nullable=False, index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
