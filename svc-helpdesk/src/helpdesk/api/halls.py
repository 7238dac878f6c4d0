"""Routes of service halls: halls and their slots, appointments, check-in (取号), calls and handling."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from helpdesk.api.deps import ERROR_RESPONSES, HallStaff, Ops
from helpdesk.schemas import (
    AppointmentCreate,
    AppointmentView,
    CallRequest,
    CheckinCreate,
    HallCreate,
    HallView,
    SlotView,
    VisitView,
)
from helpdesk.service import halls as service
from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.openapi import business_rules
from kit.params import IsoDate

router = APIRouter(tags=["halls"], responses=ERROR_RESPONSES)
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/v1/halls", dependencies=[needs_scope("helpdesk:admin")],
             openapi_extra=business_rules((422, "opening periods are in order, do not overlap, and each closes after it opens")),
             status_code=201, summary="Ops: add a service hall",
             responses={409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def create_hall(database: DatabaseDep, principal: Ops, body: HallCreate) -> HallView:
    return await service.create_hall(database, body)


@router.get("/v1/halls", dependencies=[needs_scope("helpdesk:read")], summary="Service halls")
async def list_halls(session: SessionDep, principal: CurrentPrincipal) -> list[HallView]:
    return await service.list_halls(session)


@router.get("/v1/halls/{hall_id}/slots", dependencies=[needs_scope("helpdesk:read")],
            openapi_extra=business_rules((422, "`date` is from today to 60 days ahead")),
            summary="Time slots of a day with what is still free",
            responses={404: PROBLEM_RESPONSES[404]})
async def slots(session: SessionDep, principal: CurrentPrincipal, hall_id: Id,
                day: Annotated[IsoDate, Query(alias="date")]) -> list[SlotView]:
    return await service.slots(session, hall_id, day)


@router.post("/v1/appointments", dependencies=[needs_scope("helpdesk:write")],
             status_code=201, response_model=AppointmentView,
             summary="Book a time slot (capacity per slot; a cap per person per day)",
             responses={201: {"model": AppointmentView}, 404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409],
                        422: PROBLEM_RESPONSES[422]})
async def book(response: Response, database: DatabaseDep, body: AppointmentCreate, principal: CurrentPrincipal,
               idempotency_key: IdempotencyKey = None) -> AppointmentView:
    appointment = await service.book(database, principal, body, idempotency_key)
    response.headers["Location"] = f"/v1/appointments/{appointment.id}"
    return appointment


@router.get("/v1/appointments", dependencies=[needs_scope("helpdesk:read")],
            summary="Appointments: an applicant's own, hall staff every one")
async def list_appointments(session: SessionDep, principal: CurrentPrincipal,
                            hall_id: Annotated[str | None, Query(max_length=64)] = None,
                            day: Annotated[IsoDate | None, Query(alias="date")] = None,
                            limit: Annotated[int, Query(ge=1, le=200)] = 50,
                            offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> list[AppointmentView]:
    return await service.list_appointments(session, principal, hall_id=hall_id, day=day, limit=limit, offset=offset)


@router.post("/v1/appointments/{appointment_id}/cancel", dependencies=[needs_scope("helpdesk:write")],
             summary="Cancel a booking (frees its place)",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def cancel(database: DatabaseDep, principal: CurrentPrincipal, appointment_id: Id) -> AppointmentView:
    return await service.cancel(database, principal, appointment_id)


@router.post("/v1/queue/checkins", dependencies=[needs_scope("helpdesk:write")],
             status_code=201, response_model=VisitView,
             summary="Check in and take a number (取号), with or without an appointment; elderly and disabled "
                     "visitors are called first",
             responses={201: {"model": VisitView}, 404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409],
                        422: PROBLEM_RESPONSES[422]})
async def check_in(database: DatabaseDep, body: CheckinCreate, principal: CurrentPrincipal,
                   idempotency_key: IdempotencyKey = None) -> VisitView:
    return await service.check_in(database, principal, body, idempotency_key)


@router.get("/v1/queue/visits/{visit_id}", dependencies=[needs_scope("helpdesk:read")],
            summary="A queue number: status, place in the queue, wait and handling",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_visit(session: SessionDep, principal: CurrentPrincipal, visit_id: Id) -> VisitView:
    return await service.get_visit(session, principal, visit_id)


@router.get("/v1/halls/{hall_id}/visits", dependencies=[needs_scope("helpdesk:read")],
            summary="Hall staff: the day's queue")
async def list_visits(session: SessionDep, principal: HallStaff, hall_id: Id,
                      day: Annotated[IsoDate, Query(alias="date")],
                      status: Annotated[str | None, Query(pattern=r"^(waiting|called|handling|done|no_show)$")] = None,
                      ) -> list[VisitView]:
    return await service.list_visits(session, hall_id, day, status)


@router.post("/v1/halls/{hall_id}/calls", dependencies=[needs_scope("helpdesk:handle")],
             openapi_extra=business_rules((422, "`window` is one of the hall's windows")),
             summary="Call the next visitor to a window",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def call_next(database: DatabaseDep, principal: HallStaff, hall_id: Id, body: CallRequest) -> VisitView:
    return await service.call_next(database, principal, hall_id, body.window)


@router.post("/v1/queue/visits/{visit_id}/actions/{action}", dependencies=[needs_scope("helpdesk:handle")],
             summary="start, finish or no_show",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def act_on_visit(database: DatabaseDep, principal: HallStaff, visit_id: Id,
                       action: Annotated[str, Path(max_length=16, pattern=r"^[a-z_]+$")]) -> VisitView:
    return await service.act_on_visit(database, principal, visit_id, action)
