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

3. years approved by ops through svc-helpdesk (``PUT /v1/calendar/{year}``, then approval by a second
   ops person), kept in the NATS JetStream key-value bucket ``LVRONG_CALENDAR`` (key = the year,
   value = the same JSON as a file). Every process runs ``watch_approved_years`` (``kit.app`` starts
   it), so a newly approved year is used everywhere within moments, without a release or a
   restart. A KV bucket rather than files or a database table: NATS is already every service's
   dependency and is replicated, the bucket keeps each key's history (what was approved before),
   a watcher gets the current values at start and every change after it, and no service reads
   another's database. These years take precedence over files and the library.

Provisional years (暂定日历). The office does not stop in December while next year's notice is
awaited: a year without data, from 2025 (when the revised 全国年节及纪念日放假办法, State Council
Decree No. 795, came into force) up to the year after the last year with data, is computed
**provisionally** from the regulation alone (``provisional_year``):

- the holidays it fixes by date: 元旦 1 January; 劳动节 1–2 May; 国庆节 1–3 October;
- the lunar ones, computed with ``lunar-python`` (lunar dates and solar terms from astronomical
  algorithms, not hand-written tables): 春节 the eve (除夕, the day before 正月初一) and 正月初一 to
  初三; 清明节 the day of the solar term 清明; 端午节 5/5 and 中秋节 8/15 of the lunar calendar;
- 补假 (the regulation: a holiday for everyone that falls on a Saturday or Sunday is given on a
  working day; a day two festivals share, like 中秋 on 1 October, is taken the same way): the first
  Monday-to-Friday days after that festival that are not holidays.

No make-up working day (调休上班) is guessed: those are decided in each year's notice. Deadlines on a
provisional year are marked as such wherever they are shown (``is_provisional``,
``provisional_years_between``) and are recomputed when ops approve the real year. A year outside that
range (before 2025, or two or more years past the data) still raises ``CalendarYearMissing``: a
clock that far ahead means the data has not been kept for over a year, and guessing further would
hide it. ``WorkingDayCalendar(provisional=False)`` never computes provisional years.

A question about a year with no data and no provisional computation raises ``CalendarYearMissing``;
the calendar never falls back to "weekends only". ``coverage`` says how far the approved data
reaches, and the Prometheus gauges ``lvrong_calendar_data_days_left``,
``lvrong_calendar_next_year_missing`` and ``lvrong_calendar_provisional_years`` let ops alarm well
before the year ends (the State Council publishes next year's arrangement around November).

Working hours (``WorkingHours``: office periods of a working day, Asia/Shanghai) turn the day
calendar into a clock for SLAs counted in working hours: ``working_seconds_between`` and
``add_working_time``.

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

import asyncio
import bisect
import dataclasses
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Gauge

from kit import messages
from kit.i18n import Text
from kit.natsauth import NatsClient

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

log = structlog.get_logger("kit.calendar")

__all__ = [
    "CALENDAR_BUCKET",
    "CALENDAR_DIR_ENV",
    "SHANGHAI",
    "CalendarCoverage",
    "CalendarDataError",
    "CalendarError",
    "CalendarYear",
    "CalendarYearMissing",
    "WorkingDayCalendar",
    "WorkingHours",
    "approved_years",
    "default_calendar",
    "install_approved_year",
    "library_years",
    "load_year_file",
    "provisional_year",
    "refresh_approved_year",
    "statutory_holidays",
    "unapproved_years",
    "parse_year_data",
    "put_approved_year",
    "readiness_warning",
    "watch_approved_years",
    "year_document",
    "local_date",
]

CALENDAR_DIR_ENV = "CALENDAR_DIR"
CALENDAR_BUCKET = "LVRONG_CALENDAR"
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def local_date(moment: datetime | None = None) -> date:
    """The calendar date in Shanghai of ``moment`` (now by default): the date every time limit counts
    from, whatever time zone the server runs in."""
    return (moment or datetime.now(UTC)).astimezone(SHANGHAI).date()

#: Ops are alarmed when the data ends within this many days (from 1 October for a year ending 31 December).
ALARM_DAYS_BEFORE_END = 92

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
    #: Computed from the regulation alone (``provisional_year``), not from a State Council notice.
    provisional: bool = False
    #: The KV bucket's revision of an approved year, so a consumer can tell it has the approval an event names.
    revision: int | None = None

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
    year = raw.get("year") if isinstance(raw, dict) else None
    if isinstance(year, int) and not isinstance(year, bool) and year != int(match.group(1)):
        raise CalendarDataError(
            origin, f"“year”为 {year}，与文件名不一致", f'"year" is {year} but the file name says {match.group(1)}'
        )
    return parse_year_data(raw, origin)


def parse_year_data(raw: Any, origin: str) -> CalendarYear:
    """Strictly validate one year's document (a file's content, or a value of the KV bucket)."""
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


def year_document(data: CalendarYear) -> dict[str, Any]:
    """The JSON document of a year (the file format), e.g. to store it in the KV bucket."""
    return {
        "year": data.year,
        "holidays": sorted(d.isoformat() for d in data.holidays),
        "workdays": sorted(d.isoformat() for d in data.workdays),
        "source": data.source,
        "approved_by": data.approved_by,
        "approved_at": data.approved_at,
    }


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
# Provisional years
# ---------------------------------------------------------------------------------------------

#: The revised 全国年节及纪念日放假办法 (State Council Decree No. 795) is in force from 1 January 2025.
PROVISIONAL_FIRST_YEAR = 2025
PROVISIONAL_SOURCE = "暂定：按《全国年节及纪念日放假办法》（2025 年施行）推算，未含调休 / provisional: computed " \
    "from the Regulation on National Annual Holidays (2025), without make-up working days"


def statutory_holidays(year: int) -> list[tuple[str, list[date]]]:
    """The days off for everyone that the regulation fixes, per festival, in date order."""
    from lunar_python import Lunar

    def solar(month: int, day: int) -> date:
        s = Lunar.fromYmd(year, month, day).getSolar()
        return date(s.getYear(), s.getMonth(), s.getDay())

    new_year = solar(1, 1)  # 正月初一
    # The lunar year that starts in this Gregorian year has this year's 清明 (always early April).
    qingming = Lunar.fromYmd(year, 1, 1).getJieQiTable()["清明"]
    festivals = [
        ("元旦", [date(year, 1, 1)]),
        ("春节", [new_year + timedelta(days=i) for i in range(-1, 3)]),  # 除夕 and 正月初一 to 初三
        ("清明节", [date(qingming.getYear(), qingming.getMonth(), qingming.getDay())]),
        ("劳动节", [date(year, 5, 1), date(year, 5, 2)]),
        ("端午节", [solar(5, 5)]),
        ("中秋节", [solar(8, 15)]),
        ("国庆节", [date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)]),
    ]
    return sorted(festivals, key=lambda f: f[1][0])


@functools.cache
def provisional_year(year: int) -> CalendarYear:
    """The holidays of ``year`` as far as the regulation fixes them, with 补假 and without 调休 (see the
    module docstring); ``provisional`` is set and ``workdays`` is empty."""
    if year < PROVISIONAL_FIRST_YEAR:
        raise CalendarYearMissing(year)
    holidays: set[date] = set()
    for _, days in statutory_holidays(year):
        # A day on a weekend, or already another festival's (中秋 on 1 October), is given again after.
        owed = sum(1 for d in days if d.weekday() >= 5 or d in holidays)
        holidays.update(days)
        day = max(days)
        while owed:
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in holidays:
                holidays.add(day)
                owed -= 1
    data = CalendarYear(year=year, holidays=frozenset(d for d in holidays if d.year == year), workdays=frozenset(),
                        source=PROVISIONAL_SOURCE, origin=f"provisional {year}", provisional=True)
    data.validate()
    return data


# ---------------------------------------------------------------------------------------------
# The calendar
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingHours:
    """Office periods of a working day in local time, e.g. 9:00–12:00 and 13:00–17:00 (a lunch break).

    Only these periods count as working time on a working day; nothing counts on other days.
    """

    periods: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13), time(17)))
    tz: tzinfo = SHANGHAI
    # Seconds since midnight of each period, and their sum: clocks call offset() and time_at() very often.
    _bounds: tuple[tuple[float, float], ...] = dataclasses.field(init=False, repr=False, compare=False)
    _day_seconds: float = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("working hours need at least one period")
        previous_end = time.min
        for start, end in self.periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("working-hour periods are local times without a time zone")
            if not start < end:
                raise ValueError(f"a working-hour period must end after it starts: {start}–{end}")
            if start < previous_end:
                raise ValueError("working-hour periods must be in order and not overlap")
            previous_end = end
        object.__setattr__(self, "_bounds", tuple((self._seconds(a), self._seconds(b)) for a, b in self.periods))
        object.__setattr__(self, "_day_seconds", sum(b - a for a, b in self._bounds))

    @staticmethod
    def _seconds(t: time) -> float:
        return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6

    @property
    def day_seconds(self) -> float:
        """Working seconds in one working day."""
        return self._day_seconds

    def offset(self, t: time) -> float:
        """Working seconds of a working day that have passed at local time ``t``."""
        now = self._seconds(t)
        passed = 0.0
        for start, end in self._bounds:
            if now <= start:
                break
            passed += min(now, end) - start
        return passed

    def time_at(self, offset: float) -> time:
        """The local time at which ``offset`` (0 < offset ≤ day_seconds) working seconds of the day have passed."""
        for (start, end), (start_time, _) in zip(self._bounds, self.periods, strict=True):
            length = end - start
            if offset <= length:
                return (datetime.combine(date.min, start_time) + timedelta(seconds=offset)).time()
            offset -= length
        return self.periods[-1][1]


@dataclass(frozen=True)
class CalendarCoverage:
    """How far the calendar's data reaches from ``today``; ``alarm`` when it ends soon."""

    today: date
    last_year: int | None  # the last year of unbroken data from today's year on; None if today's year is missing
    days_left: int  # days from today to the end of the data (negative: it has already ended)
    missing_year: int  # the first year without data
    alarm: bool


class WorkingDayCalendar:
    """Working days of mainland China for the years it has data for.

    ``WorkingDayCalendar()`` uses the ``chinese_calendar`` library's years; ``calendar_dir`` adds
    ops files that add or replace whole years; ``years`` (highest precedence) gives years directly,
    e.g. in tests. ``include_library=False`` leaves the library out. Years without data within the
    provisional range are computed by ``provisional_year`` unless ``provisional=False``. The
    constructor does not read the environment; ``default_calendar()`` does.
    """

    def __init__(
        self,
        calendar_dir: str | os.PathLike[str] | None = None,
        *,
        include_library: bool = True,
        years: Iterable[CalendarYear] | Mapping[int, CalendarYear] = (),
        provisional: bool = True,
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
        if any(item.provisional for item in data.values()):
            raise CalendarDataError("WorkingDayCalendar", "暂定年份不能作为已批准数据", "a provisional year cannot be given as data")
        self._years: dict[int, CalendarYear] = dict(sorted(data.items()))
        self._provisional_allowed = provisional
        # Per year, the sorted ordinals of its working days: counting and stepping are bisections.
        # Provisional years are added the first time a clock reaches them.
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
            pass
        if not self.provisional_allowed(year):
            raise CalendarYearMissing(year)
        ordinals = self._working[year] = self._working_ordinals(provisional_year(year))
        return ordinals

    def provisional_allowed(self, year: int) -> bool:
        """Whether ``year`` has no data and is computed provisionally (see the module docstring)."""
        return (self._provisional_allowed and year not in self._years
                and PROVISIONAL_FIRST_YEAR <= year <= self.last_known_year() + 1)

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
        """The holiday arrangement of ``year``, provisional or not (``CalendarYearMissing`` if none)."""
        self._year(year)
        return self._years[year] if year in self._years else provisional_year(year)

    def is_provisional(self, year: int) -> bool:
        """Whether dates of ``year`` are counted on a provisional year (``CalendarYearMissing`` if none)."""
        return self.year_data(year).provisional

    def provisional_years_between(self, start: date, end: date) -> list[int]:
        """The provisional years a period from ``start`` to ``end`` (either order) touches."""
        first, last = sorted((self._check(start).year, self._check(end).year))
        return [year for year in range(first, last + 1) if self.is_provisional(year)]

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

    # -- working hours ------------------------------------------------------------------------

    @staticmethod
    def _local(moment: datetime, hours: WorkingHours) -> datetime:
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise TypeError("expected a time-zone-aware datetime")
        return moment.astimezone(hours.tz)

    def working_seconds_between(self, start: datetime, end: datetime, hours: WorkingHours) -> float:
        """Working seconds from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        a, b = self._local(start, hours), self._local(end, hours)
        if b < a:
            return -self.working_seconds_between(end, start, hours)
        if a.date() == b.date():
            return hours.offset(b.time()) - hours.offset(a.time()) if self.is_working_day(a.date()) else 0.0
        day = hours.day_seconds
        first = day - hours.offset(a.time()) if self.is_working_day(a.date()) else 0.0
        last = hours.offset(b.time()) if self.is_working_day(b.date()) else 0.0
        # Whole working days strictly between the two dates: (a.date, b.date - 1].
        whole = self.working_days_between(a.date(), b.date() - timedelta(days=1))
        return first + whole * day + last

    def add_working_time(self, start: datetime, seconds: float, hours: WorkingHours) -> datetime:
        """The moment when ``seconds`` (≥ 0) of working time have passed after ``start``.

        The result is inside a working period, or at its end when the time runs out exactly there
        (17:00 rather than 9:00 the next working day).
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        a = self._local(start, hours)
        if seconds == 0:
            return a
        day = hours.day_seconds
        today = a.date()
        left_today = day - hours.offset(a.time()) if self.is_working_day(today) else 0.0
        if seconds <= left_today:
            return datetime.combine(today, hours.time_at(hours.offset(a.time()) + seconds), hours.tz)
        seconds -= left_today
        whole, rest = divmod(seconds, day)
        if rest == 0:
            return datetime.combine(self.add_working_days(today, int(whole)), hours.time_at(day), hours.tz)
        return datetime.combine(self.add_working_days(today, int(whole) + 1), hours.time_at(rest), hours.tz)

    # -- coverage -----------------------------------------------------------------------------

    def coverage(self, today: date, alarm_days: int = ALARM_DAYS_BEFORE_END) -> CalendarCoverage:
        """How far unbroken data reaches from ``today``'s year; ``alarm`` within ``alarm_days`` of its end."""
        year = today.year
        if year not in self._years:
            return CalendarCoverage(today, None, -1, year, True)
        while year + 1 in self._years:
            year += 1
        days_left = (date(year, 12, 31) - today).days
        return CalendarCoverage(today, year, days_left, year + 1, days_left <= alarm_days)


# Years approved by ops and received from the KV bucket, by year; they take precedence over files.
_approved: dict[int, CalendarYear] = {}


@functools.cache
def default_calendar() -> WorkingDayCalendar:
    """The process-wide calendar: the library's years, ``$CALENDAR_DIR/<year>.json`` if set, and the
    years approved through the KV bucket.

    Cached; ``install_approved_year`` (the bucket watcher) and ``default_calendar.cache_clear()``
    rebuild it. An invalid file fails loudly here rather than yielding wrong deadlines.
    """
    directory = os.environ.get(CALENDAR_DIR_ENV, "").strip()
    return WorkingDayCalendar(directory or None, years=dict(_approved))


def approved_years() -> dict[int, CalendarYear]:
    """The years this process has received from the KV bucket."""
    return dict(_approved)


def install_approved_year(data: CalendarYear) -> None:
    """Use an approved year from now on in this process (validated first; an invalid one changes nothing)."""
    data.validate()
    if data.provisional:
        raise CalendarDataError(data.origin or str(data.year), "暂定年份不能批准", "a provisional year cannot be approved")
    installed = _approved.get(data.year)
    if installed is not None and installed.revision is not None and data.revision is not None \
            and data.revision < installed.revision:
        return  # a watcher catching up after a direct read: the newer approval stays
    _approved[data.year] = data
    default_calendar.cache_clear()


def unapproved_years(today: date | None = None) -> list[int]:
    """Of this year and next year, those without approved data: clocks into them count on a provisional
    year (or, past it, fail). What the ``/readyz`` warning and the gauge report."""
    year = (today or datetime.now(SHANGHAI).date()).year
    try:
        known = set(default_calendar().known_years())
    except CalendarError:
        known = set()
    return [y for y in (year, year + 1) if y not in known]


def readiness_warning(today: date | None = None) -> Text | None:
    """A warning for ``/readyz`` while clocks count on a provisional year (the service stays ready)."""
    years = unapproved_years(today)
    if not years:
        return None
    return messages.CALENDAR_PROVISIONAL.format(years=", ".join(str(y) for y in years))


def _provisional_now() -> float:
    return float(len(unapproved_years()))


def _coverage_now() -> CalendarCoverage | None:
    try:
        return default_calendar().coverage(datetime.now(SHANGHAI).date())
    except CalendarError:
        return None


CALENDAR_DAYS_LEFT = Gauge("lvrong_calendar_data_days_left",
                           "Days until the working-day calendar's data ends (alarm well before 0)")
CALENDAR_DAYS_LEFT.set_function(lambda: float(c.days_left) if (c := _coverage_now()) else -1.0)
CALENDAR_NEXT_YEAR_MISSING = Gauge("lvrong_calendar_next_year_missing",
                                   "1 while the calendar's data ends within the alarm window (ops must approve next year)")
CALENDAR_NEXT_YEAR_MISSING.set_function(lambda: 1.0 if (c := _coverage_now()) is None or c.alarm else 0.0)
CALENDAR_PROVISIONAL_YEARS = Gauge("lvrong_calendar_provisional_years",
                                   "Of this year and next year, how many have no approved calendar: due dates into "
                                   "them are provisional until ops approve the State Council's notice")
CALENDAR_PROVISIONAL_YEARS.set_function(_provisional_now)


async def put_approved_year(js: JetStreamContext, data: CalendarYear, *, bucket: str = CALENDAR_BUCKET) -> int:
    """Publish an approved year to the KV bucket (creating it if needed); returns the KV revision."""
    data.validate()
    kv = await _bucket(js, bucket)
    return await kv.put(str(data.year), json.dumps(year_document(data), ensure_ascii=False).encode())


def _entry_year(bucket: str, entry: KeyValue.Entry) -> CalendarYear:
    origin = f"{bucket}/{entry.key}@{entry.revision}"
    # Deletion markers are skipped by the watcher and raised by KeyValue.get: an entry here holds a value.
    assert entry.value is not None and entry.revision is not None
    data = parse_year_data(json.loads(entry.value), origin)
    if str(data.year) != entry.key:
        raise CalendarDataError(origin, "年份与键不一致", "the year does not match the key")
    return dataclasses.replace(data, revision=entry.revision)


async def refresh_approved_year(server: NatsClient | str, year: int, *,
                                bucket: str = CALENDAR_BUCKET) -> CalendarYear | None:
    """Read ``year`` from the KV bucket now and install it (None if the bucket has no such year).

    For a consumer of ``lvrong.helpdesk.calendar.approved`` that may run before this process's
    watcher has seen the approval.
    """
    import nats
    from nats.js.errors import BucketNotFoundError, KeyNotFoundError

    client = server if isinstance(server, NatsClient) else NatsClient(server)
    nc = await nats.connect(**client.connect_options(), name="lvrong-calendar-read", connect_timeout=3,
                            allow_reconnect=False)
    try:
        try:
            kv = await nc.jetstream(timeout=5).key_value(bucket)
            entry = await kv.get(str(year))
        except (BucketNotFoundError, KeyNotFoundError):
            return None
        data = _entry_year(bucket, entry)
        install_approved_year(data)
        return data
    finally:
        await nc.close()


async def _bucket(js: JetStreamContext, bucket: str) -> KeyValue:
    from nats.js.errors import BucketNotFoundError

    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        # History: the earlier approvals of a year stay readable for audit.
        return await js.create_key_value(bucket=bucket, history=16, description="ops-approved working-day calendars")


async def watch_approved_years(server: str | NatsClient, *, bucket: str = CALENDAR_BUCKET,
                               retry_seconds: float = 2.0) -> None:
    """Keep this process's calendar up to date with the KV bucket until cancelled.

    Each value is validated before use: an invalid one is logged and ignored, so a bad entry
    cannot turn deadlines wrong. While NATS is away the last data received stays in use.
    """
    import nats

    while True:
        nc = None
        try:
            client = server if isinstance(server, NatsClient) else NatsClient(server)
            nc = await nats.connect(**client.connect_options(), name="lvrong-calendar-watch", connect_timeout=2,
                                    max_reconnect_attempts=-1, reconnect_time_wait=0.5)
            kv = await _bucket(nc.jetstream(), bucket)
            watcher = await kv.watchall(ignore_deletes=True, inactive_threshold=24 * 3600)
            async for entry in watcher:
                if entry is None or entry.value is None:
                    continue
                try:
                    data = _entry_year(bucket, entry)
                    install_approved_year(data)
                    log.info("calendar_year_installed", year=data.year, revision=entry.revision)
                except (CalendarDataError, ValueError) as e:
                    log.error("calendar_year_rejected", key=entry.key, revision=entry.revision, error=str(e))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("calendar_watch_failed", error=type(e).__name__)
        finally:
            if nc is not None and not nc.is_closed:
                try:
                    await nc.close()
                except Exception:  # closing a broken connection must not stop the loop
                    pass
        await asyncio.sleep(retry_seconds)
