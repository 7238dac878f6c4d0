"""Unanswered questions (无法回答的问题): groups of similar questions, each due within 5 working days;
editors resolve a group by linking an entry (an existing one, or one written or proposed for it)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit import kpi
from kit.auth import Principal
from kit.calendar import local_date as today
from kit.db import Database
from kit.errors import Conflict, NotFound
from knowledge import messages
from knowledge.models import UnansweredGroup, UnansweredQuestion
from knowledge.schemas import UnansweredGroupView
from knowledge.service.entries import get_entry


def _view(group: UnansweredGroup, examples: list[str]) -> UnansweredGroupView:
    return UnansweredGroupView(
        id=group.id, question=group.question, matter=group.matter, count=group.count, status=group.status,
        due_date=group.due_date, overdue=group.status == "open" and group.due_date < today(),
        first_asked_at=group.first_asked_at, last_asked_at=group.last_asked_at, entry_id=group.entry_id,
        examples=examples)


async def list_groups(session: AsyncSession, state: str | None, limit: int) -> list[UnansweredGroupView]:
    """``state``: open, due (open, due today or earlier), late (open, past due), resolved."""
    query = select(UnansweredGroup)
    if state in ("open", "due", "late"):
        query = query.where(UnansweredGroup.status == "open")
        if state == "due":
            query = query.where(UnansweredGroup.due_date <= today())
        elif state == "late":
            query = query.where(UnansweredGroup.due_date < today())
    elif state == "resolved":
        query = query.where(UnansweredGroup.status == "resolved")
    groups = (await session.execute(query.order_by(UnansweredGroup.due_date, UnansweredGroup.id).limit(limit))).scalars().all()
    out = []
    for g in groups:
        examples = (await session.execute(select(UnansweredQuestion.question).where(UnansweredQuestion.group_id == g.id)
                                          .order_by(UnansweredQuestion.asked_at.desc()).limit(3))).scalars().all()
        out.append(_view(g, list(examples)))
    return out


async def resolve(database: Database, principal: Principal, group_id: str, entry_id: str) -> UnansweredGroupView:
    async with database.transaction() as session:
        group = (await session.execute(select(UnansweredGroup).where(UnansweredGroup.id == group_id).with_for_update())
                 ).scalar_one_or_none()
        if group is None:
            raise NotFound(messages.GROUP_NOT_FOUND)
        if group.status == "resolved":
            raise Conflict(messages.GROUP_ALREADY_RESOLVED, entry_id=group.entry_id)
        await get_entry(session, entry_id)
        group.status, group.entry_id = "resolved", entry_id
        group.resolved_by, group.resolved_at = principal.subject, datetime.now(UTC)
        return _view(group, [])


async def link_conversation(session: AsyncSession, conversation_id: str, entry_id: str) -> None:
    """Note on the open group of a conversation which draft entry a help-desk answer became; the
    group is resolved when an editor confirms it (the draft still needs review)."""
    group_id = (await session.execute(select(UnansweredQuestion.group_id).where(
        UnansweredQuestion.conversation_id == conversation_id).limit(1))).scalar_one_or_none()
    if group_id:
        group = await session.get(UnansweredGroup, group_id, with_for_update=True)
        if group and group.status == "open" and not group.entry_id:
            group.entry_id = entry_id


async def summary(session: AsyncSession, period: kpi.Period) -> dict[str, Any]:
    """The question groups first asked in the period: open, due, late (now), answered (on time)."""
    now = today()
    row = (await session.execute(select(
        func.count().filter(UnansweredGroup.status == "open").label("open"),
        func.count().filter(UnansweredGroup.status == "open", UnansweredGroup.due_date <= now).label("due"),
        func.count().filter(UnansweredGroup.status == "open", UnansweredGroup.due_date < now).label("late"),
        func.count().filter(UnansweredGroup.status == "resolved").label("resolved"),
        func.count().filter(UnansweredGroup.status == "resolved",
                            func.date(func.timezone("Asia/Shanghai", UnansweredGroup.resolved_at))
                            <= UnansweredGroup.due_date).label("resolved_on_time"),
        func.coalesce(func.sum(UnansweredGroup.count), 0).label("questions"),
    ).where(UnansweredGroup.first_asked_at >= period.start, UnansweredGroup.first_asked_at < period.end))).one()
    return {"open": row.open, "due": row.due, "late": row.late, "resolved": row.resolved,
            "resolved_on_time": row.resolved_on_time, "questions": int(row.questions),
            "on_time_rate": kpi.ratio(row.resolved_on_time, row.resolved)}
