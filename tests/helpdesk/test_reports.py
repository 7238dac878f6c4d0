"""The reports computed from stored rows, checked against figures worked out by hand."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete

from helpdesk.models import Base, Rating, Rectification, SlaClock, Ticket
from helpdesk.service import reports
from kit.calendar import SHANGHAI
from support import scratch_service_database

DAY = dt.date(2026, 3, 10)


def at(hour: int, minute: int = 0, second: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), SHANGHAI)


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "helpdesk", "lvrong_hb_unit_reports") as db:
        yield db


def ticket(n: int, department: str, agent: str, created: dt.datetime, answered_after: int | None,
           resolved_after_hours: float | None, status: str) -> Ticket:
    return Ticket(id=f"t{n}", channel="online", status=status, priority="normal", matter_code="LR-XK-008",
                  department=department, subject_text="问题", applicant_subject=f"u-{n}", policy_id="default",
                  assigned_agent=agent, created_at=created,
                  first_response_at=created + dt.timedelta(seconds=answered_after) if answered_after is not None else None,
                  resolved_at=created + dt.timedelta(hours=resolved_after_hours) if resolved_after_hours else None,
                  reopen_count=0)


async def test_ticket_rating_and_rectification_figures(database) -> None:
    async with database.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in ("rectifications", "ratings", "sla_clocks", "ticket_steps", "ticket_messages", "tickets"):
                await session.execute(delete(table))
        session.add_all([
            ticket(1, "A", "agent-1", at(9), 30, 2, "resolved"),
            ticket(2, "A", "agent-1", at(10), 50, 4, "closed"),
            ticket(3, "A", "agent-2", at(11), 90, None, "assigned"),
            ticket(4, "B", "agent-2", at(14), None, None, "new"),
            ticket(5, "B", "agent-2", at(9, day=DAY + dt.timedelta(days=1)), 10, 1, "resolved"),  # outside the day
        ])
        await session.flush()
        session.add_all([
            SlaClock(ticket_id="t3", kind="first_response", cycle=0, unit="seconds", amount=60, target_seconds=60,
                     warn_percent=80, escalation_percents=[], started_at=at(11), elapsed_before=0,
                     stopped_at=at(11, 1, 30), elapsed_seconds=90, alerted_percent=100, breached_at=at(11, 1)),
            SlaClock(ticket_id="t1", kind="resolution", cycle=0, unit="working_days", amount=1, target_seconds=25200,
                     warn_percent=80, escalation_percents=[], started_at=at(9), elapsed_before=0,
                     stopped_at=at(11), elapsed_seconds=7200, alerted_percent=0),
            SlaClock(ticket_id="t2", kind="resolution", cycle=0, unit="working_hours", amount=2, target_seconds=7200,
                     warn_percent=80, escalation_percents=[], started_at=at(10), elapsed_before=0,
                     stopped_at=at(14), elapsed_seconds=10800, alerted_percent=100, breached_at=at(12)),
        ])
        session.add_all([
            Rating(id="r1", target_kind="ticket", target_id="t1", rater_subject="u-1", score=5, tags=[],
                   department="A", matter_code="LR-XK-008", agent_subject="agent-1", created_at=at(12)),
            Rating(id="r2", target_kind="ticket", target_id="t2", rater_subject="u-2", score=1, tags=[],
                   department="A", matter_code="LR-XK-008", agent_subject="agent-1", created_at=at(15)),
            Rating(id="r3", target_kind="hall_visit", target_id="v1", rater_subject="u-9", score=2, tags=[],
                   department="A", matter_code="LR-XK-008", created_at=at(16)),
        ])
        await session.flush()
        session.add_all([
            Rectification(id="x2", rating_id="r2", department="A", status="closed", opened_at=at(15),
                          due_on=DAY + dt.timedelta(days=7), closed_at=at(10, day=DAY + dt.timedelta(days=2))),
            Rectification(id="x3", rating_id="r3", department="A", status="open", opened_at=at(16),
                          due_on=DAY - dt.timedelta(days=1)),  # already late
        ])

    report = await reports.build_report(database, DAY, DAY, "department")
    groups = {g["key"]: g for g in report["groups"]}
    a, b = groups["A"], groups["B"]
    assert a["tickets"] == {
        "tickets": 3, "answered": 3, "answered_within_60s": 2, "response_p50_s": 50.0, "response_p90_s": 82.0,
        "resolved": 2, "resolution_p50_s": 10800.0, "resolution_p90_s": 13680.0, "reopened": 0,
        "first_response_within_60s_rate": 0.6667, "resolution_rate": 0.6667}
    assert b["tickets"]["tickets"] == 1 and b["tickets"]["answered"] == 0 and b["tickets"]["resolution_rate"] == 0
    assert b["tickets"]["response_p50_s"] is None
    assert a["sla"] == {"first_response_breaches": 1, "next_response_breaches": 0, "resolution_breaches": 1,
                        "resolution_clocks_stopped": 2, "resolution_targets_met": 1, "resolution_target_met_rate": 0.5}
    ratings = a["ratings"]
    assert (ratings["ratings"], ratings["score_1"], ratings["score_2"], ratings["score_5"], ratings["bad"]) == (3, 1, 1, 1, 2)
    assert ratings["average"] == pytest.approx(8 / 3, abs=1e-3) and ratings["bad_rating_rate"] == 0.6667
    assert (ratings["rectifications"], ratings["rectifications_open"], ratings["rectifications_late_open"],
            ratings["rectifications_closed"], ratings["rectifications_closed_on_time"]) == (2, 1, 1, 1, 1)
    assert ratings["rectification_on_time_rate"] == 1.0

    by_agent = {g["key"]: g for g in (await reports.build_report(database, DAY, DAY, "agent"))["groups"]}
    assert by_agent["agent-1"]["tickets"]["first_response_within_60s_rate"] == 1.0
    assert by_agent["agent-2"]["tickets"]["tickets"] == 2
    two_days = await reports.build_report(database, DAY, DAY + dt.timedelta(days=1), "none")
    assert two_days["groups"][0]["tickets"]["tickets"] == 5
    csv_text = reports.report_csv(report)
    lines = csv_text.splitlines()
    assert lines[0].startswith("key,tickets.tickets,") and lines[1].startswith("A,3,") and lines[2].startswith("B,1,")
