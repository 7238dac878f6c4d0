"""The working-day calendar: real holiday facts, counting conventions, missing years, ops files."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import nats
import pytest

import kit.calendar as calendar_module
from kit.calendar import (
    SHANGHAI,
    CalendarDataError,
    CalendarError,
    CalendarYear,
    CalendarYearMissing,
    WorkingDayCalendar,
    WorkingHours,
    approved_years,
    default_calendar,
    install_approved_year,
    load_year_file,
    parse_year_data,
    provisional_year,
    put_approved_year,
    refresh_approved_year,
    statutory_holidays,
    watch_approved_years,
)


@pytest.fixture(scope="module")
def cal() -> WorkingDayCalendar:
    return WorkingDayCalendar()


@pytest.fixture(scope="module")
def strict() -> WorkingDayCalendar:
    """The library's years and nothing provisional: what a question past the data does."""
    return WorkingDayCalendar(provisional=False)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# Test-only data for a year the library does not cover. It is NOT the real 2027 arrangement: it
# only has the shape of one (New Year, a Spring Festival week with two make-up Saturdays/Sundays).
SYNTHETIC_2027: dict[str, Any] = {
    "year": 2027,
    "holidays": ["2027-01-01", *[d.isoformat() for d in days(date(2027, 2, 6), date(2027, 2, 12))]],
    "workdays": ["2027-01-31", "2027-02-20"],
    "source": "synthetic test data (not the real 2027 notice)",
    "approved_by": "test-ops",
    "approved_at": "2026-11-12T10:00:00+08:00",
}


def write_year(directory: Path, data: dict[str, Any], name: str | None = None) -> Path:
    path = directory / (name or f"{data['year']}.json")
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Real facts (from the State Council notices for 2024 and 2025)
# ---------------------------------------------------------------------------------------------


def test_national_day_2024(cal: WorkingDayCalendar) -> None:
    for d in days(date(2024, 10, 1), date(2024, 10, 7)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2024, 9, 29))  # Sunday, make-up working day
    assert date(2024, 9, 29).weekday() == 6
    assert cal.is_working_day(date(2024, 10, 12))  # Saturday, make-up working day
    assert date(2024, 10, 12).weekday() == 5
    assert cal.is_working_day(date(2024, 9, 30))
    assert cal.is_working_day(date(2024, 10, 8))
    assert not cal.is_working_day(date(2024, 10, 13))  # an ordinary Sunday


def test_spring_festival_2025(cal: WorkingDayCalendar) -> None:
    for d in days(date(2025, 1, 28), date(2025, 2, 4)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2025, 1, 26))  # Sunday
    assert cal.is_working_day(date(2025, 2, 8))  # Saturday
    assert cal.is_working_day(date(2025, 1, 27))
    assert cal.is_working_day(date(2025, 2, 5))


def test_ordinary_week(cal: WorkingDayCalendar) -> None:
    week = days(date(2024, 11, 11), date(2024, 11, 17))
    assert [cal.is_working_day(d) for d in week] == [True] * 5 + [False] * 2


def test_agrees_with_chinese_calendar_on_every_day(cal: WorkingDayCalendar) -> None:
    first, last = cal.known_years()[0], cal.last_known_year()
    for d in days(date(first, 1, 1), date(last, 12, 31)):
        assert cal.is_working_day(d) == chinese_calendar.is_workday(d), d


def test_known_years(cal: WorkingDayCalendar) -> None:
    years = cal.known_years()
    assert years == sorted(years)
    assert years == list(range(years[0], years[-1] + 1))
    assert {2023, 2024, 2025, 2026} <= set(years)
    assert cal.last_known_year() == years[-1]
    assert cal.year_data(2024).source.startswith("chinese_calendar")


# ---------------------------------------------------------------------------------------------
# Counting conventions
# ---------------------------------------------------------------------------------------------


def test_add_working_days_across_national_day(cal: WorkingDayCalendar) -> None:
    assert cal.add_working_days(date(2024, 9, 27), 1) == date(2024, 9, 29)  # Fri → make-up Sunday
    assert cal.add_working_days(date(2024, 9, 27), 2) == date(2024, 9, 30)
    assert cal.add_working_days(date(2024, 9, 27), 3) == date(2024, 10, 8)
    assert cal.add_working_days(date(2024, 9, 30), 1) == date(2024, 10, 8)
    assert cal.add_working_days(date(2024, 9, 30), 5) == date(2024, 10, 12)  # make-up Saturday
    assert cal.add_working_days(date(2024, 9, 30), 6) == date(2024, 10, 14)
    # An application received during the holiday: day 1 is the first working day after it.
    assert cal.add_working_days(date(2024, 10, 3), 1) == date(2024, 10, 8)
    # A 20-working-day statutory limit started on 2024-09-25 (Wednesday):
    # 9/26 9/27 9/29 9/30 (4), 10/8-10/12 (9), 10/14-10/18 (14), 10/21-10/25 (19), 10/28 (20).
    assert cal.add_working_days(date(2024, 9, 25), 20) == date(2024, 10, 28)


def test_add_zero_working_days(cal: WorkingDayCalendar) -> None:
    assert cal.add_working_days(date(2024, 9, 30), 0) == date(2024, 9, 30)  # a working day: itself
    assert cal.add_working_days(date(2024, 10, 1), 0) == date(2024, 10, 8)  # a holiday: the next working day
    assert cal.add_working_days(date(2024, 10, 12), 0) == date(2024, 10, 12)  # a make-up Saturday
    assert cal.add_working_days(date(2024, 11, 16), 0) == date(2024, 11, 18)  # an ordinary Saturday


def test_add_negative_working_days(cal: WorkingDayCalendar) -> None:
    assert cal.add_working_days(date(2024, 10, 8), -1) == date(2024, 9, 30)
    assert cal.add_working_days(date(2024, 10, 8), -2) == date(2024, 9, 29)
    assert cal.add_working_days(date(2024, 10, 5), -1) == date(2024, 9, 30)  # from inside the holiday
    assert cal.add_working_days(date(2024, 10, 13), -1) == date(2024, 10, 12)
    assert cal.previous_working_day(date(2025, 2, 5)) == date(2025, 1, 27)


def test_across_the_year_boundary(cal: WorkingDayCalendar) -> None:
    # 2026: 1-3 January off, Sunday 4 January a make-up working day.
    assert cal.next_working_day(date(2025, 12, 31)) == date(2026, 1, 4)
    assert cal.add_working_days(date(2025, 12, 31), 2) == date(2026, 1, 5)
    assert cal.add_working_days(date(2026, 1, 4), -1) == date(2025, 12, 31)
    assert cal.working_days_between(date(2025, 12, 30), date(2026, 1, 5)) == 3  # 12/31, 1/4, 1/5
    assert cal.working_days_between(date(2026, 1, 5), date(2025, 12, 30)) == -3  # 12/30, 12/31, 1/4


def test_next_working_day(cal: WorkingDayCalendar) -> None:
    assert cal.next_working_day(date(2025, 1, 27)) == date(2025, 2, 5)
    assert cal.next_working_day(date(2025, 1, 25)) == date(2025, 1, 26)  # Saturday → make-up Sunday


def test_working_days_between(cal: WorkingDayCalendar) -> None:
    assert cal.working_days_between(date(2024, 9, 30), date(2024, 10, 8)) == 1
    assert cal.working_days_between(date(2024, 10, 8), date(2024, 9, 30)) == -1
    assert cal.working_days_between(date(2024, 9, 30), date(2024, 9, 30)) == 0
    assert cal.working_days_between(date(2024, 10, 1), date(2024, 10, 7)) == 0
    assert cal.working_days_between(date(2024, 9, 28), date(2024, 10, 12)) == 7  # 9/29, 9/30, 10/8-10/12
    # A whole year, counted day by day with the library's own predicate.
    expected = sum(chinese_calendar.is_workday(d) for d in days(date(2024, 1, 1), date(2024, 12, 31)))
    assert cal.working_days_between(date(2023, 12, 31), date(2024, 12, 31)) == expected


def naive_add(cal: WorkingDayCalendar, start: date, n: int) -> date:
    """Reference implementation: step one calendar day at a time."""
    if n == 0:
        d = start
        while not cal.is_working_day(d):
            d += timedelta(days=1)
        return d
    step = timedelta(days=1 if n > 0 else -1)
    d, left = start, abs(n)
    while left:
        d += step
        if cal.is_working_day(d):
            left -= 1
    return d


def test_add_and_between_are_consistent(cal: WorkingDayCalendar) -> None:
    rng = random.Random(20240929)
    starts = days(date(2023, 12, 20), date(2025, 12, 31))
    for d in starts:
        for n in (1, 2, 5, 20, -1, -3, -20, rng.randint(-120, 120) or 7):
            end = cal.add_working_days(d, n)
            assert cal.is_working_day(end)
            assert cal.working_days_between(d, end) == n, (d, n, end)
            assert end == naive_add(cal, d, n), (d, n)
        zero = cal.add_working_days(d, 0)
        assert zero == naive_add(cal, d, 0)
        if cal.is_working_day(d):
            assert zero == d and cal.working_days_between(d, zero) == 0


def test_between_is_counting(cal: WorkingDayCalendar) -> None:
    rng = random.Random(7)
    for _ in range(300):
        a = date(2024, 1, 1) + timedelta(days=rng.randint(0, 900))
        b = a + timedelta(days=rng.randint(-200, 200))
        if b >= a:
            expected = sum(cal.is_working_day(x) for x in days(a + timedelta(days=1), b))
        else:
            expected = -sum(cal.is_working_day(x) for x in days(b, a - timedelta(days=1)))
        assert cal.working_days_between(a, b) == expected, (a, b)


def test_rejects_datetimes_and_non_int_n(cal: WorkingDayCalendar) -> None:
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2024, 10, 1, 12, 0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cal.add_working_days(date(2024, 10, 1), 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cal.add_working_days(date(2024, 10, 1), True)
    with pytest.raises(TypeError):
        cal.is_working_day("2024-10-01")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Missing years
# ---------------------------------------------------------------------------------------------


def test_missing_year_raises(cal: WorkingDayCalendar, strict: WorkingDayCalendar) -> None:
    with pytest.raises(CalendarYearMissing):
        strict.is_working_day(date(strict.last_known_year() + 1, 3, 3))
    missing = cal.last_known_year() + 2  # past the provisional year too
    with pytest.raises(CalendarYearMissing) as info:
        cal.is_working_day(date(missing, 3, 3))
    err = info.value
    assert isinstance(err, CalendarError)
    assert err.year == missing
    assert f"没有 {missing} 年的工作日历数据" in err.message_zh
    assert f"no working-day calendar data for {missing}" in err.message_en
    assert f"CALENDAR_DIR/{missing}.json" in str(err)


def test_missing_year_never_assumes_weekends_only(strict: WorkingDayCalendar) -> None:
    cal = strict
    last = cal.last_known_year()
    with pytest.raises(CalendarYearMissing):
        cal.add_working_days(date(last, 12, 31), 1)
    with pytest.raises(CalendarYearMissing):
        cal.add_working_days(date(last, 12, 20), 30)  # runs past the end of the data
    with pytest.raises(CalendarYearMissing):
        cal.working_days_between(date(last, 12, 1), date(last + 1, 1, 10))
    with pytest.raises(CalendarYearMissing):
        cal.working_days_between(date(last + 1, 1, 10), date(last, 12, 1))
    with pytest.raises(CalendarYearMissing):
        cal.next_working_day(date(last + 1, 1, 1))
    first = cal.known_years()[0]
    with pytest.raises(CalendarYearMissing) as info:
        cal.add_working_days(date(first, 1, 5), -10)
    assert info.value.year == first - 1
    with pytest.raises(CalendarYearMissing):
        cal.year_data(first - 1)


def test_gap_year_between_known_years_raises(tmp_path: Path) -> None:
    data = dict(SYNTHETIC_2027, year=2028, holidays=["2028-01-03"], workdays=[])
    write_year(tmp_path, data)
    cal = WorkingDayCalendar(tmp_path, provisional=False)
    assert 2027 not in cal.known_years() and 2028 in cal.known_years()
    # With provisional years (the default) the gap is counted on a provisional 2027.
    assert WorkingDayCalendar(tmp_path).provisional_years_between(date(2026, 12, 1), date(2028, 1, 10)) == [2027]
    with pytest.raises(CalendarYearMissing) as info:
        cal.working_days_between(date(2026, 12, 1), date(2028, 1, 10))
    assert info.value.year == 2027
    with pytest.raises(CalendarYearMissing):
        cal.add_working_days(date(2026, 12, 30), 10)


# ---------------------------------------------------------------------------------------------
# Several years: 春节, 国庆, make-up working days (调休), leap years
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "working"), [
    (date(2020, 1, 24), False),  # 除夕 2020 (a leap year), the Spring Festival extended that year
    (date(2020, 2, 1), False),
    (date(2020, 1, 19), True),  # a Sunday worked (调休)
    (date(2020, 2, 29), False),  # 29 February, a Saturday
    (date(2023, 1, 28), True),  # a Saturday worked after the Spring Festival
    (date(2023, 9, 29), False),  # 中秋 2023, next to National Day
    (date(2023, 10, 7), True),
    (date(2024, 2, 4), True),  # a Sunday worked before the Spring Festival of 2024 (a leap year)
    (date(2024, 2, 10), False),
    (date(2024, 2, 18), True),
    (date(2024, 2, 29), True),  # 29 February, a Thursday
    (date(2024, 10, 12), True),
    (date(2026, 1, 4), True),
    (date(2026, 2, 14), True),
    (date(2026, 2, 23), False),  # 2026's nine-day Spring Festival (the 2025 revision's extra day)
    (date(2026, 2, 28), True),
    (date(2026, 10, 7), False),
    (date(2026, 10, 10), True),
])
def test_spring_festival_national_day_and_make_up_days_across_years(cal: WorkingDayCalendar, day: date,
                                                                     working: bool) -> None:
    assert cal.is_working_day(day) is working
    assert not cal.is_provisional(day.year)


def test_leap_years_count_their_29_february(cal: WorkingDayCalendar) -> None:
    # 2024-02-28 (Wed) → 2024-03-01 (Fri): Thursday the 29th is a working day in between.
    assert cal.working_days_between(date(2024, 2, 28), date(2024, 3, 1)) == 2
    assert cal.add_working_days(date(2024, 2, 28), 1) == date(2024, 2, 29)


# ---------------------------------------------------------------------------------------------
# Provisional years
# ---------------------------------------------------------------------------------------------


def test_statutory_days_of_earlier_years_are_holidays_in_the_library() -> None:
    """The lunar and solar-term dates lunar-python computes are the days the State Council gave, every
    year since the 2008 regulation (春节 初一–初三, 清明, 端午, 中秋 and the fixed dates), leap years included."""
    library = WorkingDayCalendar(provisional=False)
    for year in range(2008, 2027):
        festivals = dict(statutory_holidays(year))
        if year < 2025:  # before the 2025 revision: no 除夕, and 劳动节 was one day
            festivals["春节"] = festivals["春节"][1:]
            festivals["劳动节"] = festivals["劳动节"][:1]
        for name, festival_days in festivals.items():
            for day in festival_days:
                assert not library.is_working_day(day), (year, name, day)


def test_provisional_years_are_within_the_real_ones_of_2025_and_2026() -> None:
    library = calendar_module.library_years()
    for year in (2025, 2026):
        provisional = provisional_year(year)
        assert provisional.holidays <= library[year].holidays, sorted(provisional.holidays - library[year].holidays)
        assert len(provisional.holidays) >= 13  # the regulation's 13 days, plus 补假


def test_provisional_2027(strict: WorkingDayCalendar) -> None:
    year = provisional_year(2027)
    assert year.provisional and year.workdays == frozenset() and "暂定" in year.source
    assert year.holidays == frozenset({
        date(2027, 1, 1),
        *days(date(2027, 2, 5), date(2027, 2, 10)),  # 除夕 Fri, 初一 Sat → 初三 Mon, 补假 Tue and Wed
        date(2027, 4, 5),  # 清明
        *days(date(2027, 5, 1), date(2027, 5, 4)),  # Sat and Sun, made up Mon and Tue
        date(2027, 6, 9),  # 端午
        date(2027, 9, 15),  # 中秋
        *days(date(2027, 10, 1), date(2027, 10, 5)),  # Fri to Sun, made up Mon and Tue
    })
    cal = WorkingDayCalendar()  # the library ends with 2026
    assert cal.last_known_year() == 2026 and 2027 not in cal.known_years()
    assert cal.is_provisional(2027) and not cal.is_provisional(2026)
    # 20 working days from Sunday 2026-12-06: 1 January 2027 skipped.
    assert cal.add_working_days(date(2026, 12, 6), 20) == date(2027, 1, 4)
    assert cal.provisional_years_between(date(2026, 12, 6), date(2027, 1, 4)) == [2027]
    assert cal.provisional_years_between(date(2026, 12, 6), date(2026, 12, 31)) == []
    assert not cal.is_working_day(date(2027, 2, 10)) and cal.is_working_day(date(2027, 2, 11))
    assert not cal.is_working_day(date(2027, 2, 20))  # a Saturday: no 调休 guessed
    with pytest.raises(CalendarYearMissing):
        strict.add_working_days(date(2026, 12, 6), 20)


def test_provisional_leap_year_2028() -> None:
    year = provisional_year(2028)
    assert date(2028, 1, 3) in year.holidays  # 元旦 on a Saturday, made up on Monday
    assert {date(2028, 1, 25), date(2028, 1, 26), date(2028, 1, 27), date(2028, 1, 28)} <= year.holidays
    cal = WorkingDayCalendar(years=[parse_year_data(dict(SYNTHETIC_2027), "test")])
    assert cal.is_provisional(2028) and not cal.is_provisional(2027)
    assert cal.is_working_day(date(2028, 2, 29))
    assert cal.working_days_between(date(2028, 2, 28), date(2028, 3, 1)) == 2


def test_provisional_range_is_bounded(cal: WorkingDayCalendar) -> None:
    last = cal.last_known_year()
    with pytest.raises(CalendarYearMissing) as info:
        cal.add_working_days(date(last + 1, 12, 20), 30)  # provisional next year, then nothing
    assert info.value.year == last + 2
    with pytest.raises(CalendarYearMissing):
        provisional_year(2024)  # the earlier regulation's years come from notices only
    tiny = WorkingDayCalendar(include_library=False, years=[parse_year_data(dict(SYNTHETIC_2027), "test")])
    assert tiny.is_provisional(2026) and tiny.is_provisional(2028)
    with pytest.raises(CalendarYearMissing):
        tiny.is_working_day(date(2024, 6, 3))


def test_a_provisional_year_is_never_approved_data() -> None:
    with pytest.raises(CalendarDataError):
        WorkingDayCalendar(years=[provisional_year(2027)])
    with pytest.raises(CalendarDataError):
        install_approved_year(provisional_year(2027))


# ---------------------------------------------------------------------------------------------
# Ops files
# ---------------------------------------------------------------------------------------------


def test_override_file_adds_a_year(tmp_path: Path) -> None:
    write_year(tmp_path, SYNTHETIC_2027)
    cal = WorkingDayCalendar(tmp_path)
    assert cal.last_known_year() == 2027
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2027, 1, 31))  # a Sunday listed as a workday
    assert not cal.is_working_day(date(2027, 2, 8))  # a Monday listed as a holiday
    assert cal.next_working_day(date(2026, 12, 31)) == date(2027, 1, 4)
    info = cal.year_data(2027)
    assert info.approved_by == "test-ops"
    assert info.origin.endswith("2027.json")
    # Earlier years still come from the library.
    assert not cal.is_working_day(date(2024, 10, 1))


def test_override_file_replaces_a_library_year(tmp_path: Path) -> None:
    data = dict(SYNTHETIC_2027, year=2024, holidays=["2024-01-01"], workdays=["2024-01-06"])
    write_year(tmp_path, data)
    cal = WorkingDayCalendar(tmp_path)
    assert cal.is_working_day(date(2024, 10, 1))  # the library's National Day is gone
    assert not cal.is_working_day(date(2024, 9, 29))  # and its make-up Sunday too
    assert cal.is_working_day(date(2024, 1, 6))
    assert not cal.is_working_day(date(2025, 1, 28))  # other years untouched


def test_without_library(tmp_path: Path) -> None:
    write_year(tmp_path, SYNTHETIC_2027)
    cal = WorkingDayCalendar(tmp_path, include_library=False, provisional=False)
    assert cal.known_years() == [2027]
    with pytest.raises(CalendarYearMissing):
        cal.is_working_day(date(2026, 6, 1))


def test_years_argument() -> None:
    year = CalendarYear(2030, frozenset({date(2030, 1, 1)}), frozenset(), source="test")
    cal = WorkingDayCalendar(include_library=False, years=[year])
    assert cal.known_years() == [2030]
    assert not cal.is_working_day(date(2030, 1, 1))


def test_empty_calendar_rejected(tmp_path: Path) -> None:
    with pytest.raises(CalendarDataError):
        WorkingDayCalendar(tmp_path, include_library=False)


def test_missing_directory_rejected(tmp_path: Path) -> None:
    with pytest.raises(CalendarDataError) as info:
        WorkingDayCalendar(tmp_path / "nope")
    assert "nope" in str(info.value)


def test_non_json_files_ignored(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("calendar files", encoding="utf-8")
    write_year(tmp_path, SYNTHETIC_2027)
    assert 2027 in WorkingDayCalendar(tmp_path).known_years()


def _with(**changes: Any) -> dict[str, Any]:
    data = dict(SYNTHETIC_2027)
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key)
        else:
            data[key] = value
    return data


_DROP = object()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (_with(holidays=["2027-01-01", "2026-12-31"]), "2026-12-31 is not in 2027"),
        (_with(workdays=["2028-01-02"]), "2028-01-02 is not in 2027"),
        (_with(workdays=["2027-01-31", "2027-01-01"]), "both as holidays and as workdays: 2027-01-01"),
        (_with(workdays=["2027-02-01"]), "Saturdays or Sundays (make-up working days): 2027-02-01"),
        (_with(holidays=[]), "holidays list is empty"),
        (_with(holidays=["2027-02-30"]), "2027-02-30"),
        (_with(holidays=["2027/01/01"]), "'2027/01/01'"),
        (_with(holidays=["20270101"]), "'20270101'"),
        (_with(holidays=["2027-01-01", "2027-01-01"]), "appears twice"),
        (_with(holidays="2027-01-01"), '"holidays" must be a list'),
        (_with(holidays=[20270101]), "20270101"),
        (_with(year=2026), '"year" is 2026 but the file name says 2027'),
        (_with(year="2027"), '"year" must be an integer'),
        (_with(source=""), '"source" must be a non-empty string'),
        (_with(approved_by=_DROP), "missing keys: approved_by"),
        (_with(workdays=_DROP), "missing keys: workdays"),
        (_with(approved_at="last tuesday"), '"approved_at" must be an ISO 8601'),
        (_with(holiday=["2027-01-01"]), "unknown keys: holiday"),
    ],
)
def test_invalid_file_rejected(tmp_path: Path, data: dict[str, Any], problem: str) -> None:
    path = write_year(tmp_path, data, name="2027.json")
    with pytest.raises(CalendarDataError) as info:
        WorkingDayCalendar(tmp_path)
    err = info.value
    assert err.origin == str(path)
    assert str(path) in err.message_en and str(path) in err.message_zh
    assert problem in err.message_en


def test_invalid_json_rejected(tmp_path: Path) -> None:
    path = tmp_path / "2027.json"
    path.write_text('{"year": 2027, "holidays": [', encoding="utf-8")
    with pytest.raises(CalendarDataError) as info:
        load_year_file(path)
    assert "invalid JSON" in info.value.message_en and "JSON 格式错误" in info.value.message_zh


def test_top_level_must_be_object(tmp_path: Path) -> None:
    path = tmp_path / "2027.json"
    path.write_text('["2027-01-01"]', encoding="utf-8")
    with pytest.raises(CalendarDataError, match="top level must be a JSON object"):
        load_year_file(path)


def test_bad_file_name_rejected(tmp_path: Path) -> None:
    write_year(tmp_path, SYNTHETIC_2027, name="holidays-2027.json")
    with pytest.raises(CalendarDataError) as info:
        WorkingDayCalendar(tmp_path)
    assert "holidays-2027.json" in str(info.value)
    assert "<year>.json" in info.value.message_en


def test_invalid_years_argument_rejected() -> None:
    bad = CalendarYear(2030, frozenset({date(2030, 1, 1)}), frozenset({date(2030, 1, 2)}), source="test")
    with pytest.raises(CalendarDataError, match="Saturdays or Sundays"):
        WorkingDayCalendar(include_library=False, years=[bad])


# ---------------------------------------------------------------------------------------------
# The process-wide calendar
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CALENDAR_DIR", raising=False)
    default_calendar.cache_clear()
    yield monkeypatch
    default_calendar.cache_clear()


def test_default_calendar_without_env(fresh_default: pytest.MonkeyPatch) -> None:
    cal = default_calendar()
    assert default_calendar() is cal
    assert cal.known_years() == WorkingDayCalendar().known_years()


def test_default_calendar_reads_calendar_dir(fresh_default: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_year(tmp_path, SYNTHETIC_2027)
    fresh_default.setenv("CALENDAR_DIR", str(tmp_path))
    cal = default_calendar()
    assert cal.last_known_year() == 2027
    assert cal.is_working_day(date(2027, 2, 20))


def test_default_calendar_fails_loudly_on_bad_files(fresh_default: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_year(tmp_path, _with(holidays=[]))
    fresh_default.setenv("CALENDAR_DIR", str(tmp_path))
    with pytest.raises(CalendarDataError):
        default_calendar()


# ---------------------------------------------------------------------------------------------
# Working hours
# ---------------------------------------------------------------------------------------------

HOURS = WorkingHours()  # 09:00–12:00, 13:00–17:00


def sh(y: int, m: int, d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=SHANGHAI)


def test_working_hours_shape() -> None:
    assert HOURS.day_seconds == 7 * 3600
    assert HOURS.offset(time(8)) == 0 and HOURS.offset(time(12, 30)) == 3 * 3600 and HOURS.offset(time(18)) == 7 * 3600
    assert HOURS.time_at(3 * 3600) == time(12) and HOURS.time_at(3 * 3600 + 60) == time(13, 1)
    for bad in (((time(9), time(9)),), ((time(13), time(17)), (time(9), time(12))), ()):
        with pytest.raises(ValueError):
            WorkingHours(bad)


def test_working_seconds_follow_the_calendar(cal: WorkingDayCalendar) -> None:
    # National Day 2024: Sunday 29 September and Saturday 12 October are working days, 1–7 October are not.
    assert cal.working_seconds_between(sh(2024, 9, 27, 16), sh(2024, 9, 30, 10), HOURS) == (1 + 7 + 1) * 3600
    assert cal.working_seconds_between(sh(2024, 9, 30, 16), sh(2024, 10, 8, 10), HOURS) == 2 * 3600
    assert cal.working_seconds_between(sh(2024, 10, 11, 17), sh(2024, 10, 14, 9), HOURS) == 7 * 3600  # Saturday 12th
    assert cal.working_seconds_between(sh(2024, 10, 14, 9), sh(2024, 10, 11, 17), HOURS) == -7 * 3600
    # The same instant in another zone counts the same.
    assert cal.working_seconds_between(sh(2024, 10, 8, 9), datetime(2024, 10, 8, 2, 0, tzinfo=UTC), HOURS) == 3600


def test_add_working_time_is_the_inverse_of_counting(cal: WorkingDayCalendar) -> None:
    rng = random.Random(11)
    for _ in range(400):
        start = sh(2024, 1, 1) + timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))
        amount = rng.choice([60, 1800, 3 * 3600, 7 * 3600, 20 * 3600, rng.randint(1, 40 * 7 * 3600)])
        end = cal.add_working_time(start, amount, HOURS)
        assert end > start
        assert cal.working_seconds_between(start, end, HOURS) == pytest.approx(amount), (start, amount, end)
        local = end.astimezone(SHANGHAI)
        assert cal.is_working_day(local.date()) and time(9) < local.time() <= time(17), (start, amount, end)


def test_working_time_needs_aware_datetimes_and_known_years(cal: WorkingDayCalendar, strict: WorkingDayCalendar) -> None:
    with pytest.raises(TypeError):
        cal.working_seconds_between(datetime(2024, 10, 8, 9), sh(2024, 10, 9), HOURS)
    with pytest.raises(ValueError):
        cal.add_working_time(sh(2024, 10, 8, 9), -1, HOURS)
    last = strict.last_known_year()
    with pytest.raises(CalendarYearMissing):
        strict.add_working_time(sh(last, 12, 31, 16), 2 * 3600, HOURS)
    with pytest.raises(CalendarYearMissing):
        strict.working_seconds_between(sh(last, 12, 31, 16), sh(last + 1, 1, 4, 10), HOURS)


# ---------------------------------------------------------------------------------------------
# Coverage and the alarm
# ---------------------------------------------------------------------------------------------


def test_coverage_alarms_well_before_the_data_ends(cal: WorkingDayCalendar, tmp_path: Path) -> None:
    last = cal.last_known_year()
    summer = cal.coverage(date(last, 6, 30))
    assert (summer.last_year, summer.missing_year, summer.alarm) == (last, last + 1, False)
    autumn = cal.coverage(date(last, 10, 1))
    assert autumn.alarm and autumn.days_left == 91
    assert cal.coverage(date(last + 1, 1, 2)).alarm and cal.coverage(date(last + 1, 1, 2)).last_year is None
    write_year(tmp_path, SYNTHETIC_2027)
    extended = WorkingDayCalendar(tmp_path)
    assert extended.coverage(date(2026, 11, 27)).alarm is False  # 2027 is approved: a year ahead
    assert extended.coverage(date(2026, 11, 27)).missing_year == 2028


def test_alarm_gauges(fresh_default: pytest.MonkeyPatch) -> None:
    from prometheus_client import REGISTRY

    left = REGISTRY.get_sample_value("lvrong_calendar_data_days_left")
    expected = default_calendar().coverage(datetime.now(SHANGHAI).date())
    assert left == expected.days_left
    assert REGISTRY.get_sample_value("lvrong_calendar_next_year_missing") == (1.0 if expected.alarm else 0.0)


# ---------------------------------------------------------------------------------------------
# Years approved through the KV bucket
# ---------------------------------------------------------------------------------------------


def test_installed_year_reaches_the_default_calendar(fresh_default: pytest.MonkeyPatch) -> None:
    data = load_year_file_from(SYNTHETIC_2027)
    fresh_default.setattr(calendar_module, "_approved", {})
    install_approved_year(data)
    assert approved_years() == {2027: data}
    assert default_calendar().year_data(2027).source == SYNTHETIC_2027["source"]
    bad = CalendarYear(2031, frozenset(), frozenset(), source="empty")
    with pytest.raises(CalendarDataError):
        install_approved_year(bad)
    assert 2031 not in default_calendar().known_years()


def load_year_file_from(document: dict[str, Any]) -> CalendarYear:
    return parse_year_data(dict(document), "test")


async def test_watcher_installs_approved_years_without_a_restart(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = f"LVRONG_CALENDAR_TEST_{random.randrange(10**6)}"
    monkeypatch.setattr(calendar_module, "_approved", {})
    monkeypatch.delenv("CALENDAR_DIR", raising=False)
    default_calendar.cache_clear()
    watcher = asyncio.create_task(watch_approved_years(servers.nats_admin, bucket=bucket, retry_seconds=0.2))
    nc = await nats.connect(**servers.nats_admin.connect_options())
    try:
        js = nc.jetstream()
        year = load_year_file_from(dict(SYNTHETIC_2027, year=2041, holidays=["2041-01-01"], workdays=[]))
        revision = await put_approved_year(js, year, bucket=bucket)
        assert revision >= 1
        kv = await js.key_value(bucket)
        await kv.put("2042", b'{"year": 2042, "holidays": []}')  # invalid: logged and ignored
        # A valid year after it: the watcher takes the bucket's entries in order, so once 2043 is in,
        # 2042 has been handled (and refused) — the evidence, instead of waiting a while.
        await put_approved_year(js, load_year_file_from(dict(SYNTHETIC_2027, year=2043, holidays=["2043-01-01"],
                                                             workdays=[])), bucket=bucket)
        deadline = asyncio.get_running_loop().time() + 10
        while not {2041, 2043} <= set(default_calendar().known_years()):
            assert asyncio.get_running_loop().time() < deadline, "the approved years never arrived"
            await asyncio.sleep(0.05)
        assert not default_calendar().is_working_day(date(2041, 1, 1))
        assert default_calendar().year_data(2041).origin.startswith(f"{bucket}/2041@")
        assert 2042 not in default_calendar().known_years()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_key_value(bucket)
        await nc.close()
        default_calendar.cache_clear()


def test_the_local_date_is_shanghais_whatever_the_servers_zone() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from kit.calendar import local_date

    assert local_date(datetime(2026, 11, 27, 15, 59, tzinfo=UTC)) == date(2026, 11, 27)
    assert local_date(datetime(2026, 11, 27, 16, 0, tzinfo=UTC)) == date(2026, 11, 28)  # midnight in Shanghai
    assert local_date(datetime(2026, 11, 27, 23, 30, tzinfo=timezone(timedelta(hours=-8)))) == date(2026, 11, 28)
    assert abs((local_date() - datetime.now(UTC).date()).days) <= 1


def test_provisional_years_gauge_under_a_frozen_clock(fresh_default: pytest.MonkeyPatch) -> None:
    import time_machine
    from prometheus_client import REGISTRY

    fresh_default.setattr(calendar_module, "_approved", {})
    with time_machine.travel(datetime(2026, 12, 6, 10, tzinfo=SHANGHAI), tick=False):
        assert REGISTRY.get_sample_value("lvrong_calendar_provisional_years") == 1.0  # 2027
        assert REGISTRY.get_sample_value("lvrong_calendar_next_year_missing") == 1.0  # the alarm stays
        install_approved_year(load_year_file_from(SYNTHETIC_2027))
        assert REGISTRY.get_sample_value("lvrong_calendar_provisional_years") == 0.0
    with time_machine.travel(datetime(2027, 6, 1, 10, tzinfo=SHANGHAI), tick=False):
        assert REGISTRY.get_sample_value("lvrong_calendar_provisional_years") == 1.0  # 2028


async def test_refresh_reads_an_approval_before_the_watcher(servers, fresh_default: pytest.MonkeyPatch) -> None:
    bucket = f"LVRONG_CALENDAR_TEST_{random.randrange(10**6)}"
    fresh_default.setattr(calendar_module, "_approved", {})
    nc = await nats.connect(**servers.nats_admin.connect_options())
    try:
        assert await refresh_approved_year(servers.nats_admin, 2027, bucket=bucket) is None  # no bucket yet
        assert default_calendar().is_provisional(2027)
        first = await put_approved_year(nc.jetstream(), load_year_file_from(SYNTHETIC_2027), bucket=bucket)
        assert await refresh_approved_year(servers.nats_admin, 2028, bucket=bucket) is None  # no such key
        corrected = dict(SYNTHETIC_2027, workdays=["2027-01-31"])
        second = await put_approved_year(nc.jetstream(), load_year_file_from(corrected), bucket=bucket)
        installed = await refresh_approved_year(servers.nats_admin, 2027, bucket=bucket)
        assert installed is not None and installed.revision == second > first
        assert not default_calendar().is_provisional(2027)
        assert not default_calendar().is_working_day(date(2027, 2, 20))  # the correction is what counts
        # A watcher delivering the older approval afterwards does not undo the newer one.
        install_approved_year(dataclasses.replace(load_year_file_from(SYNTHETIC_2027), revision=first))
        assert approved_years()[2027].revision == second
    finally:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_key_value(bucket)
        await nc.close()
