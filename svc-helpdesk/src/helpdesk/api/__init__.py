"""HTTP routes of svc-helpdesk, one module per capability; ``routers`` lists them for the app."""
from helpdesk.api import calendar, halls, hotline, ratings, reports, tickets
from kit.audit import audit_router

routers = [tickets.router, tickets.desk_router, hotline.router, ratings.router, halls.router, reports.router,
           calendar.router, audit_router("helpdesk")]
