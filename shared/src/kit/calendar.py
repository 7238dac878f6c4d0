"""The working-day calendar (工作日历) of mainland China, for statutory time limits and SLA clocks.

Every year the State Council General Office publishes the public-holiday arrangement for the next
year (国务院办公厅关于<year>年部分节假日安排的通知): the public holidays (法定节假日, days off, some of
them on weekends) and the make-up working days (调休上班, weekend days on which people work). A day
is a working day when it is a make-up working day, or when it is Monday to Friday and not a
public holiday.

Where the data comes from, per year:

1. the maintained ``chinese_calendar`` library (its ``holidays`` and ``workdays`` tables, grouped by
   the calendar year of each date);
2. ops files ``<year>.json`` in a directory (``CALENDAR_DIR`` for ``default_calendar()``, or the
   ``calendar_dir`` argument), which add a year or **fully replace** the library's data for it, so
   a new notice can be applied without a release::

       {"year": 2027,
        "holidays": ["2027-01-01", ...],
        "workdays": ["2027-02-07", ...],
        "source": "国务院办公厅关于2027年部分节假日安排的通知",
        "approved_by": "ops-username",
        "approved_at": "2026-11-12T10:00:00+08:00"}

   Files are validated strictly (``CalendarDataError`` names the file and the problem).

A question about a year with no data raises ``CalendarYearMissing``; the calendar never falls back
to "weekends only".

Counting conventions (the same as for Chinese administrative time limits: the day the period starts
is not counted, 期间开始之日不计算在内):

- ``add_working_days(start, n)`` with ``n > 0`` is the n-th working day strictly after ``start``,
  whether or not ``start`` itself is a working day; with ``n < 0`` the |n|-th working day strictly
  before ``start``; with ``n == 0`` ``start`` itself if it is a working day, else the next working
  day (so an application received on a holiday is handled from the next working day).
- ``working_days_between(start, end)`` counts working days in ``(start, end]`` when
  ``end >= start``, and is minus the number of working days in ``[end, start)`` when
  ``end < start``: the start is excluded and the end included in both directions. Hence
  ``working_days_between(d, add_working_days(d, n)) == n`` for every ``n != 0`` and every ``d``
  (and for ``n == 0`` when ``d`` is a working day).
"""
from __future__ import annotations

import bisect
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "CALENDAR_DIR_ENV",
    "CalendarDataError",
    "CalendarError",
    "CalendarYear",
    "CalendarYearMissing",
    "WorkingDayCalendar",
    "default_calendar",
    "library_years",
    "load_year_file",
]

CALENDAR_DIR_ENV = "CALENDAR_DIR"

_FILE_KEYS_REQUIRED = ("year", "holidays", "workdays", "source", "approved_by", "approved_at")
_FILE_KEYS_OPTIONAL = ("notes",)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEAR_FILE = re.compile(r"^(\d{4})\.json$")


class CalendarError(Exception):
    """Base class of the calendar's errors; ``message_zh`` and ``message_en`` are always set."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(f"{message_zh} / {message_en}")
        self.message_zh = message_zh
        self.message_en = message_en


class CalendarYearMissing(CalendarError):
    """The calendar has no holiday data for ``year``; ops must add ``CALENDAR_DIR/<year>.json``."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"没有 {year} 年的工作日历数据，请运维人员补充（CALENDAR_DIR/{year}.json）",
            f"no working-day calendar data for {year}; ops must add it (CALENDAR_DIR/{year}.json)",
        )


class CalendarDataError(CalendarError):
    """Calendar data (an ops file, or the library's tables) is malformed; ``origin`` says which."""

    def __init__(self, origin: str, problem_zh: str, problem_en: str) -> None:
        self.origin = origin
        super().__init__(f"工作日历数据有误（{origin}）：{problem_zh}", f"invalid calendar data in {origin}: {problem_en}")


@dataclass(frozen=True)
class CalendarYear:
    """One year's holiday arrangement."""

    year: int
    #: Public-holiday days off (法定节假日), including the weekend days inside a holiday period.
    holidays: frozenset[date]
    #: Make-up working days (调休上班): Saturdays and Sundays that are working days.
    workdays: frozenset[date]
    #: Where the data comes from: the notice's title for ops files, the library and version otherwise.
    source: str
    approved_by: str | None = None
    approved_at: str | None = None
    #: The file path, or ``chinese_calendar <version>``.
    origin: str = ""

    def validate(self) -> None:
        """Raise ``CalendarDataError`` unless the data is consistent."""
        origin = self.origin or f"year {self.year}"
        if not self.holidays:
            raise CalendarDataError(origin, "节假日列表为空", "the holidays list is empty")
        for label_zh, label_en, days in (("节假日", "holiday", self.holidays), ("调休上班日", "workday", self.workdays)):
            for d in sorted(days):
                if d.year != self.year:
                    raise CalendarDataError(
                        origin,
                        f"{label_zh} {d.isoformat()} 不在 {self.year} 年内",
                        f"{label_en} {d.isoformat()} is not in {self.year}",
                    )
        both = sorted(self.holidays & self.workdays)
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise CalendarDataError(
                origin, f"日期同时列为节假日和调休上班日：{listed}", f"dates listed both as holidays and as workdays: {listed}"
            )
        weekdays = sorted(d for d in self.workdays if d.weekday() < 5)
        if weekdays:
            listed = ", ".join(d.isoformat() for d in weekdays)
            raise CalendarDataError(
                origin,
                f"调休上班日必须是周六或周日：{listed}",
                f"workdays must be Saturdays or Sundays (make-up working days): {listed}",
            )


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def library_years() -> dict[int, CalendarYear]:
    """Every year of the ``chinese_calendar`` library, grouped by the calendar year of each date."""
    import chinese_calendar

    origin = f"chinese_calendar {getattr(chinese_calendar, '__version__', '?')}"
    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for d in chinese_calendar.holidays:
        holidays.setdefault(d.year, set()).add(d)
    for d in chinese_calendar.workdays:
        workdays.setdefault(d.year, set()).add(d)
    years: dict[int, CalendarYear] = {}
    for year in sorted(holidays):
        data = CalendarYear(
            year=year,
            holidays=frozenset(holidays[year]),
            workdays=frozenset(workdays.get(year, ())),
            source=origin,
            origin=origin,
        )
        data.validate()
        years[year] = data
    # A make-up working day in a year without holidays would be data the library cannot vouch for.
    stray = sorted(set(workdays) - set(holidays))
    if stray:
        raise CalendarDataError(origin, f"{stray} 年只有调休上班日", f"years {stray} have workdays but no holidays")
    return years


def _parse_dates(origin: str, key: str, value: Any) -> frozenset[date]:
    if not isinstance(value, list):
        raise CalendarDataError(origin, f"“{key}”必须是日期字符串列表", f'"{key}" must be a list of date strings')
    seen: set[date] = set()
    for item in value:
        if not isinstance(item, str) or not _ISO_DATE.match(item):
            raise CalendarDataError(
                origin, f"“{key}”中的 {item!r} 不是 YYYY-MM-DD 格式的日期", f'{item!r} in "{key}" is not a YYYY-MM-DD date'
            )
        try:
            d = date.fromisoformat(item)
        except ValueError:
            raise CalendarDataError(origin, f"“{key}”中的 {item} 不是真实日期", f'{item} in "{key}" is not a real date') from None
        if d in seen:
            raise CalendarDataError(origin, f"“{key}”中的 {item} 重复", f'{item} appears twice in "{key}"')
        seen.add(d)
    return frozenset(seen)


def load_year_file(path: str | os.PathLike[str]) -> CalendarYear:
    """Read and strictly validate one ``<year>.json`` ops file."""
    path = Path(path)
    origin = str(path)
    match = _YEAR_FILE.match(path.name)
    if match is None:
        raise CalendarDataError(origin, "文件名必须是 <年份>.json，如 2027.json", "the file name must be <year>.json, e.g. 2027.json")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CalendarDataError(origin, f"不是 UTF-8 文本（{exc}）", f"not UTF-8 text ({exc})") from None
    except json.JSONDecodeError as exc:
        raise CalendarDataError(origin, f"JSON 格式错误（{exc}）", f"invalid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise CalendarDataError(origin, "顶层必须是 JSON 对象", "the top level must be a JSON object")
    missing = [k for k in _FILE_KEYS_REQUIRED if k not in raw]
    if missing:
        raise CalendarDataError(origin, f"缺少字段：{', '.join(missing)}", f"missing keys: {', '.join(missing)}")
    unknown = sorted(set(raw) - set(_FILE_KEYS_REQUIRED) - set(_FILE_KEYS_OPTIONAL))
    if unknown:
        raise CalendarDataError(origin, f"未知字段：{', '.join(unknown)}", f"unknown keys: {', '.join(unknown)}")
    year = raw["year"]
    if not isinstance(year, int) or isinstance(year, bool):
        raise CalendarDataError(origin, "“year”必须是整数", '"year" must be an integer')
    if year != int(match.group(1)):
        raise CalendarDataError(
            origin, f"“year”为 {year}，与文件名不一致", f'"year" is {year} but the file name says {match.group(1)}'
        )
    for key in ("source", "approved_by", "approved_at"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise CalendarDataError(origin, f"“{key}”必须是非空字符串", f'"{key}" must be a non-empty string')
    try:
        datetime.fromisoformat(raw["approved_at"])
    except ValueError:
        raise CalendarDataError(
            origin, "“approved_at”必须是 ISO 8601 日期或时间", '"approved_at" must be an ISO 8601 date or date-time'
        ) from None
    if "notes" in raw and not isinstance(raw["notes"], str):
        raise CalendarDataError(origin, "“notes”必须是字符串", '"notes" must be a string')
    data = CalendarYear(
        year=year,
        holidays=_parse_dates(origin, "holidays", raw["holidays"]),
        workdays=_parse_dates(origin, "workdays", raw["workdays"]),
        source=raw["source"].strip(),
        approved_by=raw["approved_by"].strip(),
        approved_at=raw["approved_at"],
        origin=origin,
    )
    data.validate()
    return data


def _load_dir(directory: str | os.PathLike[str]) -> dict[int, CalendarYear]:
    directory = Path(directory)
    if not directory.is_dir():
        raise CalendarDataError(str(directory), "目录不存在", "the directory does not exist")
    years: dict[int, CalendarYear] = {}
    for path in sorted(directory.iterdir()):
        # Only *.json files are calendar data; a README or a backup beside them is left alone, but a
        # JSON file with any other name is a mistake worth reporting.
        if path.suffix.lower() == ".json":
            data = load_year_file(path)
            years[data.year] = data
    return years


# ---------------------------------------------------------------------------------------------
# The calendar
# ---------------------------------------------------------------------------------------------


class WorkingDayCalendar:
    """Working days of mainland China for the years it has data for.

    ``WorkingDayCalendar()`` uses the ``chinese_calendar`` library's years; ``calendar_dir`` adds
    ops files that add or replace whole years; ``years`` (highest precedence) gives years directly,
    e.g. in tests. ``include_library=False`` leaves the library out. The constructor does not read
    the environment; ``default_calendar()`` does.
    """

    def __init__(
        self,
        calendar_dir: str | os.PathLike[str] | None = None,
        *,
        include_library: bool = True,
        years: Iterable[CalendarYear] | Mapping[int, CalendarYear] = (),
    ) -> None:
        data: dict[int, CalendarYear] = library_years() if include_library else {}
        if calendar_dir is not None:
            data.update(_load_dir(calendar_dir))
        extra = years.values() if isinstance(years, Mapping) else years
        for item in extra:
            item.validate()
            data[item.year] = item
        if not data:
            raise CalendarDataError(
                str(calendar_dir) if calendar_dir is not None else "WorkingDayCalendar",
                "没有任何年份的工作日历数据",
                "no working-day calendar data for any year",
            )
        self._years: dict[int, CalendarYear] = dict(sorted(data.items()))
        # Per year, the sorted ordinals of its working days: counting and stepping are bisections.
        self._working: dict[int, list[int]] = {y: self._working_ordinals(d) for y, d in self._years.items()}

    @staticmethod
    def _working_ordinals(data: CalendarYear) -> list[int]:
        day, end = date(data.year, 1, 1), date(data.year, 12, 31)
        out: list[int] = []
        while day <= end:
            if day in data.workdays or (day.weekday() < 5 and day not in data.holidays):
                out.append(day.toordinal())
            day += timedelta(days=1)
        return out

    def _year(self, year: int) -> list[int]:
        try:
            return self._working[year]
        except KeyError:
            raise CalendarYearMissing(year) from None

    @staticmethod
    def _check(d: date) -> date:
        if isinstance(d, datetime) or not isinstance(d, date):
            raise TypeError(
                "expected a datetime.date (convert a datetime to its date in Asia/Shanghai first), "
                f"got {type(d).__name__}"
            )
        return d

    # -- data ---------------------------------------------------------------------------------

    def known_years(self) -> list[int]:
        """The years the calendar has data for, ascending."""
        return list(self._years)

    def last_known_year(self) -> int:
        """The latest year with data; time limits running past its end cannot be computed."""
        return next(reversed(self._years))

    def year_data(self, year: int) -> CalendarYear:
        """The holiday arrangement of ``year`` (``CalendarYearMissing`` if none)."""
        self._year(year)
        return self._years[year]

    # -- questions ----------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day."""
        d = self._check(d)
        ordinals = self._year(d.year)
        i = bisect.bisect_left(ordinals, d.toordinal())
        return i < len(ordinals) and ordinals[i] == d.toordinal()

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (``start`` not counted); see the module docstring.

        ``n == 0``: ``start`` if it is a working day, else the next working day.
        ``n < 0``: the |n|-th working day strictly before ``start``.
        """
        start = self._check(start)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n == 0:
            return start if self.is_working_day(start) else self.add_working_days(start, 1)
        year, target = start.year, start.toordinal()
        if n > 0:
            ordinals = self._year(year)
            i = bisect.bisect_right(ordinals, target)  # first working day after start
            while True:
                available = len(ordinals) - i
                if n <= available:
                    return date.fromordinal(ordinals[i + n - 1])
                n -= available
                year += 1
                ordinals, i = self._year(year), 0
        remaining = -n
        ordinals = self._year(year)
        i = bisect.bisect_left(ordinals, target)  # working days before start: ordinals[:i]
        while True:
            if remaining <= i:
                return date.fromordinal(ordinals[i - remaining])
            remaining -= i
            year -= 1
            ordinals = self._year(year)
            i = len(ordinals)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]``; if ``end < start``, minus those in ``[end, start)``."""
        start, end = self._check(start), self._check(end)
        if end < start:
            # [end, start) is (end - 1 day, start - 1 day] in ordinals.
            return -self._count(end.toordinal() - 1, start.toordinal() - 1, end.year, start.year)
        return self._count(start.toordinal(), end.toordinal(), start.year, end.year)

    def _count(self, lo: int, hi: int, first_year: int, last_year: int) -> int:
        """Working days with ordinals in ``(lo, hi]``; every year from ``first_year`` to ``last_year`` must be known."""
        years = [self._year(year) for year in range(first_year, last_year + 1)]
        return sum(bisect.bisect_right(ordinals, hi) - bisect.bisect_right(ordinals, lo) for ordinals in years)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        return self.add_working_days(d, 1)

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        return self.add_working_days(d, -1)


@functools.cache
def default_calendar() -> WorkingDayCalendar:
    """The process-wide calendar: the library's years plus ``$CALENDAR_DIR/<year>.json`` if set.

    Cached; after ops change the files, ``default_calendar.cache_clear()`` (or a restart) reloads.
    An invalid file fails loudly here rather than yielding wrong deadlines.
    """
    directory = os.environ.get(CALENDAR_DIR_ENV, "").strip()
    return WorkingDayCalendar(directory or None)
