"""svc-prequal's configuration: the only place it is read (``PREQUAL_*`` variables)."""
from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="PREQUAL_")
    service_name: ClassVar[str] = "prequal"
    port: int = 8002
