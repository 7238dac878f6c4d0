"""svc-matters: the catalogue of matters (事项) and the life of applications (办件)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from kit.app import Runtime, ServiceDefinition, create_service_app
from kit.scheduling import every
from kit.settings import ServiceSettings
from matters.api import routers
from matters.events import SUBSCRIPTIONS
from matters.service import clock


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="MATTERS_")
    service_name: ClassVar[str] = "matters"
    port: int = 8001
    clock_warning_interval_seconds: float = 60.0
    blob_dir: Path = Path("var/blobs")
    max_material_bytes: int = 20 * 1024 * 1024


async def clock_warnings(runtime: Runtime) -> None:
    """Warn at 50%, 80% and 100% of every statutory clock, once across replicas."""

    async def tick(session: AsyncSession) -> int:
        return await clock.send_due_warnings(session, clock.local_date(datetime.now(UTC)))

    await every(runtime.database, "matters.clock-warnings", runtime.settings.clock_warning_interval_seconds, tick)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-matters",
        description="事项目录与办件全流程 — the catalogue of matters and the life of applications",
        routers=routers,
        subscriptions=SUBSCRIPTIONS,
        background_jobs=[clock_warnings],
        openapi_tags=[{"name": "matters", "description": "事项 — matters and their guides"},
                      {"name": "applications", "description": "办件 — applications, status and timeline"}],
    ))
