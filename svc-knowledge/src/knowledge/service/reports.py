"""The figures the bureau reports: resolution rate, unanswered questions, inspection (巡检) and
confirmation rates, policy deadlines."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.calendar import local_date
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


async def build(session: AsyncSession) -> dict[str, Any]:
    statuses = dict((await session.execute(select(Entry.status, func.count()).group_by(Entry.status))).all())
    policy = await entries.policy_deadlines(session)
    return {
        "entries": {s: statuses.get(s, 0) for s in ("draft", "in_review", "published", "retired")},
        "assistant": await conversations.resolution(session),
        "unanswered": await unanswered.summary(session),
        "inspection": await inspection(session),
        "policy": {"at_risk": len(policy["at_risk"]), "late": len(policy["late"]),
                   "waiting_for_calendar": len(policy["waiting_for_calendar"])},
    }
