"""The configuration of svc-knowledge (``KNOWLEDGE_*`` variables)."""
from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="KNOWLEDGE_")
    service_name: ClassVar[str] = "knowledge"
    uses_data_protection: ClassVar[bool] = False
    port: int = 8005
    policy_check_interval_seconds: float = 300.0
    # Import and publish the shipped FAQ corpus when the knowledge base is empty (first start).
    seed_on_empty: bool = True
