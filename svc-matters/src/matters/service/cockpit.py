"""The data cockpit (数据驾驶舱): per matter and period, what came in and how it was handled.

The period selects applications by the Asia/Shanghai date of ``created_at``; backlog and overdue
are "now" (every open application, whenever it was filed). Every figure is a SQL aggregate over
indexed columns, read per matter from an index range (revision 0004: the covering
``ix_applications_matter_created``, ``ix_application_steps_stage_times``, and partial indexes for
backlog and overdue); Python only formats the few rows per matter that come back.

Definitions (also in the API description):

- received (收件): filed in the period and submitted (drafts never submitted are not received);
- accepted (受理) / refused (不予受理): of those, accepted at some point / ended refused;
- first-time acceptance rate (首次申请受理成功率, the plan's target ≥ 90%): accepted on their first
  submission (no correction before acceptance, ``attempt = 1``) / those whose acceptance was decided
  (accepted or refused) — a refusal, or an acceptance only after a correction (补正), lowers it;
  applications still waiting for their first acceptance decision are in neither;
- pre-review coverage (智能预审比例, target ≥ 90%): pre-reviewed (a verdict, passed or returned) / received;
- exempted materials (免于提交): materials replaced by a licence or an earlier application, and
  how many applications used any;
- on-time completion rate (承诺时限内办结率): decided (approved or denied) with a statutory clock, on or
  before the due date (Asia/Shanghai date of the decision) / decided with a clock;

Each figure's definition (numerator and denominator in Chinese and English, the plan's target) is in the
response's ``definitions``, keyed by the figure's name.
- time per stage: from the timeline, the time between an application's consecutive status
  changes, by the status it spent that time in; median and p90 (``percentile_cont``) in hours.
  Each status-changing step carries that time (``from_status_seconds``, written with the step),
  so this is an index range scan of ``ix_application_steps_stage_times`` per matter and status;
- backlog (积压): open applications now — submitted and not yet ended (not refused, denied,
  withdrawn or completed; drafts are not counted);
- overdue (超期): running, unpaused statutory clocks whose due date has passed;
- provisional due dates (暂定时限): running clocks whose due date counts on a calendar year not yet
  approved (they move when ops approve it).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit import kpi
from kit.auth import Principal
from kit.calendar import SHANGHAI, local_date
from kit.errors import Forbidden, NotFound
from matters import messages
from matters.models import OPEN_STATUSES, RUNNING_UNPAUSED_CLOCK
from matters.schemas import STAGE_LABELS_ZH, STATUS_LABELS_ZH, ApplicationStatus, Stage
from matters.service import statuses
from matters.service.stalls import department_scope

S = ApplicationStatus
MAX_PERIOD_DAYS = 366
# The predicates of the partial indexes of revision 0004, inlined as they are (constants, never
# user input: a bound parameter would keep the planner from matching the index).
BACKLOG_SQL = OPEN_STATUSES
RUNNING_CLOCK_SQL = RUNNING_UNPAUSED_CLOCK
# The order of the per-status columns of the CSV.
STAGE_STATUSES = (S.DRAFT, S.SUBMITTED, S.PREREVIEWED, S.RETURNED, S.ACCEPTED, S.UNDER_REVIEW,
                  S.CORRECTION_REQUESTED, S.APPROVED, S.LICENCE_ISSUED)


class StageTime(BaseModel):
    status: ApplicationStatus = Field(description="The status the time was spent in")
    status_label_zh: str
    stage: Stage
    stage_label_zh: str
    transitions: int = Field(description="How many times an application left this status")
    median_hours: float
    p90_hours: float
    median_seconds: float = Field(description="The median to the millisecond, for programs")
    p90_seconds: float


class Figures(BaseModel):
    received: int
    accepted: int
    accepted_first_time: int
    refused: int
    prereviewed: int
    exempted_materials: int = Field(description="Materials not submitted because a licence or earlier application stood in")
    applications_with_exemptions: int
    decided: int = Field(description="Approved or denied, with a statutory clock")
    decided_on_time: int
    acceptance_decided: int = Field(description="Accepted or refused: the acceptance was decided")
    first_time_acceptance_rate: float | None = Field(description="accepted_first_time / acceptance_decided")
    prereview_coverage: float | None = Field(description="prereviewed / received")
    on_time_completion_rate: float | None = Field(description="decided_on_time / decided")
    backlog: int = Field(description="Open applications now")
    overdue: int = Field(description="Running statutory clocks past their due date now")
    provisional_due_dates: int = Field(0, description=(
        "Running statutory clocks whose due date counts on a calendar year ops have not approved yet (暂定): "
        "recomputed when it is approved"))


class MatterFigures(Figures):
    matter_code: str
    name_zh: str
    name_en: str
    kind: str
    department: str
    stage_times: list[StageTime]


class Cockpit(BaseModel):
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    timezone: str = "Asia/Shanghai"
    department: str | None = Field(description="The department the figures are limited to, or null for all")
    generated_at: datetime
    matters: list[MatterFigures]
    totals: Figures
    definitions: dict[str, kpi.Definition] = Field(description="How each figure is computed, by the figure's name")


_rate = kpi.ratio

M = messages
PLAN_ITEM_1 = "2023年工作方案附件 第1项 / work plan 2023, annex item 1"
# What each figure means, returned beside it (kit.kpi): the rates as the plan means them.
DEFINITIONS: dict[str, kpi.Definition] = {
    "received": kpi.count(M.KPI_RECEIVED, M.KPI_RECEIVED_WHAT),
    "accepted": kpi.count(M.KPI_ACCEPTED, M.KPI_ACCEPTED_WHAT),
    "refused": kpi.count(M.KPI_REFUSED, M.KPI_REFUSED_WHAT),
    "acceptance_decided": kpi.count(M.KPI_ACCEPTANCE_DECIDED, M.KPI_ACCEPTANCE_DECIDED_WHAT),
    "accepted_first_time": kpi.count(M.KPI_ACCEPTED_FIRST_TIME, M.KPI_ACCEPTED_FIRST_TIME_WHAT),
    "first_time_acceptance_rate": kpi.rate(M.KPI_FIRST_TIME_ACCEPTANCE, M.KPI_ACCEPTED_FIRST_TIME_WHAT,
                                           M.KPI_ACCEPTANCE_DECIDED_WHAT, target=0.9, source=PLAN_ITEM_1),
    "prereviewed": kpi.count(M.KPI_PREREVIEWED, M.KPI_PREREVIEWED_WHAT),
    "prereview_coverage": kpi.rate(M.KPI_PREREVIEW_COVERAGE, M.KPI_PREREVIEWED_WHAT, M.KPI_RECEIVED_WHAT,
                                   target=0.9, source=PLAN_ITEM_1),
    "exempted_materials": kpi.count(M.KPI_EXEMPTED_MATERIALS, M.KPI_EXEMPTED_MATERIALS_WHAT),
    "applications_with_exemptions": kpi.count(M.KPI_WITH_EXEMPTIONS, M.KPI_WITH_EXEMPTIONS_WHAT),
    "decided": kpi.count(M.KPI_DECIDED, M.KPI_DECIDED_WHAT),
    "decided_on_time": kpi.count(M.KPI_DECIDED_ON_TIME, M.KPI_DECIDED_ON_TIME_WHAT),
    "on_time_completion_rate": kpi.rate(M.KPI_ON_TIME, M.KPI_DECIDED_ON_TIME_WHAT, M.KPI_DECIDED_WHAT),
    "backlog": kpi.count(M.KPI_BACKLOG, M.KPI_BACKLOG_WHAT),
    "overdue": kpi.count(M.KPI_OVERDUE, M.KPI_OVERDUE_WHAT),
    "provisional_due_dates": kpi.count(M.KPI_PROVISIONAL, M.KPI_PROVISIONAL_WHAT),
}
# The series counts every decision, with a statutory clock or not.
SERIES_DEFINITIONS = {**{k: DEFINITIONS[k] for k in (
    "received", "prereviewed", "accepted", "accepted_first_time", "refused", "acceptance_decided", "overdue",
    "prereview_coverage", "first_time_acceptance_rate")}, "decided": kpi.count(M.KPI_DECIDED, M.KPI_DECIDED_ANY_WHAT)}


def period(from_date: date | None, to_date: date | None) -> tuple[date, date]:
    """The period asked for (kit.kpi.period): by default from the first of this month to today; 422 when it
    is backwards, longer than ``MAX_PERIOD_DAYS`` or outside 2000–2100."""
    asked = kpi.period(from_date, to_date, max_days=MAX_PERIOD_DAYS)
    return asked.from_date, asked.to_date


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI)


async def _selection(session: AsyncSession, principal: Principal, matter_code: str | None
                     ) -> tuple[str | None, Sequence[Row[Any]], dict[str, Any]]:
    """The caller's department scope, the matters asked for (404 unknown, 403 another department's),
    and the parameters of ``_filter``, which limits a query of applications or steps to them."""
    scope = department_scope(principal)
    matter_sql = "SELECT code, name_zh, name_en, kind, department FROM matter_versions WHERE is_current"
    if matter_code:
        row = (await session.execute(text(matter_sql + " AND code = :matter"), {"matter": matter_code})).first()
        if row is None:
            raise NotFound(messages.MATTER_NOT_FOUND.format(code=matter_code))
        if scope is not None and row.department != scope:
            raise Forbidden(messages.MATTER_OF_ANOTHER_DEPARTMENT)
        matters: Sequence[Row[Any]] = [row]
    else:
        if scope is not None:
            matter_sql += " AND department = :department"
        matters = (await session.execute(text(matter_sql + " ORDER BY position, code"),
                                         {"department": scope} if scope is not None else {})).all()
    # Every query names the matters, so each reads its (matter_code, …) index range per matter,
    # never a scan across all of them; staff of one department also get only its applications.
    params: dict[str, Any] = {"codes": [m.code for m in matters]}
    if scope is not None:
        params["department"] = scope
    return scope, matters, params


def _filter(scope: str | None, table: str = "") -> str:
    """The SQL conditions of ``_selection``'s parameters, on the columns of ``table`` (an alias) if given."""
    prefix = f"{table}." if table else ""
    return f" AND {prefix}matter_code = ANY(:codes)" + (f" AND {prefix}department = :department" if scope is not None else "")


async def cockpit(session: AsyncSession, principal: Principal, *, matter_code: str | None, from_date: date | None,
                  to_date: date | None) -> Cockpit:
    start, end = period(from_date, to_date)
    scope, matters, params = await _selection(session, principal, matter_code)
    filters = _filter(scope)
    in_period = {**params, "lo": _midnight(start), "hi": _midnight(end + timedelta(days=1))}

    counts = {r.matter_code: r for r in (await session.execute(text(f"""
        SELECT matter_code,
               count(*) FILTER (WHERE submitted_at IS NOT NULL) AS received,
               count(*) FILTER (WHERE accepted_at IS NOT NULL) AS accepted,
               count(*) FILTER (WHERE accepted_at IS NOT NULL AND attempt = 1) AS accepted_first_time,
               count(*) FILTER (WHERE status = 'refused') AS refused,
               count(*) FILTER (WHERE accepted_at IS NOT NULL OR status = 'refused') AS acceptance_decided,
               count(*) FILTER (WHERE prereviewed_at IS NOT NULL AND submitted_at IS NOT NULL) AS prereviewed,
               COALESCE(sum(exempted_materials), 0) AS exempted_materials,
               count(*) FILTER (WHERE exempted_materials > 0) AS applications_with_exemptions,
               count(*) FILTER (WHERE decided_at IS NOT NULL AND clock_due_date IS NOT NULL) AS decided,
               count(*) FILTER (WHERE decided_at IS NOT NULL AND clock_due_date IS NOT NULL
                                  AND (clock_stopped_at AT TIME ZONE 'Asia/Shanghai')::date <= clock_due_date)
                   AS decided_on_time
          FROM applications
         WHERE created_at >= :lo AND created_at < :hi{filters}
         GROUP BY matter_code"""), in_period)).all()}

    # Each step that changed the status carries the time spent in the status it left
    # (lifecycle.record_step), and the application's matter and filing time: one index range per
    # (matter, status). A busy matter-month is ~80,000 steps: sort them in memory, not on disk.
    await session.execute(text("SET LOCAL work_mem = '32MB'"))
    stage_rows = (await session.execute(text(f"""
        SELECT matter_code, from_status, count(*) AS transitions,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY from_status_seconds) AS seconds
          FROM application_steps
         WHERE from_status_seconds IS NOT NULL AND from_status = ANY(:statuses)
           AND application_created_at >= :lo AND application_created_at < :hi{filters}
         GROUP BY matter_code, from_status"""), {**in_period, "statuses": [s.value for s in ApplicationStatus]})).all()
    stage_times: dict[str, list[Any]] = {}
    for r in stage_rows:
        stage_times.setdefault(r.matter_code, []).append(r)

    backlog: dict[str, int] = dict((await session.execute(text(
        f"SELECT matter_code, count(*) FROM applications WHERE {BACKLOG_SQL}{filters} GROUP BY matter_code"),
        params)).all())
    overdue: dict[str, int] = dict((await session.execute(text(
        f"SELECT matter_code, count(*) FROM applications WHERE {RUNNING_CLOCK_SQL} AND clock_due_date < :today"
        f"{filters} GROUP BY matter_code"), {**params, "today": local_date(datetime.now(UTC))})).all())
    provisional: dict[str, int] = dict((await session.execute(text(  # the partial index on provisional due dates: a small set
        f"SELECT matter_code, count(*) FROM applications WHERE clock_due_provisional AND clock_stopped_at IS NULL"
        f"{filters} GROUP BY matter_code"), params)).all())

    order = {s: i for i, s in enumerate(STAGE_STATUSES)}
    figures: list[MatterFigures] = []
    for m in matters:
        c = counts.get(m.code)
        numbers = {k: int(getattr(c, k)) if c is not None else 0 for k in (
            "received", "accepted", "accepted_first_time", "refused", "acceptance_decided", "prereviewed",
            "exempted_materials", "applications_with_exemptions", "decided", "decided_on_time")}
        times = []
        for r in sorted(stage_times.get(m.code, []), key=lambda r: order.get(ApplicationStatus(r.from_status), 99)):
            status = ApplicationStatus(r.from_status)
            stage = statuses.stage_of(status.value, m.kind)
            times.append(StageTime(status=status, status_label_zh=STATUS_LABELS_ZH[status], stage=stage,
                                   stage_label_zh=STAGE_LABELS_ZH[stage], transitions=r.transitions,
                                   median_hours=round(r.seconds[0] / 3600, 4), p90_hours=round(r.seconds[1] / 3600, 4),
                                   median_seconds=round(r.seconds[0], 3), p90_seconds=round(r.seconds[1], 3)))
        figures.append(MatterFigures(
            matter_code=m.code, name_zh=m.name_zh, name_en=m.name_en, kind=m.kind, department=m.department,
            **numbers, **_rates(numbers), backlog=int(backlog.get(m.code, 0)), overdue=int(overdue.get(m.code, 0)),
            provisional_due_dates=int(provisional.get(m.code, 0)), stage_times=times))
    total = {k: sum(getattr(f, k) for f in figures) for k in (
        "received", "accepted", "accepted_first_time", "refused", "acceptance_decided", "prereviewed",
        "exempted_materials", "applications_with_exemptions", "decided", "decided_on_time", "backlog", "overdue",
        "provisional_due_dates")}
    return Cockpit(from_date=start, to_date=end, department=scope, generated_at=datetime.now(UTC), matters=figures,
                   totals=Figures(**total, **_rates(total)), definitions=DEFINITIONS)


def _rates(n: dict[str, int]) -> dict[str, float | None]:
    return {"first_time_acceptance_rate": _rate(n["accepted_first_time"], n["acceptance_decided"]),
            "prereview_coverage": _rate(n["prereviewed"], n["received"]),
            "on_time_completion_rate": _rate(n["decided_on_time"], n["decided"])}


# --- over time ------------------------------------------------------------------------------------

SERIES_KINDS = ("licence", "filing", "public_service")
# Which stage each status is in, per kind of matter (an approved licence waits for issuance, an
# approved filing is decided): the pairs the time per stage sums over, as query parameters.
_STAGE_MAP = [(s.value, kind, statuses.stage_of(s.value, kind).value) for s in ApplicationStatus for kind in SERIES_KINDS]
# The stages an application moves through, in order (time spent in 办结/已终止 never ends).
SERIES_STAGES = (Stage.APPLY, Stage.PREREVIEW, Stage.ACCEPTANCE, Stage.REVIEW, Stage.DECISION, Stage.ISSUANCE)


class SeriesStageTime(BaseModel):
    stage: Stage
    stage_label_zh: str
    applications: int = Field(description="Applications of the bucket that spent time in the stage and left it")
    median_hours: float = Field(description="Median over those applications of their total time in the stage")


class SeriesBucket(BaseModel):
    start: date = Field(description="First day of the bucket (a Monday for weeks, or the period's first day)")
    end: date = Field(description="Last day of the bucket, inclusive (a Sunday for weeks, or the period's last day)")
    received: int = Field(description="Filed in the bucket and submitted")
    prereviewed: int
    accepted: int
    accepted_first_time: int
    refused: int
    acceptance_decided: int = Field(description="Accepted or refused: the acceptance was decided")
    decided: int = Field(description="Approved or denied (whenever it happened)")
    overdue: int = Field(description="Running, unpaused statutory clocks past their due date now")
    prereview_coverage: float | None = Field(description="prereviewed / received")
    first_time_acceptance_rate: float | None = Field(description="accepted_first_time / acceptance_decided")
    stage_times: list[SeriesStageTime]


class CockpitSeries(BaseModel):
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    interval: str
    timezone: str = "Asia/Shanghai"
    matter: str | None = Field(description="The matter the figures are limited to, or null for every matter the caller sees")
    department: str | None = Field(description="The department the figures are limited to, or null for all")
    generated_at: datetime
    buckets: list[SeriesBucket]
    definitions: dict[str, kpi.Definition] = Field(description="How each figure is computed, by the figure's name")


def _buckets(start: date, end: date, interval: str) -> list[tuple[date, date, date]]:
    """(key, first day, last day) of every bucket of the period; the key is what ``date_trunc`` gives."""
    out = []
    day = start
    while day <= end:
        key = day - timedelta(days=day.weekday()) if interval == "week" else day
        last = min(end, key + timedelta(days=6) if interval == "week" else day)
        out.append((key, day, last))
        day = last + timedelta(days=1)
    return out


async def series(session: AsyncSession, principal: Principal, *, matter_code: str | None, from_date: date | None,
                 to_date: date | None, interval: str) -> CockpitSeries:
    """The cockpit's figures over time: the applications filed in each day or week (Asia/Shanghai date of
    ``created_at``, as the cockpit selects them; weeks start on Monday) and what became of them —
    received, pre-reviewed, accepted (first time), refused, decided, overdue now — and the median
    total time they spent in each stage (申请, 预审, 受理, 审查, 决定, 出证), from the timeline."""
    start, end = period(from_date, to_date)
    scope, _, params = await _selection(session, principal, matter_code)
    filters = _filter(scope)
    unit = "week" if interval == "week" else "day"  # a constant, never the caller's text
    in_period = {**params, "lo": _midnight(start), "hi": _midnight(end + timedelta(days=1))}
    bucket_sql = f"date_trunc('{unit}', created_at AT TIME ZONE 'Asia/Shanghai')::date"
    counts = {r.bucket: r for r in (await session.execute(text(f"""
        SELECT {bucket_sql} AS bucket,
               count(*) FILTER (WHERE submitted_at IS NOT NULL) AS received,
               count(*) FILTER (WHERE prereviewed_at IS NOT NULL AND submitted_at IS NOT NULL) AS prereviewed,
               count(*) FILTER (WHERE accepted_at IS NOT NULL) AS accepted,
               count(*) FILTER (WHERE accepted_at IS NOT NULL AND attempt = 1) AS accepted_first_time,
               count(*) FILTER (WHERE status = 'refused') AS refused,
               count(*) FILTER (WHERE accepted_at IS NOT NULL OR status = 'refused') AS acceptance_decided,
               count(*) FILTER (WHERE decided_at IS NOT NULL) AS decided,
               count(*) FILTER (WHERE {RUNNING_CLOCK_SQL} AND clock_due_date < :today) AS overdue
          FROM applications
         WHERE created_at >= :lo AND created_at < :hi{filters}
         GROUP BY 1"""), {**in_period, "today": local_date(datetime.now(UTC))})).all()}
    await session.execute(text("SET LOCAL work_mem = '32MB'"))
    stage_rows = (await session.execute(text(f"""
        WITH stays AS (
          SELECT date_trunc('{unit}', s.application_created_at AT TIME ZONE 'Asia/Shanghai')::date AS bucket,
                 m.stage, s.application_id, sum(s.from_status_seconds) AS seconds
            FROM application_steps s
            JOIN applications a ON a.id = s.application_id
            JOIN unnest(CAST(:map_status AS text[]), CAST(:map_kind AS text[]), CAST(:map_stage AS text[]))
                 AS m(status, kind, stage) ON m.status = s.from_status AND m.kind = a.matter_kind
           WHERE s.from_status_seconds IS NOT NULL AND s.from_status = ANY(:statuses)
             AND s.application_created_at >= :lo AND s.application_created_at < :hi{_filter(scope, "s")}
           GROUP BY 1, 2, 3)
        SELECT bucket, stage, count(*) AS applications,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median_seconds
          FROM stays GROUP BY 1, 2"""), {
        **in_period, "statuses": [s.value for s in ApplicationStatus],
        "map_status": [m[0] for m in _STAGE_MAP], "map_kind": [m[1] for m in _STAGE_MAP],
        "map_stage": [m[2] for m in _STAGE_MAP]})).all()
    times: dict[date, dict[str, Any]] = {}
    for r in stage_rows:
        times.setdefault(r.bucket, {})[r.stage] = r
    buckets = []
    for key, first, last in _buckets(start, end, unit):
        c = counts.get(key)
        n = {k: int(getattr(c, k)) if c is not None else 0 for k in (
            "received", "prereviewed", "accepted", "accepted_first_time", "refused", "acceptance_decided", "decided",
            "overdue")}
        stage_times = [SeriesStageTime(stage=stage, stage_label_zh=STAGE_LABELS_ZH[stage], applications=stay.applications,
                                       median_hours=round(stay.median_seconds / 3600, 4))
                       for stage in SERIES_STAGES if (stay := times.get(key, {}).get(stage.value)) is not None]
        buckets.append(SeriesBucket(start=first, end=last, **n, prereview_coverage=_rate(n["prereviewed"], n["received"]),
                                    first_time_acceptance_rate=_rate(n["accepted_first_time"], n["acceptance_decided"]),
                                    stage_times=stage_times))
    return CockpitSeries(from_date=start, to_date=end, interval=unit, matter=matter_code, department=scope,
                         generated_at=datetime.now(UTC), buckets=buckets,
                         definitions=SERIES_DEFINITIONS)


# --- CSV ------------------------------------------------------------------------------------------

CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("matter_code", "事项编码"), ("name_zh", "事项名称"), ("department", "实施部门"), ("from", "统计起始日"),
    ("to", "统计截止日"), ("received", "收件数"), ("accepted", "受理数"), ("refused", "不予受理数"),
    ("acceptance_decided", "受理已决数"), ("accepted_first_time", "首次申请受理数"),
    ("first_time_acceptance_rate", "首次申请受理成功率"),
    ("prereviewed", "预审数"), ("prereview_coverage", "预审覆盖率"), ("exempted_materials", "免提交材料数"),
    ("applications_with_exemptions", "免提交办件数"), ("decided", "已决定数"), ("decided_on_time", "按时办结数"),
    ("on_time_completion_rate", "承诺时限内办结率"), ("backlog", "当前积压"), ("overdue", "当前超期"),
    ("provisional_due_dates", "暂定时限办件数"),
) + tuple(col for s in STAGE_STATUSES for col in (
    (f"{s.value}_median_hours", f"{STATUS_LABELS_ZH[s]}用时中位数(小时)"),
    (f"{s.value}_p90_hours", f"{STATUS_LABELS_ZH[s]}用时P90(小时)")))


def csv_header(key: str, label_zh: str) -> str:
    """Chinese for the people opening it in Excel, the JSON key for programs: ``收件数 (received)``."""
    return f"{label_zh} ({key})"


def to_csv(report: Cockpit) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese names correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_header(k, zh) for k, zh in CSV_COLUMNS])
    for m in report.matters:
        row: dict[str, Any] = m.model_dump()
        row.update({"from": report.from_date.isoformat(), "to": report.to_date.isoformat()})
        for t in m.stage_times:
            row[f"{t.status.value}_median_hours"] = t.median_hours
            row[f"{t.status.value}_p90_hours"] = t.p90_hours
        writer.writerow(["" if row.get(k) is None else row.get(k) for k, _ in CSV_COLUMNS])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")
