"""HTTP routes of svc-helpdesk, one module per capability; ``routers`` lists them for the app."""
from fastapi import APIRouter

from helpdesk.api import calendar, halls, hotline, ratings, reports, tickets
from helpdesk.api.deps import ERROR_RESPONSES
from kit.audit import audit_router

# The kit's audit routes, with the error answers documented like every other route here.
audit = APIRouter(responses=ERROR_RESPONSES)
audit.include_router(audit_router("helpdesk"))

routers = [tickets.router, tickets.desk_router, hotline.router, ratings.router, halls.router, reports.router,
           calendar.router, audit]
