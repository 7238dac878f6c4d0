"""svc-licences: 电子证照 — electronic licences: issuing, signing, 亮证, verification and status."""
from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from kit.app import ServiceDefinition, create_service_app
from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="LICENCES_")
    service_name: ClassVar[str] = "licences"
    port: int = 8003


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-licences",
        description="电子证照 — electronic licences: issuing, signing, 亮证, verification and status",
    ))
