"""The figures the bureau reports: resolution rate, unanswered questions, inspection (巡检) and
confirmation rates, policy deadlines — each with its definition (kit.kpi).

The assistant's figures count the conversations started in the period; the unanswered questions
those first asked in the period; inspection, knowledge confirmation and policy deadlines are "now"
(the state of the knowledge base when the report is made), as their definitions say."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit import kpi
from kit.calendar import local_date
from knowledge import messages as M
from knowledge.models import Entry, EntryEvent
from knowledge.service import conversations, entries, unanswered


async def inspection(session: AsyncSession) -> dict[str, Any]:
    """Confirmation rate: published entries whose inspection is not overdue (confirmed, or published or
    revised, within the cycle) over all published entries. Inspection rate: inspections done in the
    last cycle over those done plus those now overdue."""
    now = local_date()
    row = (await session.execute(select(
        func.count().label("published"),
        func.count().filter(Entry.next_inspection_due < now).label("overdue"),
        func.count().filter(Entry.next_inspection_due == now).label("due_today"),
    ).where(Entry.live.is_(True)))).one()
    since = datetime.now(UTC) - timedelta(days=entries.INSPECTION_INTERVAL_DAYS)
    confirmed = (await session.execute(select(func.count()).select_from(EntryEvent).where(
        EntryEvent.action == "confirmed", EntryEvent.at >= since))).scalar_one()
    current = row.published - row.overdue
    return {"published": row.published, "overdue": row.overdue, "due_today": row.due_today,
            "confirmed_in_cycle": confirmed, "interval_days": entries.INSPECTION_INTERVAL_DAYS,
            "confirmation_rate": round(current / row.published, 4) if row.published else None,
            "inspection_rate": round(confirmed / (confirmed + row.overdue), 4) if confirmed + row.overdue else None}


PLAN_ITEM_10 = "2023年工作方案附件 第10项 / work plan 2023, annex item 10"
PLAN_ITEM_36 = "2023年工作方案附件 第36项 / work plan 2023, annex item 36"
# What each figure means, by section and name, returned beside the figures.
DEFINITIONS: dict[str, dict[str, kpi.Definition]] = {
    "assistant": {
        "sessions": kpi.count(M.KPI_SESSIONS, M.KPI_SESSIONS_WHAT),
        "resolved": kpi.count(M.KPI_RESOLVED, M.KPI_RESOLVED_WHAT),
        "not_resolved": kpi.count(M.KPI_NOT_RESOLVED, M.KPI_NOT_RESOLVED_WHAT),
        "unconfirmed": kpi.count(M.KPI_UNCONFIRMED, M.KPI_UNCONFIRMED_WHAT),
        "handed_over": kpi.count(M.KPI_HANDED_OVER, M.KPI_HANDED_OVER_WHAT),
        "resolution_rate": kpi.rate(M.KPI_RESOLUTION_RATE, M.KPI_RESOLVED_WHAT, M.KPI_SESSIONS_WHAT, target=0.6,
                                    source=PLAN_ITEM_10),
        "confirmation_rate": kpi.rate(M.KPI_CONFIRMATION_RATE, M.KPI_CONFIRMED_WHAT, M.KPI_ANSWERED_WHAT),
        "answers_unconfirmed": kpi.count(M.KPI_ANSWERS_UNCONFIRMED, M.KPI_ANSWERS_UNCONFIRMED_WHAT),
    },
    "unanswered": {
        "on_time_rate": kpi.rate(M.KPI_UNANSWERED_ON_TIME, M.KPI_UNANSWERED_ON_TIME_WHAT, M.KPI_UNANSWERED_RESOLVED_WHAT,
                                 target=1.0, source=PLAN_ITEM_36),
    },
    "inspection": {
        "confirmation_rate": kpi.rate(M.KPI_KNOWLEDGE_CONFIRMATION, M.KPI_KNOWLEDGE_CURRENT_WHAT, M.KPI_PUBLISHED_WHAT),
        "inspection_rate": kpi.rate(M.KPI_INSPECTION_RATE, M.KPI_INSPECTED_WHAT, M.KPI_INSPECTION_DUE_WHAT),
    },
}


async def build(session: AsyncSession, period: kpi.Period) -> dict[str, Any]:
    statuses = dict((await session.execute(select(Entry.status, func.count()).group_by(Entry.status))).all())
    policy = await entries.policy_deadlines(session)
    return {
        **period.model_dump(mode="json", by_alias=True),
        "definitions": {k: {n: d.model_dump() for n, d in v.items()} for k, v in DEFINITIONS.items()},
        "entries": {s: statuses.get(s, 0) for s in ("draft", "in_review", "published", "retired")},
        "assistant": await conversations.resolution(session, period),
        "unanswered": await unanswered.summary(session, period),
        "inspection": await inspection(session),
        "policy": {"at_risk": len(policy["at_risk"]), "late": len(policy["late"]),
                   "waiting_for_calendar": len(policy["waiting_for_calendar"])},
    }
