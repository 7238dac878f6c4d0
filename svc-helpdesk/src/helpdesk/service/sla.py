"""The SLA engine: clocks for first response, next response and resolution of a ticket.

A policy target has an amount and a unit:

- ``seconds``: wall-clock seconds (the 1-minute response promise: a waiting person's minute is a
  minute whatever the calendar says);
- ``working_hours``: hours of office time (``kit.calendar.WorkingHours``, 9:00–12:00 and
  13:00–17:00 by default) on working days of the platform calendar, holidays and make-up working
  days (调休) included;
- ``working_days``: that many whole working days of office time (1 working day from Friday 15:00
  is due Monday 15:00; from the Friday before a holiday week, 15:00 on the first working day after).

Every clock keeps ``elapsed_before`` (time measured up to the start of its running segment) and
``segment_started_at``; pauses (e.g. waiting for the applicant) are stored as intervals, so a clock
can always be recomputed from its start and its pauses (``recompute``) — e.g. after ops approve a
corrected calendar. A reopened ticket starts new clocks (the next ``cycle``). The counting itself is
``kit.clock``'s (a running clock is the reading ``(segment_started_at, elapsed_before)``); what is
here is what the help desk's clocks mean and store.

While a clock runs, ``due_at`` (when it breaches) and ``next_alert_at`` (when the next warning or
escalation is due) are stored, so the queue's order and the alert job are index lookups. A clock
whose target runs into a year without calendar data raises ``CalendarYearMissing``: it is never
computed on weekends-only guesses.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import SlaClock, SlaClockPause, SlaPolicy
from kit.calendar import CalendarError, WorkingDayCalendar, WorkingHours, default_calendar
from kit.clock import OfficeSeconds, Reading, Scale, WallSeconds, from_start
from kit.errors import ServiceUnavailable
from kit.i18n import Text

UNITS = ("seconds", "working_hours", "working_days")
CLOCK_KINDS = ("first_response", "next_response", "resolution")
BREACH_PERCENT = 100

SLA_BREACHES = Counter("lvrong_helpdesk_sla_breaches_total", "SLA clocks that ran past their target",
                       ["clock", "channel"])
SLA_ALERTS = Counter("lvrong_helpdesk_sla_alerts_total", "SLA warnings and escalations sent", ["clock", "level"])


@dataclass
class Clockwork:
    """The calendar and office hours clocks are measured with (replaceable in tests)."""

    hours: WorkingHours
    calendar: Callable[[], WorkingDayCalendar] = default_calendar

    def target_seconds(self, unit: str, amount: int) -> float:
        if unit == "seconds":
            return float(amount)
        if unit == "working_hours":
            return amount * 3600.0
        if unit == "working_days":
            return amount * self.hours.day_seconds
        raise ValueError(f"unknown SLA unit {unit!r}")

    def scale(self, unit: str) -> Scale[datetime, float]:
        """What a clock of ``unit`` counts: wall-clock seconds, or office seconds (working hours and days alike)."""
        if unit == "seconds":
            return WallSeconds()
        return OfficeSeconds(self.calendar(), self.hours)

    def measure(self, unit: str, start: datetime, end: datetime) -> float:
        """Time from ``start`` to ``end`` that counts for a clock of ``unit``."""
        return self.scale(unit).measure(start, end)

    def advance(self, unit: str, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of counted time after ``start``."""
        return self.scale(unit).advance(start, seconds)

    def provisional(self, unit: str, start: datetime, due: datetime | None) -> bool:
        """Whether a clock of ``unit`` from ``start`` to ``due`` counts on a provisional calendar year."""
        if due is None:
            return False
        try:
            return self.scale(unit).provisional(start, due)
        except CalendarError:
            return False  # past the provisional year: such a clock could not have been started


clockwork = Clockwork(WorkingHours())


def configure(hours: WorkingHours) -> None:
    clockwork.hours = hours


def calendar_problem(error: CalendarError) -> ServiceUnavailable:
    """No calendar for a year a clock runs into: fail loudly (503 naming the year), never guess."""
    return ServiceUnavailable(Text(error.message_zh, error.message_en), calendar_error=type(error).__name__,
                              missing_year=getattr(error, "year", None))


def alert_steps(clock: SlaClock) -> list[int]:
    """Percentages of the target at which the clock alerts: the warning, the breach, the escalations."""
    return sorted({clock.warn_percent, BREACH_PERCENT, *clock.escalation_percents})


def _reading(clock: SlaClock) -> Reading[datetime, float] | None:
    """A running clock's reading: the start of its running segment and what it had used before it."""
    if clock.stopped_at is not None or clock.paused_since is not None or clock.segment_started_at is None:
        return None
    return Reading(clock.segment_started_at, clock.elapsed_before)


def elapsed(clock: SlaClock, now: datetime) -> float:
    """Counted time of the clock at ``now``."""
    if clock.stopped_at is not None:
        return clock.elapsed_seconds or 0.0
    reading = _reading(clock)
    if reading is None:
        return clock.elapsed_before
    # Nothing counts before the running segment started.
    return reading.elapsed(clockwork.scale(clock.unit), max(now, reading.mark))


def _schedule(clock: SlaClock) -> None:
    """Due moment and next alert of a running clock, from its segment start and what it had used."""
    clock.due_at = clock.next_alert_at = None
    reading = _reading(clock)
    if reading is None:
        return
    scale = clockwork.scale(clock.unit)
    # Already past the target: the breach happened before this segment (kept as the due moment for ordering).
    clock.due_at = reading.moment_at(scale, max(clock.target_seconds, reading.counted))
    for percent in alert_steps(clock):
        if percent > clock.alerted_percent:
            clock.next_alert_at = reading.moment_at(scale, max(clock.target_seconds * percent / 100, reading.counted))
            return


def start(session: AsyncSession, ticket_id: str, kind: str, policy: SlaPolicy, at: datetime, cycle: int) -> SlaClock:
    target = getattr(policy, kind)
    clock = SlaClock(ticket_id=ticket_id, kind=kind, cycle=cycle, unit=target["unit"], amount=target["amount"],
                     target_seconds=clockwork.target_seconds(target["unit"], target["amount"]),
                     warn_percent=policy.warn_percent, escalation_percents=list(policy.escalation_percents),
                     started_at=at, segment_started_at=at, elapsed_before=0.0, alerted_percent=0)
    _schedule(clock)
    session.add(clock)
    return clock


def pause(session: AsyncSession, clock: SlaClock, at: datetime, reason: str) -> None:
    if clock.stopped_at is not None or clock.paused_since is not None:
        return
    clock.elapsed_before = elapsed(clock, at)
    clock.segment_started_at = None
    clock.paused_since = at
    _schedule(clock)
    session.add(SlaClockPause(clock_id=clock.id, paused_at=at, reason=reason))


async def resume(session: AsyncSession, clock: SlaClock, at: datetime) -> None:
    if clock.paused_since is None or clock.stopped_at is not None:
        return
    open_pause = await session.scalar(select(SlaClockPause).where(SlaClockPause.clock_id == clock.id,
                                                                  SlaClockPause.resumed_at.is_(None)))
    if open_pause is not None:
        open_pause.resumed_at = at
    clock.paused_since = None
    clock.segment_started_at = at
    _schedule(clock)


def stop(clock: SlaClock, at: datetime, channel: str) -> None:
    """Stop the clock; a clock stopped past its target counts as breached if the alert job had not seen it yet."""
    if clock.stopped_at is not None:
        return
    clock.elapsed_seconds = elapsed(clock, at)
    if clock.paused_since is not None:
        clock.paused_since = None
    clock.stopped_at = at
    clock.segment_started_at = None
    if clock.elapsed_seconds > clock.target_seconds and clock.breached_at is None:
        clock.breached_at = at
        SLA_BREACHES.labels(clock.kind, channel).inc()
    clock.due_at = clock.next_alert_at = None


def met(clock: SlaClock) -> bool | None:
    """Whether a stopped clock met its target (None while it runs)."""
    if clock.stopped_at is None:
        return None
    return (clock.elapsed_seconds or 0.0) <= clock.target_seconds


def recompute(clock: SlaClock, pauses: Sequence[SlaClockPause]) -> None:
    """Rebuild a running or paused clock's measured time and schedule from its start and pause intervals.

    Used after the calendar changes (a year approved or corrected): the stored figures were measured
    with the old data.
    """
    if clock.stopped_at is not None:
        return
    end = clock.paused_since or clock.segment_started_at
    assert end is not None
    scale = clockwork.scale(clock.unit)
    finished = [(p.paused_at, p.resumed_at) for p in pauses if p.resumed_at is not None and p.resumed_at <= end]
    clock.elapsed_before = max(0.0, from_start(scale, clock.started_at, finished).elapsed(scale, end))
    _schedule(clock)


def reached_steps(clock: SlaClock, now: datetime) -> list[int]:
    """Alert steps not yet sent whose time has come."""
    used = elapsed(clock, now)
    # A hair of tolerance: the scheduled moment is computed from the same figures it is compared with.
    return [p for p in alert_steps(clock) if p > clock.alerted_percent and used + 1e-6 >= clock.target_seconds * p / 100]


def mark_alerted(clock: SlaClock, percent: int, now: datetime, channel: str) -> str:
    """Record an alert step; returns its level: ``warning``, ``breached`` or ``escalated``."""
    clock.alerted_percent = percent
    if percent < BREACH_PERCENT:
        level = "warning"
    elif percent == BREACH_PERCENT:
        level = "breached"
    else:
        level = "escalated"
    if percent >= BREACH_PERCENT and clock.breached_at is None:
        clock.breached_at = now
        SLA_BREACHES.labels(clock.kind, channel).inc()
    SLA_ALERTS.labels(clock.kind, level).inc()
    _schedule(clock)
    return level
