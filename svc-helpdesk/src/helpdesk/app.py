"""svc-helpdesk: 专业人工帮办、12345 转接、好差评与大厅排队 — human help, hotline transfers, ratings and hall queues."""
from __future__ import annotations

from datetime import time
from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from helpdesk.api import routers
from helpdesk.events import BACKGROUND_JOBS, SUBSCRIPTIONS
from helpdesk.service import sla
from kit.app import ServiceDefinition, create_service_app
from kit.calendar import WorkingHours
from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="HELPDESK_")
    service_name: ClassVar[str] = "helpdesk"
    port: int = 8004
    # Office periods of a working day, for clocks counted in working hours or days (Asia/Shanghai).
    office_hours: str = "09:00-12:00,13:00-17:00"
    # svc-matters (for a matter's department and a person's application); default: through the gateway.
    matters_url: str = ""
    sla_alert_interval_seconds: float = 1.0
    reassign_interval_seconds: float = 2.0
    # An assigned agent who has not answered within this many seconds loses the ticket to another agent.
    reassign_after_seconds: float = 30.0
    rectification_working_days: int = 5

    @property
    def matters_base_url(self) -> str:
        return self.matters_url or self.gateway_url

    @property
    def working_hours(self) -> WorkingHours:
        periods = []
        for part in self.office_hours.split(","):
            start, _, end = part.strip().partition("-")
            periods.append((time.fromisoformat(start), time.fromisoformat(end)))
        return WorkingHours(tuple(periods))


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
