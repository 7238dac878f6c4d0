"""Routes of the staff's view of a venue's day: figures and the bookings (masked, reads audited)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from booking.api.deps import ERROR_RESPONSES, Id, ReportReader
from booking.schemas import BookingStatus, BookingView, DayReport
from booking.service import reports as service
from kit.auth import needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.params import IsoDate

router = APIRouter(tags=["booking reports"], responses=ERROR_RESPONSES)


@router.get("/v1/booking/venues/{venue_id}/report", dependencies=[needs_scope("visitors:read")],
            summary="A venue's day: capacity, booked, entered, cancelled, no-show, waiting, per slot",
            description="For the venue's own staff, ops and inspectors; staff of another venue get 403 `not_staff_of_venue`.",
            responses={404: PROBLEM_RESPONSES[404]})
async def day_report(session: SessionDep, principal: ReportReader, venue_id: Id,
                     day: Annotated[IsoDate, Query(alias="date")]) -> DayReport:
    return await service.day_report(session, principal, venue_id, day)


@router.get("/v1/booking/venues/{venue_id}/bookings", dependencies=[needs_scope("visitors:read")],
            summary="A venue's bookings of a day (persons masked; the read is audited)",
            description="For the venue's own staff, ops and inspectors; staff of another venue get 403 `not_staff_of_venue`.",
            responses={404: PROBLEM_RESPONSES[404]})
async def day_bookings(database: DatabaseDep, principal: ReportReader, venue_id: Id,
                       day: Annotated[IsoDate, Query(alias="date")],
                       status: Annotated[BookingStatus | None, Query()] = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[BookingView]:
    return await service.day_bookings(database, principal, venue_id, day, status, limit)
