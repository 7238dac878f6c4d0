"""What svc-booking consumes (nothing), and its periodic jobs. It publishes (``kit.contracts.booking``):
``booking.created``, ``booking.cancelled``, ``booking.promoted``, ``booking.expired`` and ``booking.entered``."""
from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from booking.service import no_shows
from booking.service.common import utcnow
from booking.service.seed import seed_demo_venues
from booking.settings import Settings
from kit.app import BackgroundJob, Runtime
from kit.events import EventSubscription
from kit.scheduling import every

log = structlog.get_logger("booking.events")

SUBSCRIPTIONS: list[EventSubscription] = []


def _settings(runtime: Runtime) -> Settings:
    settings = runtime.settings
    assert isinstance(settings, Settings)  # create_app hands the service's own to the runtime
    return settings


async def no_show_job(runtime: Runtime) -> None:
    """Bookings unused after their slot become no-shows; repeat no-shows are blocked; waiting entries past their
    slot's cancellation cut-off expire. Once per tick across replicas."""
    settings = _settings(runtime)

    async def tick(session: AsyncSession) -> int:
        now = utcnow()
        return await no_shows.expire_waiting(session, now, settings) + await no_shows.mark_no_shows(session, now, settings)

    await every(runtime.database, "booking.no-shows", settings.no_show_interval_seconds, tick)


async def seed_job(runtime: Runtime) -> None:
    """The demo venues of 三省一市, when ``BOOKING_SEED_DEMO_VENUES`` is set (development)."""
    if not _settings(runtime).seed_demo_venues:
        return
    delay = 0.5
    while True:  # the database may not be reachable yet when the process starts
        try:
            added = await seed_demo_venues(runtime.database)
            log.info("booking_demo_venues_seeded", added=added)
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("booking_seed_retrying", error=type(e).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


BACKGROUND_JOBS: list[BackgroundJob] = [no_show_job, seed_job]
