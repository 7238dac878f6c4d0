"""Tables of svc-helpdesk: help tickets (帮办) with their messages, history and SLA clocks; agents;
hotline transfer attempts; ratings (好差评) and rectification cases (整改); service halls, bookings
and queue visits; submitted and approved working-day calendars."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.db import Base as KitBase
from kit.db import new_metadata
from kit.protection import ProtectedText

# Predicate of the partial index of running clocks; queries repeat it literally so the planner uses it.
RUNNING_CLOCK = "stopped_at IS NULL AND paused_since IS NULL"


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()


class Agent(Base):
    """A professional help agent (帮办人员) of a department; registered on first sign-in to the desk."""

    __tablename__ = "agents"

    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    department: Mapped[str] = mapped_column(String(200), nullable=False)
    available: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    max_open: Mapped[int] = mapped_column(Integer, nullable=False, default=8)
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class SlaPolicy(Base):
    """Targets for a channel / matter / priority (null = any); the most specific active policy applies."""

    __tablename__ = "sla_policies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(16))
    matter_code: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str | None] = mapped_column(String(16))
    # Each target: {"amount": int, "unit": "seconds" | "working_hours" | "working_days"}.
    first_response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    next_response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    resolution: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    warn_percent: Mapped[int] = mapped_column(Integer, nullable=False, default=80)
    # Escalation steps after the breach, as percentages of the target (e.g. [150, 200]).
    escalation_percents: Mapped[list[int]] = mapped_column(JSONB, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Ticket(Base):
    """A help session or ticket (帮办工单); its status history is in ``ticket_steps``."""

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    priority: Mapped[str] = mapped_column(String(16), nullable=False, default="normal")
    matter_code: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(200), nullable=False)
    subject_text: Mapped[str] = mapped_column(Text, nullable=False)
    applicant_subject: Mapped[str | None] = mapped_column(String(128))
    contact_name: Mapped[str | None] = mapped_column(ProtectedText("tickets.contact_name"))
    contact_phone: Mapped[str | None] = mapped_column(ProtectedText("tickets.contact_phone"))
    application_id: Mapped[str | None] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    policy_id: Mapped[str] = mapped_column(String(64), nullable=False)
    assigned_agent: Mapped[str | None] = mapped_column(String(128))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopen_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The earliest due moment of its running clocks: the agents' queue is ordered by it.
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_tickets_queue", "assigned_agent", "due_at"),
        Index("ix_tickets_department_status", "department", "status"),
        Index("ix_tickets_applicant", "applicant_subject", "created_at"),
        Index("ix_tickets_created", "created_at"),
    )


class TicketMessage(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False, index=True)
    author_subject: Mapped[str | None] = mapped_column(String(128))
    author_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # applicant, agent, assistant, system
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class TicketStep(Base):
    """Append-only history of a ticket: every action with the status before and after."""

    __tablename__ = "ticket_steps"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    status_before: Mapped[str | None] = mapped_column(String(24))
    status_after: Mapped[str] = mapped_column(String(24), nullable=False)
    actor_subject: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SlaClock(Base):
    """One clock of a ticket (first response, next response, resolution) in one cycle (a reopen
    starts a new cycle). ``elapsed_before`` is the measured time up to the start of the current
    running segment; pauses are kept as intervals in ``sla_clock_pauses``."""

    __tablename__ = "sla_clocks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    cycle: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unit: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)
    target_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    warn_percent: Mapped[int] = mapped_column(Integer, nullable=False)
    escalation_percents: Mapped[list[int]] = mapped_column(JSONB, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    segment_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    elapsed_before: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    paused_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    elapsed_seconds: Mapped[float | None] = mapped_column(Float)  # measured when stopped
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_alert_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    alerted_percent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_sla_clocks_ticket", "ticket_id", "kind", "cycle"),
        Index("ix_sla_clocks_alert", "next_alert_at", postgresql_where=RUNNING_CLOCK),
        Index("ix_sla_clocks_running", "id", postgresql_where="stopped_at IS NULL"),
    )


class SlaClockPause(Base):
    __tablename__ = "sla_clock_pauses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("sla_clocks.id"), nullable=False, index=True)
    paused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(64))


class HotlineTransfer(Base):
    """One 12345 three-way transfer attempt (三方转接) to a department's staff."""

    __tablename__ = "hotline_transfers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    department: Mapped[str] = mapped_column(String(200), nullable=False)
    matter_code: Mapped[str | None] = mapped_column(String(32))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    connected: Mapped[bool] = mapped_column(Boolean, nullable=False)
    wait_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    agent_subject: Mapped[str | None] = mapped_column(String(128))
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(128), nullable=False)

    __table_args__ = (Index("ix_hotline_transfers_attempted", "attempted_at"),)


class Rating(Base):
    """A rating (好差评) of one finished interaction, at most one per interaction per person."""

    __tablename__ = "ratings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(24), nullable=False)
    target_id: Mapped[str] = mapped_column(String(100), nullable=False)
    rater_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    score: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    comment: Mapped[str | None] = mapped_column(Text)
    matter_code: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(200))
    agent_subject: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        UniqueConstraint("target_kind", "target_id", "rater_subject"),
        Index("ix_ratings_created", "created_at"),
    )


class Rectification(Base):
    """The handling of a bad rating (差评整改): reply to the person, put it right, follow up."""

    __tablename__ = "rectifications"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rating_id: Mapped[str] = mapped_column(ForeignKey("ratings.id"), nullable=False, unique=True)
    department: Mapped[str] = mapped_column(String(200), nullable=False)
    owner_subject: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # open, replied, rectified, closed
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    measures: Mapped[str | None] = mapped_column(Text)
    rectified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    follow_up: Mapped[str | None] = mapped_column(Text)
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_rectifications_status_due", "status", "due_on"),)


class Hall(Base):
    """A service hall (服务大厅) with windows, opening periods on working days, matters and slot capacity."""

    __tablename__ = "halls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    district: Mapped[str | None] = mapped_column(String(64))
    windows: Mapped[int] = mapped_column(Integer, nullable=False)
    # [["09:00", "12:00"], ["13:00", "17:00"]], local time, on working days of the calendar.
    opening_periods: Mapped[list[list[str]]] = mapped_column(JSONB, nullable=False)
    # Halls with weekend and holiday service (周末不打烊) open every day; the others on working days only.
    open_on_rest_days: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    slot_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    slot_capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    daily_cap_per_person: Mapped[int] = mapped_column(Integer, nullable=False)
    # {"LR-XK-008": "general", "LR-XK-014": "complex"}
    matters: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class HallSlot(Base):
    """Bookings per time slot; the row is locked while booking so a full slot is never overbooked."""

    __tablename__ = "hall_slots"

    hall_id: Mapped[str] = mapped_column(ForeignKey("halls.id"), primary_key=True)
    slot_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    booked: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hall_id: Mapped[str] = mapped_column(ForeignKey("halls.id"), nullable=False)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    slot_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    local_day: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # booked, cancelled, checked_in
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_appointments_person_day", "applicant_subject", "local_day"),)


class Visit(Base):
    """A queue ticket (取号) in a hall: check-in → call to a window → start → done."""

    __tablename__ = "visits"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hall_id: Mapped[str] = mapped_column(ForeignKey("halls.id"), nullable=False)
    local_day: Mapped[date] = mapped_column(Date, nullable=False)
    number: Mapped[str] = mapped_column(String(16), nullable=False)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    complexity: Mapped[str] = mapped_column(String(16), nullable=False)
    visitor_subject: Mapped[str | None] = mapped_column(String(128))
    appointment_id: Mapped[str | None] = mapped_column(String(64))
    priority_reason: Mapped[str | None] = mapped_column(String(16))  # elderly, disabled
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # waiting, called, handling, done, no_show
    checked_in_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    called_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window: Mapped[int | None] = mapped_column(Integer)
    officer_subject: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("hall_id", "local_day", "number"),
        Index("ix_visits_queue", "hall_id", "local_day", "status", "checked_in_at"),
        Index("ix_visits_checked_in", "checked_in_at"),
    )


class CalendarSubmission(Base):
    """A year's holiday arrangement submitted by one ops person and approved by another (四眼原则)."""

    __tablename__ = "calendar_submissions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending, approved, superseded
    submitted_by: Mapped[str] = mapped_column(String(128), nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kv_revision: Mapped[int | None] = mapped_column(BigInteger)
