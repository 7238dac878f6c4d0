"""What svc-notifications consumes, and its periodic jobs. It publishes (``kit.contracts.notifications``)
``notification.created``, which its own replicas read back (core NATS) to wake live streams."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from kit.app import Runtime
from kit.contracts import ApplicationStatusChanged, BenefitGranted, ClockWarning
from kit.contracts.booking import BookingExpired, BookingPromoted
from kit.contracts.helpdesk import RectificationReplied, TicketAnswered
from kit.contracts.licences import LicenceExpiring
from kit.events import EventSubscription
from kit.scheduling import every
from notifications.service import delivery, intake
from notifications.service.channels import configured_channels
from notifications.settings import Settings

SUBSCRIPTIONS = [
    # Only the status changes that make a notification reach this consumer (the server filters them by
    # the status in their subject), plus those on the bare subject from before it named the status; a
    # fetched batch is taken in one transaction and one statement per table (``intake.deliver_all``).
    EventSubscription(name="applications", producer="matters",
                      subjects=ApplicationStatusChanged.status_subjects(intake.NOTIFYING_STATUSES),
                      handler=intake.on_status_changed, batch_handler=intake.on_status_changes),
    EventSubscription(name="benefits", producer="matters", subjects=[BenefitGranted.event_type],
                      handler=intake.on_benefit_granted),
    EventSubscription(name="clock-warnings", producer="matters", subjects=[ClockWarning.event_type],
                      handler=intake.on_clock_warning),
    EventSubscription(name="licence-expiry", producer="licences", subjects=[LicenceExpiring.event_type],
                      handler=intake.on_licence_expiring),
    EventSubscription(name="booking-outcomes", producer="booking",
                      subjects=[BookingPromoted.event_type, BookingExpired.event_type],
                      handler=intake.on_booking_outcome),
    EventSubscription(name="helpdesk-answers", producer="helpdesk",
                      subjects=[TicketAnswered.event_type, RectificationReplied.event_type],
                      handler=intake.on_helpdesk_answer),
]


def _settings(runtime: Runtime) -> Settings:
    settings = runtime.settings
    assert isinstance(settings, Settings)  # create_app hands the service's own to the runtime
    return settings


async def deliveries(runtime: Runtime) -> None:
    """Send the due deliveries on the outside channels, once per tick across replicas."""
    settings = _settings(runtime)
    channels = configured_channels(settings)

    async def tick(session: AsyncSession) -> int:
        return await delivery.send_due(session, datetime.now(UTC), channels, settings)

    await every(runtime.database, "notifications.deliveries", settings.delivery_interval_seconds, tick)


BACKGROUND_JOBS = [deliveries]
