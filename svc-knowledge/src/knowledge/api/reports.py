"""The figures the bureau reports, and the entries at risk of missing their policy deadline (staff)."""
from __future__ import annotations

from fastapi import APIRouter

from kit.auth import needs_scope
from kit.db import SessionDep
from knowledge.api.deps import ROUTER_PROBLEMS, Reader, Staff
from knowledge.schemas import PolicyDeadlines
from knowledge.service import entries, reports

router = APIRouter(tags=["knowledge"], responses=ROUTER_PROBLEMS)


@router.get("/v1/knowledge/policy-deadlines", dependencies=[needs_scope("knowledge:read")],
            summary="Entries linked to a policy that are at risk of missing, or "
            "missed, publication one working day before the policy takes effect (staff)")
async def policy_deadlines(session: SessionDep, _: Reader) -> PolicyDeadlines:
    return PolicyDeadlines.model_validate(await entries.policy_deadlines(session))


@router.get("/v1/knowledge/reports", dependencies=[needs_scope("knowledge:read")],
            summary="Resolution rate, unanswered questions, inspection and confirmation "
            "rates, policy deadlines (staff)")
async def get_reports(session: SessionDep, _: Staff) -> dict:
    return await reports.build(session)
