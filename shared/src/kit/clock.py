"""Pausable clocks over the working-day calendar: the arithmetic of the help desk's SLA clocks and of
svc-matters' statutory clock (法定时限), written once.

What stays in the services is what a clock means there: which states pause it, its targets and
units, extensions, warnings and escalations, what is stored. What is here is how such a clock
counts.

A module of its own rather than part of ``kit.calendar``: the calendar answers questions about days
and office hours and keeps its data current (files, the KV bucket, gauges); a clock is arithmetic on
top of those answers, with no data of its own, and is easier to read (and to test) apart from them.

**Scales.** A clock counts on a scale: how much counts from one point to another (``measure``),
where a point gets to after an amount has counted (``advance``), and whether that stretch counts on
a provisional calendar year (``provisional``; see ``kit.calendar``):

- ``WallSeconds``: seconds of wall-clock time (a waiting person's minute is a minute);
- ``OfficeSeconds``: seconds of office time (``WorkingHours``) on working days, holidays and
  make-up working days (调休) included;
- ``WorkingDays``: whole working days between dates, counted like administrative time limits (the
  day a period starts is not counted: ``WorkingDayCalendar.working_days_between``).

**Readings.** A running clock is one ``Reading``: what it had counted (``counted``) at one point of
its scale (``mark``). Everything else follows from it: what it has counted at any moment
(``elapsed``), what is left of a target (``remaining``) and when it reaches an amount (``moment_at``:
the due moment for the target, a warning's moment for a share of it). The mark may lie in the past
(the help desk marks the start of the running stretch with what was used before it) or in the future
(svc-matters marks the due date, where the clock will have counted its limit); the arithmetic is the
same, and ``elapsed`` measures from the moment to the mark so a day clock counts like a time limit
(days left = working days in ``(today, due]``).

**Pauses.** What a paused clock would have counted does not count. A paused clock is read at the
moment it paused. Resuming carries the count past the pause in one of two equivalent ways, whichever
fits what is stored: a new reading at the resume with what the clock had counted (``Reading(at,
counted)``: the mark was the start of the stretch), or skipping the pause's length (``skip``,
``pause_length``: the mark is fixed, e.g. a due date, and moves by the pause). ``from_start`` reads a
clock again from its start and its pauses, e.g. after ops approve a corrected calendar: the stored
figures were counted on the old data.

Calendar errors (``CalendarYearMissing``: a clock running past the provisional year) propagate: a
clock is never counted on weekends-only guesses. Each service turns them into its 503.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from kit.calendar import WorkingDayCalendar, WorkingHours

__all__ = [
    "OfficeSeconds",
    "Reading",
    "Scale",
    "WallSeconds",
    "WorkingDays",
    "from_start",
    "pause_length",
]

#: A point on a scale: a moment, or a date for clocks counted in whole days.
P = TypeVar("P", datetime, date)
#: An amount of counted time: seconds, or whole working days.
N = TypeVar("N", float, int)
P_contra = TypeVar("P_contra", datetime, date, contravariant=True)


class Scale(Protocol[P, N]):
    """How a clock counts: see the module docstring."""

    def measure(self, start: P, end: P) -> N:
        """What counts from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        ...

    def advance(self, start: P, amount: N) -> P:
        """The point ``amount`` of counted time after ``start`` (before it when negative)."""
        ...

    def provisional(self, start: P, end: P) -> bool:
        """Whether the stretch from ``start`` to ``end`` counts on a provisional calendar year."""
        ...


@dataclass(frozen=True)
class WallSeconds:
    """Wall-clock seconds: no calendar, never provisional."""

    def measure(self, start: datetime, end: datetime) -> float:
        return (end - start).total_seconds()

    def advance(self, start: datetime, amount: float) -> datetime:
        return start + timedelta(seconds=amount)

    def provisional(self, start: datetime, end: datetime) -> bool:
        return False


@dataclass(frozen=True)
class OfficeSeconds:
    """Seconds of office time on the working days of ``calendar``."""

    calendar: WorkingDayCalendar
    hours: WorkingHours

    def measure(self, start: datetime, end: datetime) -> float:
        return self.calendar.working_seconds_between(start, end, self.hours)

    def advance(self, start: datetime, amount: float) -> datetime:
        return self.calendar.add_working_time(start, amount, self.hours)

    def provisional(self, start: datetime, end: datetime) -> bool:
        tz = self.hours.tz
        return bool(self.calendar.provisional_years_between(start.astimezone(tz).date(), end.astimezone(tz).date()))


@dataclass(frozen=True)
class WorkingDays:
    """Whole working days of ``calendar`` between dates (the start of a period not counted)."""

    calendar: WorkingDayCalendar

    def measure(self, start: date, end: date) -> int:
        return self.calendar.working_days_between(start, end)

    def advance(self, start: date, amount: int) -> date:
        return self.calendar.add_working_days(start, amount)

    def provisional(self, start: date, end: date) -> bool:
        return bool(self.calendar.provisional_years_between(start, end))


@dataclass(frozen=True)
class Reading(Generic[P, N]):
    """What a running clock had counted (``counted``) at a point of its scale (``mark``)."""

    mark: P
    counted: N

    def elapsed(self, scale: Scale[P, N], at: P) -> N:
        """What the clock has counted at ``at`` (a paused clock: at the moment it paused)."""
        return self.counted - scale.measure(at, self.mark)

    def remaining(self, scale: Scale[P, N], target: N, at: P) -> N:
        """What is left of ``target`` at ``at`` (negative once past it)."""
        return target - self.elapsed(scale, at)

    def moment_at(self, scale: Scale[P, N], amount: N) -> P:
        """When the clock, running on, has counted ``amount``: the due moment for the target, a warning's
        moment for a share of it. The mark itself when that is what it had counted there (so a due
        date on a holiday, or a moment outside office hours, is kept as it is rather than moved)."""
        if amount == self.counted:
            return self.mark
        return scale.advance(self.mark, amount - self.counted)

    def skip(self, amount: N) -> Reading[P, N]:
        """The same clock not counting ``amount`` more of what lies past the mark (a pause's length):
        everything later moves by it, the mark stays."""
        return replace(self, counted=self.counted - amount)


def pause_length(scale: Scale[P, N], paused_at: P, resumed_at: P) -> N:
    """What a clock paused from ``paused_at`` to ``resumed_at`` did not count (never negative: a pause
    recorded out of order takes nothing away)."""
    length = scale.measure(paused_at, resumed_at)
    return length if length > 0 else type(length)(0)


def from_start(scale: Scale[P, N], start: P, pauses: Iterable[tuple[P, P]]) -> Reading[P, N]:
    """A clock started at ``start`` and paused during each of ``pauses`` (finished ones, as
    ``(paused_at, resumed_at)``), read from scratch: marked at its start, having counted there minus
    the length of every later pause."""
    zero = scale.measure(start, start)
    return Reading(start, zero).skip(sum((pause_length(scale, p, r) for p, r in pauses), zero))
