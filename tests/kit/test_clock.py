"""The kit's pausable clock over the working-day calendar: readings, pauses and recounting, on the
library's real 2025 and 2026 data and the provisional 2027 it computes (the library ends with 2026).

Expected dates and amounts are worked out by hand from the State Council's notices (2025: 国庆·中秋
1–8 October with make-up days Sunday 28 September and Saturday 11 October; 2026: 元旦 1–3 January)
and the regulation (2027 provisional: 元旦 Friday 1 January, no make-up days), not from the code.
"""
from __future__ import annotations

from datetime import date, datetime

import pytest

from kit.calendar import SHANGHAI, CalendarYearMissing, WorkingDayCalendar, WorkingHours
from kit.clock import OfficeSeconds, Reading, WallSeconds, WorkingDays, from_start, pause_length

HOUR = 3600.0
DAY = 7 * HOUR  # default office hours: 09:00–12:00 and 13:00–17:00


def at(y: int, m: int, d: int, hour: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def days() -> WorkingDays:
    return WorkingDays(WorkingDayCalendar())


@pytest.fixture(scope="module")
def office() -> OfficeSeconds:
    return OfficeSeconds(WorkingDayCalendar(), WorkingHours())


def test_the_dates_below_are_the_weekdays_they_are_said_to_be() -> None:
    assert date(2025, 3, 7).strftime("%a") == "Fri"
    assert date(2025, 9, 26).strftime("%a") == "Fri"
    assert date(2025, 10, 11).strftime("%a") == "Sat"
    assert date(2026, 12, 30).strftime("%a") == "Wed"
    assert date(2027, 1, 1).strftime("%a") == "Fri"


# -- office seconds (the help desk's working-hour and working-day clocks) -----------------------

def test_a_pause_over_a_weekend_does_not_count_and_the_clock_resumes_where_it_was(office: OfficeSeconds) -> None:
    started = at(2025, 3, 7, 15)  # Friday
    running = Reading(started, 0.0)
    assert running.elapsed(office, at(2025, 3, 7, 16)) == HOUR
    assert running.moment_at(office, DAY) == at(2025, 3, 10, 15)  # one working day: Monday 15:00

    counted = running.elapsed(office, at(2025, 3, 7, 16))  # paused Friday 16:00
    resumed = Reading(at(2025, 3, 10, 10), counted)  # resumed Monday 10:00
    # Monday 10:00 with 6 office hours to go: 10–12 and 13–17.
    assert resumed.moment_at(office, DAY) == at(2025, 3, 10, 17)
    assert resumed.elapsed(office, at(2025, 3, 10, 13)) == 3 * HOUR
    assert resumed.remaining(office, DAY, at(2025, 3, 10, 13)) == 4 * HOUR
    # The weekend counted nothing, Friday 16–17 and Monday 9–10 did not count either.
    assert pause_length(office, at(2025, 3, 7, 16), at(2025, 3, 10, 10)) == 2 * HOUR
    # Counted again from the start and the pause: the same reading.
    again = from_start(office, started, [(at(2025, 3, 7, 16), at(2025, 3, 10, 10))])
    assert again.elapsed(office, at(2025, 3, 10, 13)) == 3 * HOUR
    assert again.moment_at(office, DAY) == at(2025, 3, 10, 17)


def test_a_make_up_working_saturday_counts_while_paused_and_while_running(office: OfficeSeconds) -> None:
    # Saturday 11 October 2025 is a make-up working day (调休上班): 7 office hours.
    assert pause_length(office, at(2025, 10, 10, 16), at(2025, 10, 13, 9)) == HOUR + DAY
    # An ordinary weekend a week later: Friday's last hour only.
    assert pause_length(office, at(2025, 10, 17, 16), at(2025, 10, 20, 9)) == HOUR
    # One working day from Friday 15:00 is due on the make-up Saturday at 15:00.
    assert Reading(at(2025, 10, 10, 15), 0.0).moment_at(office, DAY) == at(2025, 10, 11, 15)


def test_a_clock_into_the_provisional_year_is_due_after_new_year_and_marked_provisional(office: OfficeSeconds) -> None:
    start = at(2026, 12, 31, 15)  # Thursday; Friday 1 January 2027 is 元旦 on the provisional calendar
    due = Reading(start, 0.0).moment_at(office, DAY)
    assert due == at(2027, 1, 4, 15)
    assert office.provisional(start, due) is True
    assert office.provisional(start, at(2026, 12, 31, 16)) is False
    # Paused over New Year: Thursday 16–17 and Monday 9–10 are the only office time in it.
    assert pause_length(office, at(2026, 12, 31, 16), at(2027, 1, 4, 10)) == 2 * HOUR
    with pytest.raises(CalendarYearMissing):  # past the provisional year: never guessed
        Reading(at(2027, 12, 31, 15), 0.0).moment_at(office, DAY)


def test_a_reading_before_its_mark_counts_backwards_and_an_out_of_order_pause_takes_nothing(
        office: OfficeSeconds) -> None:
    reading = Reading(at(2025, 3, 10, 10), 2 * HOUR)
    assert reading.elapsed(office, at(2025, 3, 7, 16)) == 0.0  # Friday 16–17 and Monday 9–10 before it
    assert pause_length(office, at(2025, 3, 10, 10), at(2025, 3, 7, 16)) == 0.0
    overdue = Reading(at(2025, 3, 10, 10), DAY + HOUR)
    assert overdue.remaining(office, DAY, at(2025, 3, 10, 11)) == -2 * HOUR
    # What the clock had counted at its mark: the mark itself, as it is.
    assert overdue.moment_at(office, DAY + HOUR) == at(2025, 3, 10, 10)


def test_wall_seconds_count_weekends_and_holidays_alike() -> None:
    wall = WallSeconds()
    assert wall.measure(at(2025, 9, 30, 17), at(2025, 10, 9, 9)) == (8 * 24 + 16) * HOUR
    assert Reading(at(2027, 12, 31, 23, 59), 0.0).moment_at(wall, 120.0) == at(2028, 1, 1, 0, 1)
    assert wall.provisional(at(2026, 12, 31, 15), at(2027, 1, 4, 15)) is False


# -- working days (svc-matters' statutory clock: the due date is the mark) --------------------

def test_a_day_clock_paused_over_a_holiday_moves_its_due_date_by_the_working_days_paused(days: WorkingDays) -> None:
    started, limit = date(2025, 9, 26), 3  # Friday; Sunday 28 September is a make-up working day
    due = Reading(started, 0).moment_at(days, limit)
    assert due == date(2025, 9, 30)  # Sunday 28, Monday 29, Tuesday 30
    clock = Reading(due, limit)
    assert clock.elapsed(days, date(2025, 9, 29)) == 2
    assert clock.remaining(days, limit, date(2025, 9, 29)) == 1

    # Paused on Monday 29 September, resumed on Thursday 9 October: 30 September and 9 October were
    # working days in the pause (1–8 October are the holiday).
    waited = pause_length(days, date(2025, 9, 29), date(2025, 10, 9))
    assert waited == 2
    moved = clock.skip(waited).moment_at(days, limit)
    assert moved == date(2025, 10, 10)
    assert Reading(moved, limit).remaining(days, limit, date(2025, 10, 9)) == 1
    # The same due date counted again from the start: limit plus the pause from the start.
    assert Reading(started, 0).skip(waited).moment_at(days, limit) == moved
    assert from_start(days, started, [(date(2025, 9, 29), date(2025, 10, 9))]).moment_at(days, limit) == moved


def test_a_day_clock_over_a_weekend_and_a_make_up_saturday(days: WorkingDays) -> None:
    # The day the pause starts is not counted, the day it ends is: Friday to Monday is one working day.
    assert pause_length(days, date(2025, 3, 7), date(2025, 3, 10)) == 1
    # With the make-up Saturday 11 October 2025 in it: two.
    assert pause_length(days, date(2025, 10, 10), date(2025, 10, 13)) == 2
    assert Reading(date(2025, 10, 10), 0).moment_at(days, 1) == date(2025, 10, 11)


def test_a_day_clock_into_the_provisional_year_and_its_warnings(days: WorkingDays) -> None:
    started, limit = date(2026, 12, 30), 3
    due = Reading(started, 0).moment_at(days, limit)
    assert due == date(2027, 1, 5)  # Thursday 31 December, Monday 4 and Tuesday 5 January
    assert days.provisional(started, due) is True
    assert days.provisional(started, date(2026, 12, 31)) is False
    clock = Reading(due, limit)
    # Warnings: the moment each share of the limit is reached, counted back from the due date.
    assert clock.moment_at(days, 1) == date(2026, 12, 31)
    assert clock.moment_at(days, 2) == date(2027, 1, 4)
    assert clock.moment_at(days, 3) == due
    # Paused on the last day of 2026 and resumed on the first working day of 2027: one day waited.
    waited = pause_length(days, date(2026, 12, 31), date(2027, 1, 4))
    assert waited == 1
    assert clock.skip(waited).moment_at(days, limit) == date(2027, 1, 6)
    assert clock.skip(waited).remaining(days, limit, date(2027, 1, 4)) == 2
    with pytest.raises(CalendarYearMissing):
        Reading(date(2027, 12, 30), 0).moment_at(days, limit)


def test_a_skipped_pause_of_nothing_keeps_a_due_date_on_a_holiday_as_it_is(days: WorkingDays) -> None:
    on_holiday = Reading(date(2025, 10, 1), 5)
    assert on_holiday.skip(0).moment_at(days, 5) == date(2025, 10, 1)
    assert on_holiday.skip(1).moment_at(days, 5) == date(2025, 10, 9)
