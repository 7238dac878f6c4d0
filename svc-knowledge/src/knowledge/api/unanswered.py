"""Questions the assistant could not answer, grouped, each group due within 5 working days (staff)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from kit.auth import needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.pagination import LimitQuery, Page
from knowledge.api.deps import ROUTER_PROBLEMS, Editor, GroupId, Staff
from knowledge.schemas import ResolveGroup, UnansweredGroupView
from knowledge.service import unanswered

router = APIRouter(tags=["knowledge"], responses=ROUTER_PROBLEMS)


@router.get("/v1/knowledge/unanswered", dependencies=[needs_scope("knowledge:read")],
            summary="Groups of questions the assistant could not answer, each due in 5 "
            "working days (staff)")
async def list_unanswered(session: SessionDep, _: Staff,
                          state: Annotated[Literal["open", "due", "late", "resolved", "all"], Query()] = "open",
                          limit: LimitQuery = 50) -> Page[UnansweredGroupView]:
    return Page[UnansweredGroupView](items=await unanswered.list_groups(session, state, limit))


@router.post("/v1/knowledge/unanswered/{group_id}/resolve", dependencies=[needs_scope("knowledge:write")],
             summary="Resolve a group by linking the entry that "
             "answers it (knowledge_editor)", responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def resolve_unanswered(database: DatabaseDep, principal: Editor, group_id: GroupId, body: ResolveGroup
                             ) -> UnansweredGroupView:
    return await unanswered.resolve(database, principal, group_id, body.entry_id)
