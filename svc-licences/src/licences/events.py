"""What svc-licences consumes. It publishes (contracts in ``kit.contracts.licences``, through the outbox):
``lvrong.licences.licence.issued`` (also for new versions), ``.licence.status_changed`` and ``.licence.expiring``."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts import ApplicationStatusChanged, ApplicationSubmitted
from kit.events import EventSubscription
from kit.events.consumer import one_transaction_per_batch
from kit.events.envelope import CloudEvent
from licences.service import issuance
from licences.service.issuer import Issuer


def subscriptions(issuer: Issuer) -> list[EventSubscription]:
    # One consumer for both subjects of the one stream, so a submission is read before its approval.
    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        if event.type == ApplicationSubmitted.event_type:
            await issuance.remember_submission(session, event)
        else:
            await issuance.on_decision(session, event, issuer)

    # Every submission and status change of every application passes through here: one transaction
    # per fetched batch instead of one per event (most status changes need nothing but a look).
    return [EventSubscription(name="matters-applications", producer="matters",
                              subjects=[ApplicationSubmitted.event_type, ApplicationStatusChanged.event_type],
                              handler=handle, batch_handler=one_transaction_per_batch(handle))]
