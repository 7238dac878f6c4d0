"""svc-helpdesk: 专业人工帮办、12345 转接、好差评与大厅排队 — human help, hotline transfers, ratings and hall queues."""
from __future__ import annotations

from fastapi import FastAPI

from helpdesk.api import routers
from helpdesk.events import BACKGROUND_JOBS, SUBSCRIPTIONS
from helpdesk.service import sla
from helpdesk.settings import Settings
from kit.app import ServiceDefinition, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    sla.configure(settings.working_hours)
    return create_service_app(ServiceDefinition(
        settings=settings,
        title="svc-helpdesk",
        description="专业人工帮办、12345 转接、好差评与大厅排队 — human help with SLA clocks on the working-day "
                    "calendar, hotline transfers, ratings and their rectification, hall appointments and queues",
        routers=routers,
        subscriptions=SUBSCRIPTIONS,
        background_jobs=BACKGROUND_JOBS,
        audit_trail=True,
        openapi_tags=[{"name": "tickets", "description": "专业人工帮办 — help sessions and tickets with SLA clocks"},
                      {"name": "help desk", "description": "Agents, queues, SLA policies"},
                      {"name": "hotline", "description": "12345 三方转接 — transfer attempts"},
                      {"name": "ratings", "description": "好差评 — ratings and rectification of bad ones"},
                      {"name": "halls", "description": "大厅 — appointments, check-in, queue, windows"},
                      {"name": "reports", "description": "Measured figures of every promise"},
                      {"name": "calendar", "description": "工作日历 — holidays and make-up working days kept by ops"}],
    ))
