"""HTTP routes of svc-booking, one module per capability; ``routers`` lists them for the app."""
from fastapi import APIRouter

from booking.api import bookings, gate, reports, venues
from booking.api.deps import ERROR_RESPONSES
from kit.audit import audit_router

# The kit's audit routes, with the error answers documented like every other route here.
audit = APIRouter(responses=ERROR_RESPONSES)
audit.include_router(audit_router("booking"))

routers = [venues.router, bookings.router, bookings.partner_router, gate.router, reports.router, audit]
