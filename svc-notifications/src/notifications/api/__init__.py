"""HTTP routes of svc-notifications; ``routers`` lists them for the app."""
from fastapi import APIRouter

from kit.audit import audit_router
from notifications.api import inbox
from notifications.api.deps import ERROR_RESPONSES

audit = APIRouter(responses=ERROR_RESPONSES)
audit.include_router(audit_router("notifications"))

routers = [inbox.router, audit]
