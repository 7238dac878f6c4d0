"""Measured reports of every promise, computed from stored data (never typed in), for a period and
per matter, department or agent:

- help: share of first responses within 60 s, resolution rate, median / p90 response and
  resolution times, reopened tickets, SLA breaches and resolution targets met;
- hotline: connect rate of three-way transfers (per call: any attempt connected; per attempt), waits;
- ratings: distribution 1–5, average, bad ratings; rectifications open, late, closed (on time);
- halls: share of waits within 10 / 30 minutes (general / complex) and of handling within 20, median
  / p90 wait and handling.

Every rate is returned with its definition (``definitions``, kit.kpi: numerator and denominator in
Chinese and English, the plan's target). The period is Asia/Shanghai days, by default the first of
this month to today. Each section is one aggregate query over an indexed time range; they run concurrently. Hall figures by department are by
hall (``hall:<id>``), hall figures by agent by window officer.
"""
from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from helpdesk import messages as M
from kit import kpi
from kit.calendar import SHANGHAI
from kit.db import Database

# The longest period one report covers.
MAX_DAYS = 366
GROUPS = ("none", "matter", "department", "agent")

_KEYS = {
    "tickets": {"none": "'all'", "matter": "coalesce(t.matter_code, '-')", "department": "t.department",
                "agent": "coalesce(t.assigned_agent, '-')"},
    "hotline": {"none": "'all'", "matter": "coalesce(matter_code, '-')", "department": "department",
                "agent": "coalesce(agent_subject, '-')"},
    "ratings": {"none": "'all'", "matter": "coalesce(r.matter_code, '-')", "department": "coalesce(r.department, '-')",
                "agent": "coalesce(r.agent_subject, '-')"},
    "halls": {"none": "'all'", "matter": "matter_code", "department": "'hall:' || hall_id",
              "agent": "coalesce(officer_subject, '-')"},
}

_SQL = {
    "tickets": """
        SELECT {key} AS key, count(*) AS tickets,
               count(t.first_response_at) AS answered,
               count(*) FILTER (WHERE t.first_response_at - t.created_at <= interval '60 seconds') AS answered_within_60s,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM t.first_response_at - t.created_at)) AS response_s_p50_p90,
               count(*) FILTER (WHERE t.status IN ('resolved', 'closed')) AS resolved,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM t.resolved_at - t.created_at)) AS resolution_s_p50_p90,
               count(*) FILTER (WHERE t.reopen_count > 0) AS reopened
        FROM tickets t WHERE t.created_at >= :start AND t.created_at < :end GROUP BY 1""",
    "sla": """
        SELECT {key} AS key,
               count(*) FILTER (WHERE c.breached_at IS NOT NULL AND c.kind = 'first_response') AS first_response_breaches,
               count(*) FILTER (WHERE c.breached_at IS NOT NULL AND c.kind = 'next_response') AS next_response_breaches,
               count(*) FILTER (WHERE c.breached_at IS NOT NULL AND c.kind = 'resolution') AS resolution_breaches,
               count(*) FILTER (WHERE c.kind = 'resolution' AND c.stopped_at IS NOT NULL) AS resolution_clocks_stopped,
               count(*) FILTER (WHERE c.kind = 'resolution' AND c.stopped_at IS NOT NULL
                                AND c.elapsed_seconds <= c.target_seconds) AS resolution_targets_met
        FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id
        WHERE t.created_at >= :start AND t.created_at < :end GROUP BY 1""",
    "hotline": """
        SELECT {key} AS key, count(*) AS attempts, count(*) FILTER (WHERE connected) AS attempts_connected,
               count(DISTINCT call_id) AS calls, count(DISTINCT call_id) FILTER (WHERE connected) AS calls_connected,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY wait_seconds) AS wait_s_p50_p90
        FROM hotline_transfers WHERE attempted_at >= :start AND attempted_at < :end GROUP BY 1""",
    "ratings": """
        SELECT {key} AS key, count(*) AS ratings,
               count(*) FILTER (WHERE r.score = 1) AS score_1, count(*) FILTER (WHERE r.score = 2) AS score_2,
               count(*) FILTER (WHERE r.score = 3) AS score_3, count(*) FILTER (WHERE r.score = 4) AS score_4,
               count(*) FILTER (WHERE r.score = 5) AS score_5, avg(r.score) AS average,
               count(x.id) AS rectifications,
               count(x.id) FILTER (WHERE x.status <> 'closed') AS rectifications_open,
               count(x.id) FILTER (WHERE x.status <> 'closed' AND x.due_on < :today) AS rectifications_late_open,
               count(x.id) FILTER (WHERE x.status = 'closed') AS rectifications_closed,
               count(x.id) FILTER (WHERE x.status = 'closed'
                                   AND (x.closed_at AT TIME ZONE 'Asia/Shanghai')::date <= x.due_on) AS rectifications_closed_on_time
        FROM ratings r LEFT JOIN rectifications x ON x.rating_id = r.id
        WHERE r.created_at >= :start AND r.created_at < :end GROUP BY 1""",
    "halls": """
        SELECT {key} AS key, count(*) AS visits, count(called_at) AS called,
               count(*) FILTER (WHERE called_at - checked_in_at <= CASE complexity WHEN 'complex'
                                THEN interval '30 minutes' ELSE interval '10 minutes' END) AS waits_within_target,
               count(finished_at) AS finished,
               count(*) FILTER (WHERE finished_at - called_at <= interval '20 minutes') AS handling_within_target,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM called_at - checked_in_at) / 60) AS wait_min_p50_p90,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - called_at) / 60) AS handling_min_p50_p90
        FROM visits WHERE checked_in_at >= :start AND checked_in_at < :end GROUP BY 1""",
}

# (section, rate name, numerator, denominator)
_RATES = (
    ("tickets", "first_response_within_60s_rate", "answered_within_60s", "tickets"),
    ("tickets", "resolution_rate", "resolved", "tickets"),
    ("sla", "resolution_target_met_rate", "resolution_targets_met", "resolution_clocks_stopped"),
    ("hotline", "connect_rate", "calls_connected", "calls"),
    ("hotline", "attempt_connect_rate", "attempts_connected", "attempts"),
    ("ratings", "bad_rating_rate", "bad", "ratings"),
    ("ratings", "good_rating_rate", "good", "ratings"),
    ("ratings", "rectification_on_time_rate", "rectifications_closed_on_time", "rectifications_closed"),
    ("halls", "wait_compliance_rate", "waits_within_target", "called"),
    ("halls", "handling_compliance_rate", "handling_within_target", "finished"),
)


PLAN_ITEM_8 = "2023年工作方案附件 第8项 / work plan 2023, annex item 8"
PLAN_ITEM_17 = "2023年工作方案附件 第17项 / work plan 2023, annex item 17"
PLAN_ITEM_47 = "2023年工作方案附件 第47项 / work plan 2023, annex item 47"
# What each rate divides, by section and rate (the same keys as the figures).
DEFINITIONS: dict[str, dict[str, kpi.Definition]] = {
    "tickets": {
        "first_response_within_60s_rate": kpi.rate(M.KPI_FIRST_RESPONSE, M.KPI_FIRST_RESPONSE_WHAT, M.KPI_TICKETS_WHAT,
                                                   target=1.0, source=PLAN_ITEM_8),
        "resolution_rate": kpi.rate(M.KPI_RESOLUTION, M.KPI_RESOLVED_WHAT, M.KPI_TICKETS_WHAT, target=0.9,
                                    source=PLAN_ITEM_8),
    },
    "sla": {"resolution_target_met_rate": kpi.rate(M.KPI_RESOLUTION_TARGET, M.KPI_RESOLUTION_TARGET_WHAT,
                                                   M.KPI_RESOLUTION_CLOCKS_WHAT)},
    "hotline": {
        "connect_rate": kpi.rate(M.KPI_CONNECT, M.KPI_CALLS_CONNECTED_WHAT, M.KPI_CALLS_WHAT, target=0.9,
                                 source=PLAN_ITEM_8),
        "attempt_connect_rate": kpi.rate(M.KPI_ATTEMPT_CONNECT, M.KPI_ATTEMPTS_CONNECTED_WHAT, M.KPI_ATTEMPTS_WHAT),
    },
    "ratings": {
        "good_rating_rate": kpi.rate(M.KPI_GOOD_RATINGS, M.KPI_GOOD_WHAT, M.KPI_RATINGS_WHAT, source=PLAN_ITEM_47),
        "bad_rating_rate": kpi.rate(M.KPI_BAD_RATINGS, M.KPI_BAD_WHAT, M.KPI_RATINGS_WHAT, source=PLAN_ITEM_47),
        "rectification_on_time_rate": kpi.rate(M.KPI_RECTIFIED_ON_TIME, M.KPI_RECTIFIED_ON_TIME_WHAT,
                                               M.KPI_RECTIFIED_WHAT, target=1.0, source=PLAN_ITEM_47),
    },
    "halls": {
        "wait_compliance_rate": kpi.rate(M.KPI_WAITS, M.KPI_WAITS_WHAT, M.KPI_CALLED_WHAT, target=1.0,
                                         source=PLAN_ITEM_17),
        "handling_compliance_rate": kpi.rate(M.KPI_HANDLING, M.KPI_HANDLING_WHAT, M.KPI_FINISHED_WHAT, target=1.0,
                                             source=PLAN_ITEM_17),
    },
}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (int, str)):
        return value
    return round(float(value), 3)


def _figures(row: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, value in row.items():
        if name == "key":
            continue
        if name.endswith("_p50_p90"):  # one sort gives both percentiles
            base, unit = name[:-len("_p50_p90")].rsplit("_", 1)
            low, high = value if value is not None else (None, None)
            figures[f"{base}_p50_{unit}"], figures[f"{base}_p90_{unit}"] = _plain(low), _plain(high)
        else:
            figures[name] = _plain(value)
    return figures


async def build_report(database: Database, start_day: date | None, end_day: date | None, group_by: str
                       ) -> dict[str, Any]:
    """Figures for the days ``start_day``..``end_day`` (inclusive, Asia/Shanghai; by default this month up
    to today, kit.kpi.period); the sections run at the same time, each on its own connection."""
    period = kpi.period(start_day, end_day, max_days=MAX_DAYS)
    params = {"start": period.start, "end": period.end, "today": datetime.now(SHANGHAI).date()}

    async def section_rows(section: str, sql: str) -> tuple[str, list[Any]]:
        key = _KEYS["tickets" if section == "sla" else section][group_by]
        async with database.session() as session:
            return section, list((await session.execute(text(sql.format(key=key)), params)).mappings())

    groups: dict[str, dict[str, Any]] = {}
    for section, rows in await asyncio.gather(*(section_rows(s, q) for s, q in _SQL.items())):
        for row in rows:
            groups.setdefault(row["key"], {"key": row["key"]})[section] = _figures(row)
    for group in groups.values():
        if "ratings" in group:
            group["ratings"]["bad"] = group["ratings"]["score_1"] + group["ratings"]["score_2"]
            group["ratings"]["good"] = group["ratings"]["score_4"] + group["ratings"]["score_5"]
        for section, name, numerator, denominator in _RATES:
            figures = group.get(section)
            if figures is not None:
                figures[name] = round(figures[numerator] / figures[denominator], 4) if figures[denominator] else None
    return {**period.model_dump(mode="json", by_alias=True), "group_by": group_by,
            "definitions": {k: {n: d.model_dump() for n, d in v.items()} for k, v in DEFINITIONS.items()},
            "generated_at": datetime.now(SHANGHAI).isoformat(),
            "targets": {"first_response_seconds": 60, "resolution_rate": 0.9, "connect_rate": 0.9,
                        "wait_minutes": {"general": 10, "complex": 30}, "handling_minutes": 20},
            "groups": sorted(groups.values(), key=lambda g: g["key"])}


def report_csv(report: dict[str, Any]) -> str:
    """One row per group, one column per figure (``section.figure``)."""
    columns: list[str] = []
    rows = []
    for group in report["groups"]:
        row = {"key": group["key"]}
        for section, figures in group.items():
            if section == "key":
                continue
            for name, value in figures.items():
                column = f"{section}.{name}"
                if column not in columns:
                    columns.append(column)
                row[column] = value
        rows.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["key", *columns], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
