"""Routes of the working-day calendar kept by ops (submit, then a second person approves)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from helpdesk.api.deps import ERROR_RESPONSES, Ops, SettingsDep
from helpdesk.schemas import CalendarSubmissionView, CalendarSubmit, CalendarYearView
from helpdesk.service import calendar_admin as service
from kit.auth import Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules

router = APIRouter(tags=["calendar"], responses=ERROR_RESPONSES)
Year = Annotated[int, Path(ge=1900, le=2200)]
Reader = Annotated[Principal, Depends(require_roles(*[r for r in Role if r not in (Role.APPLICANT, Role.PARTNER)]))]


@router.get("/v1/calendar/{year}", dependencies=[needs_scope("helpdesk:read")],
            summary="A year of the working-day calendar as every service uses it, any pending submission, and the alarm")
async def get_year(session: SessionDep, principal: Reader, year: Year) -> CalendarYearView:
    return await service.year_view(session, year)


@router.put("/v1/calendar/{year}", dependencies=[needs_scope("helpdesk:admin")], status_code=202,
            openapi_extra=business_rules((422, "every holiday and make-up working day lies in `year`")),
            summary="Ops: submit a year's holidays and make-up working days (调休) for approval by a second ops person",
            responses={422: PROBLEM_RESPONSES[422]})
async def submit_year(database: DatabaseDep, principal: Ops, year: Year, body: CalendarSubmit) -> CalendarSubmissionView:
    return await service.submit_year(database, principal, year, body)


@router.post("/v1/calendar/{year}/approve", dependencies=[needs_scope("helpdesk:admin")],
             summary="Ops: approve the pending submission (not your own); every service uses it within moments",
             responses={409: PROBLEM_RESPONSES[409], 503: PROBLEM_RESPONSES[503]})
async def approve_year(database: DatabaseDep, settings: SettingsDep, principal: Ops, year: Year) -> CalendarSubmissionView:
    return await service.approve_year(database, principal, year, settings.nats_client)
