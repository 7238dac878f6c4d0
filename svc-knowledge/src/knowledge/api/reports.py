"""The figures the bureau reports, and the entries at risk of missing their policy deadline (staff)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kit import kpi
from kit.auth import needs_scope
from kit.db import SessionDep
from kit.openapi import business_rules
from kit.params import IsoDate
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
            openapi_extra=business_rules((422, "`from` is not after `to`, the period spans at most 366 days within "
                                               "the years 2000–2100")),
            summary="Resolution rate, unanswered questions, inspection and confirmation "
            "rates, policy deadlines for a period, each with its definition (staff)",
            description=reports.__doc__ or "")
async def get_reports(
    session: SessionDep, _: Staff,
    from_date: Annotated[IsoDate | None, Query(alias="from", description="First day (Asia/Shanghai), default: 1st of this month")] = None,
    to_date: Annotated[IsoDate | None, Query(alias="to", description="Last day (Asia/Shanghai), default: today")] = None,
) -> dict:
    return await reports.build(session, kpi.period(from_date, to_date))
