"""Routes of bookings, made two ways with the same rules: by the person with our login (applicant token,
``/v1/booking/bookings``) and by a partner province's app on the person's behalf (partner client token,
the same ``booking:write``, ``/v1/booking/partner/bookings``). Each caller sees and cancels the bookings it made."""
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from booking.api.deps import ERROR_RESPONSES, PARTNER, PERSON, Id, SettingsDep
from booking.schemas import BookingCreate, BookingView
from booking.service import bookings as service
from kit.auth import Principal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.openapi import business_rules

BOOKING_RULES = business_rules(
    (422, "the day is from today to the booking horizon, the venue is open and the slot has not started"),
    (409, "one booking per person (resident ID number) per venue per day; the slot has a place (or wait_if_full)"),
    (403, "a person blocked after repeated no-shows may not book"))


def booking_router(base: str, tag: str, caller: Any, write_scope: str, read_scope: str, whose: str) -> APIRouter:
    """The four routes of bookings under ``base`` for callers of type ``caller`` (``Person`` or ``Partner``)."""
    router = APIRouter(tags=[tag], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, caller]

    @router.post(base, dependencies=[needs_scope(write_scope)], status_code=201, response_model=BookingView,
                 openapi_extra=BOOKING_RULES, operation_id=f"{tag.replace(' ', '_')}_book",
                 summary="Book a place in a time slot by real name (or join its waiting list when full)",
                 responses={201: {"model": BookingView}, 404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409],
                            422: PROBLEM_RESPONSES[422]})
    async def book(response: Response, database: DatabaseDep, principal: Caller, settings: SettingsDep,
                   body: BookingCreate, idempotency_key: IdempotencyKey = None) -> BookingView:
        booking = await service.book(database, principal, body, settings, idempotency_key)
        response.headers["Location"] = f"{base}/{booking.id}"
        return booking

    @router.get(base, dependencies=[needs_scope(read_scope)], operation_id=f"{tag.replace(' ', '_')}_list",
                summary=f"The bookings {whose}, newest first")
    async def list_bookings(session: SessionDep, principal: Caller,
                            limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[BookingView]:
        return await service.list_own(session, principal, limit)

    @router.get(base + "/{booking_id}", dependencies=[needs_scope(read_scope)],
                operation_id=f"{tag.replace(' ', '_')}_get",
                summary=f"One of the bookings {whose} (the person masked)", responses={404: PROBLEM_RESPONSES[404]})
    async def get_booking(session: SessionDep, principal: Caller, booking_id: Id) -> BookingView:
        return await service.get_own(session, principal, booking_id)

    @router.post(base + "/{booking_id}/cancel", dependencies=[needs_scope(write_scope)],
                 operation_id=f"{tag.replace(' ', '_')}_cancel",
                 openapi_extra=business_rules((409, "until the cut-off before the slot starts")),
                 summary=f"Cancel one of the bookings {whose} (its place goes to the first on the waiting list)",
                 responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
    async def cancel(database: DatabaseDep, principal: Caller, settings: SettingsDep, booking_id: Id) -> BookingView:
        return await service.cancel(database, principal, booking_id, settings)

    return router


router = booking_router("/v1/booking/bookings", "bookings", PERSON, "booking:write", "booking:read",
                        "I made")
partner_router = booking_router("/v1/booking/partner/bookings", "partner bookings", PARTNER,
                                "booking:write", "booking:read", "this partner made")
