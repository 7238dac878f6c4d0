"""Routes of venues: the list, a day's slots with their places, and ops' upkeep (venues, closed days, capacity)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from booking.api.deps import ERROR_RESPONSES, Id, Ops, SlotStart
from booking.schemas import CapacitySet, ClosedDayCreate, ClosedDayView, Province, SlotView, VenueCreate, VenueView
from booking.service import venues as service
from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from kit.params import IsoDate

router = APIRouter(tags=["venues"], responses=ERROR_RESPONSES)


@router.get("/v1/booking/venues", dependencies=[needs_scope("booking:read")],
            summary="Zoos and botanical gardens of 三省一市")
async def list_venues(session: SessionDep, principal: CurrentPrincipal,
                      province: Annotated[Province | None, Query()] = None) -> list[VenueView]:
    return await service.list_venues(session, province)


@router.post("/v1/booking/venues", dependencies=[needs_scope("booking:admin")], status_code=201,
             openapi_extra=business_rules((422, "slots are in order, do not overlap, and each ends after it starts")),
             summary="Ops: add a venue with its time slots and weekly closing",
             responses={409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def create_venue(database: DatabaseDep, principal: Ops, body: VenueCreate) -> VenueView:
    return await service.create_venue(database, body)


@router.get("/v1/booking/venues/{venue_id}/slots", dependencies=[needs_scope("booking:read")],
            summary="A day's time slots with the places left and the waiting list (none on a closed day)",
            responses={404: PROBLEM_RESPONSES[404]})
async def slots(session: SessionDep, principal: CurrentPrincipal, venue_id: Id,
                day: Annotated[IsoDate, Query(alias="date")]) -> list[SlotView]:
    return await service.slots_of(session, venue_id, day)


@router.get("/v1/booking/venues/{venue_id}/closed-days", dependencies=[needs_scope("booking:read")],
            summary="Days the venue is closed besides its weekly closing", responses={404: PROBLEM_RESPONSES[404]})
async def closed_days(session: SessionDep, principal: CurrentPrincipal, venue_id: Id) -> list[ClosedDayView]:
    return await service.list_closed_days(session, venue_id)


@router.put("/v1/booking/venues/{venue_id}/closed-days", dependencies=[needs_scope("booking:admin")],
            summary="Ops: close the venue on a day (no more bookings that day)", responses={404: PROBLEM_RESPONSES[404]})
async def close_day(database: DatabaseDep, principal: Ops, venue_id: Id, body: ClosedDayCreate) -> ClosedDayView:
    return await service.close_day(database, venue_id, body)


@router.put("/v1/booking/venues/{venue_id}/days/{day}/slots/{start}/capacity", dependencies=[needs_scope("booking:admin")],
            openapi_extra=business_rules((422, "the capacity is not below the places already taken")),
            summary="Ops: one day's capacity of one slot", responses={404: PROBLEM_RESPONSES[404]})
async def set_capacity(database: DatabaseDep, principal: Ops, venue_id: Id, day: IsoDate, start: SlotStart,
                       body: CapacitySet) -> SlotView:
    return await service.set_capacity(database, venue_id, day, start, body)
