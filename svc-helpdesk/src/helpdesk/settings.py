"""svc-helpdesk's configuration (``HELPDESK_*`` variables): the only place it is read."""
from __future__ import annotations

from datetime import time
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

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
