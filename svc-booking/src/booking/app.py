"""svc-booking: 三省一市动物园、植物园统一预约 — unified booking of the zoos and botanical gardens of the
Yangtze River Delta, by our login or through a partner province's app."""
from __future__ import annotations

from fastapi import FastAPI

from booking.api import routers
from booking.events import BACKGROUND_JOBS, SUBSCRIPTIONS
from booking.settings import Settings
from kit.app import ServiceDefinition, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(ServiceDefinition(
        settings=settings,
        title="svc-booking",
        description="三省一市动物园、植物园统一预约 — venues and time slots, real-name bookings (by our login or a "
                    "partner province's app), waiting lists, cancellation and no-show rules, the gate's entry check, "
                    "reports per venue and day",
        routers=routers,
        subscriptions=SUBSCRIPTIONS,
        background_jobs=BACKGROUND_JOBS,
        audit_trail=True,
        openapi_tags=[{"name": "venues", "description": "场馆 — zoos and botanical gardens, time slots, closed days"},
                      {"name": "bookings", "description": "预约 — a person's bookings by our login"},
                      {"name": "partner bookings", "description": "合作方预约 — a partner province's app on a person's behalf"},
                      {"name": "gate", "description": "实名核验入园 — the entry check at the gate"},
                      {"name": "booking reports", "description": "Per venue and day, for staff"}],
    ))
