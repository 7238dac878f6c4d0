"""Stalls (堵点): an application idle in one status longer than that status's threshold.

Thresholds are data (``matters.settings.DEFAULT_THRESHOLDS``), overridable per status from the
settings (``MATTERS_STALL_THRESHOLDS``). A threshold is either wall-clock hours (the automatic pre-review
answers in seconds, so ten minutes without a verdict is a stall whatever the day) or working days
of the platform calendar (people work on working days):

- a status entered on day *d* with a threshold of *N* working days stalls at 00:00 (Asia/Shanghai)
  of the (N+1)-th working day after *d*: staff had *d* itself plus N whole working days. Entered
  Monday with N = 1: a stall from Wednesday 00:00 if still untouched; entered Friday: from Tuesday.

Waiting on the applicant is not a stall by default: ``draft``, ``returned`` (退回补正) and
``correction_requested`` (审查中补正, the statutory clock is paused) are the applicant's move, and
nobody in the bureau can unblock them. Ops may still switch them on with an override.

Detection is one periodic job (``matters.stall-detection``, once per tick across replicas). Each
tick, set-based so it scales to millions of applications:

1. closes the open stalls whose application left that status (or left and came back): resolution
   ``status changed``, ``resolved_at`` = the time of the step that left the status;
2. per status with a threshold, ``INSERT … SELECT`` one stall per application idle past it that has
   no stall yet for this stay in the status (same ``idle_since``), oldest first, at most
   ``batch`` per status per tick; the unique index ``uq_stalls_open`` keeps one open stall per
   (application, status) even if two ticks raced. A stall someone resolved by hand stays resolved
   for as long as the application stays where it is.

Closing in the tick rather than in ``lifecycle.record_step`` keeps the submission path free of
an extra statement; the stall is closed within one tick, and its ``resolved_at`` is still the exact
time the application moved on (taken from the timeline).

Time lost (耽误时长) is the time idle beyond the threshold: ``(resolved_at or now) - idle_since -
threshold_hours``, where ``threshold_hours`` is recorded per stall in wall-clock hours (for working
day thresholds: from entering the status to the moment it crossed the threshold).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import structlog
from pydantic import BaseModel, Field
from sqlalchemy import CursorResult, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import ALL_DEPARTMENTS_ROLES, BUREAU, Principal
from kit.calendar import SHANGHAI, CalendarError, WorkingDayCalendar, local_date
from kit.contracts import StallOpened
from kit.db import Database
from kit.errors import Conflict, NotFound
from kit.events import add_event
from kit.pagination import Page, newest_first_after, newest_first_cursor
from matters import messages
from matters.models import Application, Stall
from matters.schemas import STATUS_LABELS_ZH, ApplicationStatus, Stage
from matters.service import clock, statuses
from matters.settings import Threshold

log = structlog.get_logger("matters.stalls")

STATUS_CHANGED = "status changed"
# Idle periods that began longer ago than this (or in a year the calendar does not know) count
# calendar days instead of working days, so one tick's mapping stays small.
_MAPPING_DAYS_MAX = 3660


# --- detection --------------------------------------------------------------------------------

def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI)


def _crossing(entered: date, working_days: int, cal: WorkingDayCalendar) -> datetime:
    """When a status entered on ``entered`` crosses a threshold of ``working_days``."""
    try:
        return _midnight(cal.add_working_days(entered, working_days + 1))
    except CalendarError:
        # A year the calendar does not know (old data): count calendar days rather than give up.
        return _midnight(entered + timedelta(days=working_days + 1))


@dataclass(frozen=True)
class _Plan:
    cutoff: datetime  # applications that entered the status before this are past the threshold
    hours: float | None  # an hours threshold
    days_after: int | None  # a working-day threshold: outside the mapping, count N+1 calendar days
    days: list[date]  # the mapping entry day → crossing moment, for working-day thresholds
    crossings: list[datetime]


async def _plan(session: AsyncSession, threshold: Threshold, now: datetime, cal: WorkingDayCalendar) -> _Plan | None:
    if threshold.hours is not None:
        return _Plan(now - timedelta(hours=threshold.hours), threshold.hours, None, [], [])
    assert threshold.working_days is not None
    n = threshold.working_days
    today = local_date(now)
    # The (N+1)-th working day on or before today: entering before it means N whole working days
    # have passed after the day of entry and the next one has begun. Raises CalendarError when
    # the calendar lacks the current year: the caller skips the status for this tick.
    cutoff_day = cal.add_working_days(today + timedelta(days=1), -(n + 1))
    earliest = await session.scalar(text("SELECT min(status_since) FROM applications WHERE status = :s"),
                                     {"s": threshold.status.value})
    if earliest is None:
        return None
    first = max(local_date(earliest), cutoff_day - timedelta(days=_MAPPING_DAYS_MAX))
    days = [first + timedelta(days=i) for i in range((cutoff_day - first).days)]
    return _Plan(_midnight(cutoff_day), None, n + 1, days, [_crossing(d, n, cal) for d in days])


_CLOSE_MOVED_ON = text("""
    UPDATE stalls s
       SET resolution = :resolution,
           resolved_at = COALESCE(
               (SELECT min(st.occurred_at) FROM application_steps st
                 WHERE st.application_id = s.application_id AND st.occurred_at >= s.idle_since
                   AND st.from_status = s.status AND st.status <> s.status),
               a.status_since)
      FROM applications a
     WHERE s.resolved_at IS NULL AND a.id = s.application_id
       AND (a.status <> s.status OR a.status_since <> s.idle_since)
""")

_OPEN_IDLE = text("""
    WITH crossing AS (
        SELECT * FROM unnest(CAST(:days AS date[]), CAST(:crossings AS timestamptz[])) AS c(day, at)
    ), candidates AS (
        SELECT a.id, a.matter_code, a.department, a.status, a.status_since
          FROM applications a
         WHERE a.status = :status AND a.status_since < :cutoff
           AND NOT EXISTS (SELECT 1 FROM stalls s WHERE s.application_id = a.id AND s.status = a.status
                                                    AND s.idle_since = a.status_since)
         ORDER BY a.status_since
         LIMIT :batch
    )
    INSERT INTO stalls (id, application_id, matter_code, department, status, idle_since, threshold_hours, opened_at)
    SELECT replace(gen_random_uuid()::text, '-', ''), c.id, c.matter_code, c.department, c.status, c.status_since,
           COALESCE(EXTRACT(EPOCH FROM x.at - c.status_since) / 3600.0, CAST(:hours AS float8),
                    EXTRACT(EPOCH FROM (((c.status_since AT TIME ZONE 'Asia/Shanghai')::date
                                         + CAST(:days_after AS integer))::timestamp AT TIME ZONE 'Asia/Shanghai')
                                       - c.status_since) / 3600.0), :now
      FROM candidates c
      LEFT JOIN crossing x ON x.day = (c.status_since AT TIME ZONE 'Asia/Shanghai')::date
    ON CONFLICT DO NOTHING
    RETURNING id, application_id, matter_code, department, status, idle_since, threshold_hours
""")


@dataclass
class DetectionResult:
    opened: int = 0
    closed: int = 0
    skipped: list[str] = field(default_factory=list)  # statuses whose working days the calendar cannot count

    def __int__(self) -> int:
        return self.opened + self.closed


async def detect(session: AsyncSession, thresholds: Mapping[ApplicationStatus, Threshold], *, now: datetime,
                 cal: WorkingDayCalendar, batch: int = 2000) -> DetectionResult:
    """One tick: close stalls whose application moved on, open stalls for applications idle too long."""
    result = DetectionResult()
    closed = await session.execute(_CLOSE_MOVED_ON, {"resolution": STATUS_CHANGED})
    result.closed = cast(CursorResult[Any], closed).rowcount or 0
    for status, threshold in thresholds.items():
        try:
            plan = await _plan(session, threshold, now, cal)
        except CalendarError as e:
            # No calendar data for this year: working-day thresholds cannot be judged, so they wait
            # (loudly) for ops to add the year rather than guess; hour thresholds carry on.
            log.warning("stall_threshold_skipped", status=status.value, error=e.message_en)
            result.skipped.append(status.value)
            continue
        if plan is None:
            continue
        rows = (await session.execute(_OPEN_IDLE, {
            "days": plan.days, "crossings": plan.crossings, "status": status.value, "cutoff": plan.cutoff,
            "batch": batch, "hours": plan.hours, "days_after": plan.days_after, "now": now})).all()
        for row in rows:
            await add_event(session, StallOpened(
                stall_id=row.id, application_id=row.application_id, matter_code=row.matter_code,
                department=row.department, status=row.status, idle_since=row.idle_since,
                threshold_hours=round(row.threshold_hours, 4)), subject=row.application_id)
        result.opened += len(rows)
    if result.opened or result.closed:
        log.info("stall_detection", opened=result.opened, closed=result.closed)
    return result


def detection_job(thresholds: Mapping[ApplicationStatus, Threshold], *, batch: int,
                  cal: WorkingDayCalendar | None = None) -> Callable[[AsyncSession], Awaitable[int]]:
    """The periodic job (``kit.scheduling``): one ``detect`` at the wall clock's time, with the platform
    calendar (or ``cal``); returns how many stalls it opened and closed."""
    async def tick(session: AsyncSession) -> int:
        return int(await detect(session, thresholds, now=datetime.now(UTC), cal=cal or clock.calendar(), batch=batch))

    return tick


# --- views and actions ------------------------------------------------------------------------

class ThresholdView(BaseModel):
    status: ApplicationStatus
    status_label_zh: str
    hours: float | None = Field(description="Wall-clock hours, or null when counted in working days")
    working_days: int | None = Field(description="Working days of the platform calendar")
    note_zh: str


class StallView(BaseModel):
    id: str
    application_id: str
    matter_code: str
    department: str
    status: ApplicationStatus
    status_label_zh: str
    stage: Stage
    idle_since: datetime
    threshold_hours: float = Field(description="Hours the status may last before it is a stall")
    opened_at: datetime
    open: bool
    owner: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    idle_hours: float = Field(description="Hours in the status, until it was resolved or now")
    hours_lost: float = Field(description="Hours idle beyond the threshold (耽误时长)")


class RankingEntry(BaseModel):
    key: str = Field(description="The matter code, or the status")
    label_zh: str | None
    stalls: int
    open: int
    hours_lost: float


class StallRanking(BaseModel):
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    matters: list[RankingEntry]
    statuses: list[RankingEntry]


def thresholds_view(thresholds: Mapping[ApplicationStatus, Threshold]) -> list[ThresholdView]:
    return [ThresholdView(status=t.status, status_label_zh=STATUS_LABELS_ZH[t.status], hours=t.hours,
                          working_days=t.working_days, note_zh=t.note_zh) for t in thresholds.values()]


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 4)


def stall_view(stall: Stall, now: datetime, matter_kind: str = "licence") -> StallView:
    idle = _hours((stall.resolved_at or now) - stall.idle_since)
    return StallView(
        id=stall.id, application_id=stall.application_id, matter_code=stall.matter_code, department=stall.department,
        status=ApplicationStatus(stall.status), status_label_zh=STATUS_LABELS_ZH[ApplicationStatus(stall.status)],
        stage=statuses.stage_of(stall.status, matter_kind), idle_since=stall.idle_since,
        threshold_hours=round(stall.threshold_hours, 4), opened_at=stall.opened_at, open=stall.resolved_at is None,
        owner=stall.owner, acknowledged_at=stall.acknowledged_at, resolved_at=stall.resolved_at,
        resolution=stall.resolution, idle_hours=idle, hours_lost=round(max(0.0, idle - stall.threshold_hours), 4))


def department_scope(principal: Principal) -> str | None:
    """The one department whose stalls (and figures) the caller sees, or None for all of them."""
    if principal.has_role(*ALL_DEPARTMENTS_ROLES) or principal.department in (None, BUREAU):
        return None
    return principal.department


async def list_stalls(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                      matter_code: str | None = None, status: ApplicationStatus | None = None,
                      open_only: bool | None = None, application_id: str | None = None,
                      department: str | None = None) -> Page[StallView]:
    # The matter kind tells the stage of an approved application (出证 for licences, 决定 for filings).
    stmt = select(Stall, Application.matter_kind).join(Application, Application.id == Stall.application_id)
    scope = department_scope(principal)
    if scope is not None:
        stmt = stmt.where(Stall.department == scope)
    if department:
        stmt = stmt.where(Stall.department == department)
    if matter_code:
        stmt = stmt.where(Stall.matter_code == matter_code)
    if status:
        stmt = stmt.where(Stall.status == status.value)
    if application_id:
        stmt = stmt.where(Stall.application_id == application_id)
    if open_only is True:
        stmt = stmt.where(Stall.resolved_at.is_(None))
    elif open_only is False:
        stmt = stmt.where(Stall.resolved_at.is_not(None))
    after = newest_first_after(cursor, Stall.opened_at, Stall.id)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.execute(stmt.order_by(Stall.opened_at.desc(), Stall.id.desc()).limit(limit + 1))).all()
    now = datetime.now(UTC)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1].Stall
        next_cursor = newest_first_cursor(last.opened_at, last.id)
    return Page[StallView](items=[stall_view(r.Stall, now, r.matter_kind) for r in rows[:limit]],
                           next_cursor=next_cursor)


async def _visible_stall(session: AsyncSession, principal: Principal, stall_id: str) -> tuple[Stall, str]:
    stall = await session.get(Stall, stall_id, with_for_update=True) if len(stall_id) <= 32 else None
    scope = department_scope(principal)
    if stall is None or (scope is not None and stall.department != scope):
        raise NotFound(messages.STALL_NOT_FOUND)
    kind = await session.scalar(select(Application.matter_kind).where(Application.id == stall.application_id))
    return stall, kind or "licence"


async def acknowledge(database: Database, principal: Principal, stall_id: str) -> StallView:
    """The caller takes the stall on: they become its owner (taking it over from an earlier one)."""
    async with database.transaction() as session:
        stall, kind = await _visible_stall(session, principal, stall_id)
        if stall.resolved_at is not None:
            raise Conflict(messages.STALL_ALREADY_RESOLVED_ACKNOWLEDGE, resolution=stall.resolution)
        now = datetime.now(UTC)
        if stall.owner != principal.subject:
            stall.owner = principal.subject
            stall.acknowledged_at = now
        log.info("stall_acknowledged", stall_id=stall.id, owner=principal.subject)
        return stall_view(stall, now, kind)


async def resolve(database: Database, principal: Principal, stall_id: str, reason: str) -> StallView:
    async with database.transaction() as session:
        stall, kind = await _visible_stall(session, principal, stall_id)
        if stall.resolved_at is not None:
            raise Conflict(messages.STALL_ALREADY_RESOLVED, resolution=stall.resolution)
        now = datetime.now(UTC)
        stall.resolved_at = now
        stall.resolution = reason
        if stall.owner is None:
            stall.owner = principal.subject
            stall.acknowledged_at = now
        log.info("stall_resolved", stall_id=stall.id, by=principal.subject)
        return stall_view(stall, now, kind)


_RANKING = """
    SELECT {key} AS key, count(*) AS stalls, count(*) FILTER (WHERE resolved_at IS NULL) AS open,
           COALESCE(sum(GREATEST(0, EXTRACT(EPOCH FROM COALESCE(resolved_at, :now) - idle_since) / 3600.0
                                    - threshold_hours)), 0) AS hours_lost
      FROM stalls
     WHERE opened_at >= :lo AND opened_at < :hi {scope}
     GROUP BY {key}
     ORDER BY {order}, key
"""


async def ranking(session: AsyncSession, principal: Principal, *, from_date: date, to_date: date,
                  order: str = "stalls") -> StallRanking:
    """Matters and statuses ranked by the stalls opened in the period (Asia/Shanghai dates) and the
    time they lost, computed in SQL."""
    scope = department_scope(principal)
    params: dict[str, Any] = {"lo": _midnight(from_date), "hi": _midnight(to_date + timedelta(days=1)),
                              "now": datetime.now(UTC)}
    scope_sql = ""
    if scope is not None:
        scope_sql, params["department"] = "AND department = :department", scope
    order_sql = "hours_lost DESC, stalls DESC" if order == "hours_lost" else "stalls DESC, hours_lost DESC"
    lists = {}
    for key in ("matter_code", "status"):
        sql = _RANKING.format(key=key, scope=scope_sql, order=order_sql)  # fixed fragments, no input
        lists[key] = (await session.execute(text(sql), params)).all()
    names: dict[str, str] = dict((await session.execute(text(
        "SELECT code, name_zh FROM matter_versions WHERE is_current"))).all())
    return StallRanking(
        from_date=from_date, to_date=to_date,
        matters=[RankingEntry(key=r.key, label_zh=names.get(r.key), stalls=r.stalls, open=r.open,
                              hours_lost=round(float(r.hours_lost), 2)) for r in lists["matter_code"]],
        statuses=[RankingEntry(key=r.key, label_zh=STATUS_LABELS_ZH[ApplicationStatus(r.key)], stalls=r.stalls,
                               open=r.open, hours_lost=round(float(r.hours_lost), 2)) for r in lists["status"]],
    )
