"""svc-matters: the catalogue of matters (事项) and the life of applications (办件)."""
from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from kit.app import ServiceDefinition, create_service_app
from kit.settings import ServiceSettings
from matters.api import router
from matters.events import SUBSCRIPTIONS


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="MATTERS_")
    service_name: ClassVar[str] = "matters"
    port: int = 8001


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-matters",
        description="事项目录与办件全流程 — the catalogue of matters and the life of applications",
        routers=[router],
        subscriptions=SUBSCRIPTIONS,
        openapi_tags=[{"name": "matters", "description": "事项 — matters and their guides"},
                      {"name": "applications", "description": "办件 — applications, status and timeline"}],
    ))
