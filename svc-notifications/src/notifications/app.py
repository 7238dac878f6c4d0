"""svc-notifications: 站内信与外部渠道通知 — the notifications that reach a person (inbox, live stream,
e-mail, SMS, 随申办 push) from the events of the other services."""
from __future__ import annotations

from fastapi import FastAPI

from kit.app import Runtime, ServiceDefinition, create_service_app
from notifications.api import routers
from notifications.events import BACKGROUND_JOBS, SUBSCRIPTIONS
from notifications.service import channels, live
from notifications.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    channels.configure(settings)
    hub = live.NotificationHub(heartbeat_seconds=settings.heartbeat_seconds)

    async def live_notifications(runtime: Runtime) -> None:
        await live.run_fanout(runtime.bus, hub)

    app = create_service_app(ServiceDefinition(
        settings=settings,
        title="svc-notifications",
        description="站内信与外部渠道通知 — a person's notifications (returned applications, expiry reminders, "
                    "免申即享 grants, rating replies, help-desk answers, statutory-clock warnings) in an inbox, live "
                    "over SSE, and by e-mail, SMS and 随申办 push as the person chooses",
        routers=routers,
        subscriptions=SUBSCRIPTIONS,
        background_jobs=[*BACKGROUND_JOBS, live_notifications],
        audit_trail=True,
        openapi_tags=[{"name": "notifications", "description": "站内信 — inbox, live stream and preferences"}],
    ))
    app.state.notification_hub = hub
    return app
