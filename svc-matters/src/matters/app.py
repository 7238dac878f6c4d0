"""svc-matters: the catalogue of matters (事项) and the life of applications (办件)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from fastapi import FastAPI
from pydantic import field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from kit.app import Runtime, ServiceDefinition, create_service_app
from kit.events.streams import DAY, LONGEST_EVENT_AGE_SECONDS
from kit.scheduling import every
from kit.settings import ServiceSettings, writable_path_problem
from matters.api import routers
from matters.events import SUBSCRIPTIONS
from matters.service import catalogue, clock, live, stalls
from matters.service.blobs import BlobStoreKind


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="MATTERS_")
    service_name: ClassVar[str] = "matters"
    port: int = 8001
    clock_warning_interval_seconds: float = 60.0
    # Where uploaded materials are kept (matters.service.blobs): ``postgres`` (every replica shares it)
    # or ``filesystem`` under ``blob_dir`` (one process, or replicas sharing one volume).
    blob_store: BlobStoreKind = BlobStoreKind.POSTGRES
    blob_dir: Path = Path("var/blobs")
    max_material_bytes: int = 20 * 1024 * 1024
    # Live status streams (SSE): a comment this often keeps proxies from closing a quiet stream; a
    # client this many events behind is dropped with a resync rather than holding up the others.
    live_heartbeat_seconds: float = 15.0
    live_queue_size: int = 256
    # Stalls (堵点): status → hours, {"hours": h}, {"working_days": n} or null (off), over the defaults
    # of matters.service.stalls; e.g. MATTERS_STALL_THRESHOLDS='{"returned": {"working_days": 3}}'.
    stall_thresholds: dict[str, Any] = {}
    stall_detection_interval_seconds: float = 60.0
    stall_batch_size: int = 2000  # at most this many stalls opened per status per tick
    # Every current matter version is announced again this often (matters.service.catalogue), so the
    # catalogue svc-prequal is rebuilt from never ages out of LVRONG_MATTERS (max age 7 days).
    catalogue_announce_interval_seconds: float = DAY

    @field_validator("catalogue_announce_interval_seconds")
    @classmethod
    def _announced_well_inside_the_stream_age(cls, value: float) -> float:
        # Half the max age: a round that fails (svc-matters or the bus away) still leaves an earlier one.
        if not 0 < value <= LONGEST_EVENT_AGE_SECONDS / 2:
            raise ValueError(f"must be > 0 and at most {LONGEST_EVENT_AGE_SECONDS / 2:.0f} s (half the event streams' max age)")
        return value

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        # Only the filesystem store writes under blob_dir; the PostgreSQL store needs no volume.
        if self.blob_store is BlobStoreKind.FILESYSTEM and (
                problem := writable_path_problem("MATTERS_BLOB_DIR", self.blob_dir)):
            problems.append(problem)
        return problems

    @field_validator("stall_thresholds")
    @classmethod
    def _valid_stall_thresholds(cls, value: dict[str, Any]) -> dict[str, Any]:
        stalls.parse_overrides(value)  # a bad threshold stops the service at start, not at the first tick
        return value


async def clock_warnings(runtime: Runtime) -> None:
    """Warn at 50%, 80% and 100% of every statutory clock, once across replicas."""

    async def tick(session: AsyncSession) -> int:
        return await clock.send_due_warnings(session, clock.local_date(datetime.now(UTC)))

    await every(runtime.database, "matters.clock-warnings", runtime.settings.clock_warning_interval_seconds, tick)


async def stall_detection(runtime: Runtime) -> None:
    """Open and close stalls, once per tick across replicas."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    job = stalls.detection_job(stalls.effective_thresholds(settings.stall_thresholds), batch=settings.stall_batch_size)
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

    async def live_status(runtime: Runtime) -> None:
        """Every replica hears every status change and pushes it to the streams it holds."""
        await live.run_fanout(runtime.bus, hub)

    app = create_service_app(ServiceDefinition(
        settings=settings,
        title="svc-matters",
        description="事项目录与办件全流程 — the catalogue of matters and the life of applications",
        routers=routers,
        subscriptions=SUBSCRIPTIONS,
        background_jobs=[clock_warnings, stall_detection, catalogue_announcements, live_status],
        audit_trail=True,
        openapi_tags=[{"name": "matters", "description": "事项 — matters and their guides"},
                      {"name": "applications", "description": "办件 — applications, status and timeline"}],
    ))
    app.state.live_hub = hub
    app.state.stall_thresholds = stalls.effective_thresholds(settings.stall_thresholds)
    return app
