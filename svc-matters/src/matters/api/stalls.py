"""HTTP routes of stalls (堵点): the list, acknowledge and resolve, the ranking, the thresholds."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from kit.auth import Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from kit.pagination import CursorQuery, LimitQuery, Page
from kit.params import IsoDate
from matters.api.deps import StallThresholdsDep
from matters.schemas import ApplicationStatus
from matters.service import cockpit, stalls
from matters.service.stalls import StallRanking, StallView, ThresholdView

router = APIRouter(tags=["stalls"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

# Ops and inspectors see every department's stalls; officers and reviewers their own department's.
Staff = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR, Role.WINDOW_OFFICER, Role.REVIEWER))]
StallId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="What was done (处理说明)")


@router.get("/v1/stalls", dependencies=[needs_scope("applications:read")],
            summary="Stalls (堵点), newest first: applications idle in a status past its threshold")
async def list_stalls(
    session: SessionDep, principal: Staff, limit: LimitQuery = 20, cursor: CursorQuery = None,
    matter: Annotated[str | None, Query(max_length=32, description="Matter code")] = None,
    status: ApplicationStatus | None = None,
    open: Annotated[bool | None, Query(description="Only open (true) or only resolved (false) stalls")] = None,
    application: Annotated[str | None, Query(max_length=32, description="One application's stalls")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[StallView]:
    return await stalls.list_stalls(session, principal, limit=limit, cursor=cursor, matter_code=matter, status=status,
                                    open_only=open, application_id=application, department=department)


@router.get("/v1/stalls/thresholds", dependencies=[needs_scope("applications:read")],
            summary="How long each status may last before it is a stall (in force now)")
async def thresholds(in_force: StallThresholdsDep, principal: Staff) -> list[ThresholdView]:
    return stalls.thresholds_view(in_force)


@router.get("/v1/stalls/ranking", dependencies=[needs_scope("applications:read")],
            openapi_extra=business_rules((422, "`from` is not after `to`, the period spans at most 366 days within the years 2000–2100")),
            summary="Matters and statuses ranked by stalls opened in the period and time lost",
            description="Stalls opened between `from` and `to` (Asia/Shanghai dates, default: this month). "
                        "`hours_lost` is the time idle beyond the threshold, until resolved or now.",
            responses={422: PROBLEM_RESPONSES[422]})
async def ranking(
    session: SessionDep, principal: Staff,
    from_date: Annotated[IsoDate | None, Query(alias="from")] = None,
    to_date: Annotated[IsoDate | None, Query(alias="to")] = None,
    order: Annotated[Literal["stalls", "hours_lost"], Query(description="Rank by stall count or by time lost")] = "stalls",
) -> StallRanking:
    start, end = cockpit.period(from_date, to_date)
    return await stalls.ranking(session, principal, from_date=start, to_date=end, order=order)


@router.post("/v1/stalls/{stall_id}/acknowledge", dependencies=[needs_scope("stalls:write")],
             summary="Take a stall on: the caller becomes its owner",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def acknowledge(database: DatabaseDep, principal: Staff, stall_id: StallId) -> StallView:
    return await stalls.acknowledge(database, principal, stall_id)


@router.post("/v1/stalls/{stall_id}/resolve", dependencies=[needs_scope("stalls:write")],
             summary="Close a stall by hand, saying what was done",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def resolve(database: DatabaseDep, principal: Staff, stall_id: StallId, body: ResolveRequest) -> StallView:
    return await stalls.resolve(database, principal, stall_id, body.reason.strip())
