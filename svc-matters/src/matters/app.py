"""svc-matters: the catalogue of matters (事项) and the life of applications (办件)."""
from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from kit.app import Runtime, ServiceDefinition, create_service_app
from kit.calendar import local_date
from kit.page_cache import PageCache, follow_generation
from kit.scheduling import every
from matters.api import routers
from matters.events import SUBSCRIPTIONS
from matters.service import catalogue, clock, live, stalls
from matters.settings import Settings, effective_thresholds


async def clock_warnings(runtime: Runtime) -> None:
    """Warn at 50%, 80% and 100% of every statutory clock, once across replicas."""

    async def tick(session: AsyncSession) -> int:
        return await clock.send_due_warnings(session, local_date(datetime.now(UTC)))

    settings = runtime.settings
    assert isinstance(settings, Settings)
    await every(runtime.database, "matters.clock-warnings", settings.clock_warning_interval_seconds, tick)


async def stall_detection(runtime: Runtime) -> None:
    """Open and close stalls, once per tick across replicas."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    job = stalls.detection_job(effective_thresholds(settings.stall_thresholds), batch=settings.stall_batch_size)
    await every(runtime.database, "matters.stall-detection", settings.stall_detection_interval_seconds, job)


async def catalogue_announcements(runtime: Runtime) -> None:
    """Announce every current matter version again, once per interval across replicas."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    interval = settings.catalogue_announce_interval_seconds
    await every(runtime.database, "matters.catalogue-announcements", interval, catalogue.reannouncement_job(interval))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    hub = live.LiveHub(queue_size=settings.live_queue_size, heartbeat_seconds=settings.live_heartbeat_seconds)
    catalogue_pages = PageCache("catalogue")

    async def live_status(runtime: Runtime) -> None:
        """Every replica hears every status change and pushes it to the streams it holds."""
        await live.run_fanout(runtime.bus, hub)

    async def catalogue_pages_current(runtime: Runtime) -> None:
        """Every replica drops its catalogue pages within a second of a change made anywhere."""
        await follow_generation(catalogue_pages, lambda: catalogue.generation(runtime.database))

    app = create_service_app(ServiceDefinition(
        settings=settings,
        title="svc-matters",
        description="事项目录与办件全流程 — the catalogue of matters and the life of applications",
        routers=routers,
        subscriptions=SUBSCRIPTIONS,
        background_jobs=[clock_warnings, stall_detection, catalogue_announcements, live_status,
                         catalogue_pages_current],
        audit_trail=True,
        openapi_tags=[{"name": "matters", "description": "事项 — matters and their guides"},
                      {"name": "applications", "description": "办件 — applications, status and timeline"}],
    ))
    app.state.live_hub = hub
    app.state.catalogue_pages = catalogue_pages
    app.state.stall_thresholds = effective_thresholds(settings.stall_thresholds)
    return app
