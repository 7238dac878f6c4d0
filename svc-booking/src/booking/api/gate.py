"""Route of the gate: the real-name entry check (实名核验入园) by booking code or resident ID number."""
from __future__ import annotations

from fastapi import APIRouter

from booking.api.deps import ERROR_RESPONSES, GateStaff, SettingsDep
from booking.schemas import BookingView, EntryCheck
from booking.service import gate as service
from kit.auth import needs_scope
from kit.db import DatabaseDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules

router = APIRouter(tags=["gate"], responses=ERROR_RESPONSES)


@router.post("/v1/booking/gate/entries", dependencies=[needs_scope("booking:verify")],
             openapi_extra=business_rules(
                 (403, "the caller is staff of another venue (`not_staff_of_venue`)"),
                 (422, "exactly one of `code` and `id_number` is given"),
                 (404, "no booking has this code or ID number"),
                 (409, "refused with `reason`: wrong_venue, wrong_day, too_early, too_late, or the booking's status "
                       "(entered: admitted once already; cancelled, waiting, no_show)")),
             summary="Gate staff: admit the holder of a booking of this venue today, once",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def admit(database: DatabaseDep, principal: GateStaff, settings: SettingsDep, body: EntryCheck) -> BookingView:
    return await service.admit(database, principal, body, settings)
