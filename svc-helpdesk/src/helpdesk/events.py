"""What svc-helpdesk consumes, and its periodic jobs. It publishes (``kit.contracts.helpdesk``):
``answer.proposed``, ``sla.warning`` / ``sla.breached`` / ``sla.escalated``, ``rating.submitted``,
``rectification.closed`` and ``calendar.approved``."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.service import assignment, tickets
from helpdesk.service.common import utcnow
from helpdesk.settings import Settings
from kit.app import Runtime
from kit.contracts.knowledge import AssistantHandedOver
from kit.events import EventSubscription
from kit.scheduling import every

SUBSCRIPTIONS = [
    EventSubscription(name="handovers", producer="knowledge", subjects=[AssistantHandedOver.event_type],
                      handler=tickets.on_handed_over),
]


def _settings(runtime: Runtime) -> Settings:
    settings = runtime.settings
    assert isinstance(settings, Settings)  # create_app hands the service's own to the runtime
    return settings


async def sla_alerts(runtime: Runtime) -> None:
    """Warnings, breaches and escalations of SLA clocks, once per tick across replicas."""
    async def tick(session: AsyncSession) -> int:
        return await tickets.send_due_alerts(session, utcnow())

    await every(runtime.database, "helpdesk.sla-alerts", _settings(runtime).sla_alert_interval_seconds, tick)


async def reassignment(runtime: Runtime) -> None:
    """Assign waiting tickets and re-assign those whose agent did not answer in time."""
    async def tick(session: AsyncSession) -> int:
        return await assignment.reassign_unanswered(session, utcnow(), _settings(runtime).reassign_after_seconds)

    await every(runtime.database, "helpdesk.reassignment", _settings(runtime).reassign_interval_seconds, tick)


BACKGROUND_JOBS = [sla_alerts, reassignment]
