"""svc-notifications' configuration (``NOTIFICATIONS_*`` variables): the only place it is read."""
from __future__ import annotations

from datetime import time
from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="NOTIFICATIONS_")
    service_name: ClassVar[str] = "notifications"
    port: int = 8007
    # E-mail (SMTP); an empty host switches the channel off.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_tls: bool = False
    mail_from: str = "noreply@lvrong.example.org"
    # SMS and 随申办 push gateways (the HTTP contract is in the README); an empty URL switches one off.
    sms_url: str = ""
    push_url: str = ""
    channel_token: SecretStr = SecretStr("")
    channel_timeout_seconds: float = 10.0
    # No SMS or push in this local period (Asia/Shanghai): deferred to its end, never dropped.
    quiet_hours: str = "22:00-08:00"
    delivery_interval_seconds: float = 1.0
    delivery_batch_size: int = 20
    # After this many failed attempts a delivery is given up (``failed``); between them the wait doubles.
    delivery_max_attempts: int = 6
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    # A comment line on a quiet live stream this often, so proxies keep it open.
    heartbeat_seconds: float = 15.0

    @property
    def quiet_period(self) -> tuple[time, time] | None:
        if not self.quiet_hours.strip():
            return None
        start, _, end = self.quiet_hours.partition("-")
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
