"""svc-helpdesk: 专业人工帮办、12345 转接、好差评与大厅排队 — human help, hotline transfers, ratings and hall queues."""
from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from kit.app import ServiceDefinition, create_service_app
from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="HELPDESK_")
    service_name: ClassVar[str] = "helpdesk"
    port: int = 8004


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-helpdesk",
        description="专业人工帮办、12345 转接、好差评与大厅排队 — human help, hotline transfers, ratings and hall queues",
    ))
