"""Idempotent event handling: a handled event's id is recorded in the same transaction as the
handler's effect, so a redelivered event is acknowledged without being applied again."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import Database
from kit.events.bus import Bus, ConsumerSpec, Delivery, DeliveryOutcome
from kit.events.envelope import CloudEvent, stream_name, stream_subjects
from kit.events.outbox import processed_events
from kit.tracing import TraceContext, current_trace, recorded

log = structlog.get_logger("kit.consumer")

EVENTS_HANDLED = Counter("lvrong_events_handled_total", "Events handled", ["consumer", "type", "outcome"])
EVENT_HANDLING_SECONDS = Histogram("lvrong_event_handling_seconds", "Time to handle one event", ["consumer"])

EventHandlerFn = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


@dataclass
class EventSubscription:
    """What a service consumes: events of ``subjects`` from ``producer``'s stream, handled by ``handler``."""

    name: str
    producer: str
    subjects: Sequence[str]
    handler: EventHandlerFn


# Built once: it runs for every event every consumer handles.
_CLAIM_EVENT = (insert(processed_events).on_conflict_do_nothing().returning(processed_events.c.event_id))


async def handle_once(database: Database, consumer: str, event: CloudEvent, handler: EventHandlerFn) -> bool:
    """Apply ``handler`` unless ``consumer`` already handled ``event``; True when it was applied now."""
    async with database.transaction() as session:
        claimed = await session.execute(_CLAIM_EVENT, {"consumer": consumer, "event_id": event.id,
                                                       "event_type": event.type})
        if claimed.first() is None:
            return False
        await handler(session, event)
    return True


def durable_name(service: str, subscription: EventSubscription) -> str:
    """The durable consumer shared by every replica of ``service`` for ``subscription``."""
    return f"{service}-{subscription.name}"


class EventConsumer:
    def __init__(self, database: Database, bus: Bus, service: str, subscription: EventSubscription, *,
                 max_deliver: int = 5) -> None:
        self.database = database
        self.bus = bus
        self.durable = durable_name(service, subscription)
        self.subscription = subscription
        self.spec = ConsumerSpec(stream=stream_name(subscription.producer), durable=self.durable,
                                 subjects=list(subscription.subjects), max_deliver=max_deliver,
                                 stream_subjects=stream_subjects(subscription.producer))

    async def run(self) -> None:
        await self.bus.consume(self.spec, self._on_delivery)

    async def _on_delivery(self, delivery: Delivery) -> str:
        try:
            event = CloudEvent.from_json_bytes(delivery.data)
        except ValueError:
            # A malformed message can never succeed: send it straight to the dead letters.
            log.error("event_malformed", consumer=self.durable, subject=delivery.subject)
            EVENTS_HANDLED.labels(self.durable, delivery.subject, "malformed").inc()
            return DeliveryOutcome.DEAD_LETTER
        parent = TraceContext.parse(event.traceparent or delivery.headers.get("traceparent"))
        trace = parent.child() if parent else TraceContext.new()
        token = current_trace.set(trace)
        # The event's subject is the entity it is about (an application's id for application events):
        # logged so that one application's story can be followed across services.
        with structlog.contextvars.bound_contextvars(event_id=event.id, event_type=event.type, trace_id=trace.trace_id,
                                                     consumer=self.durable, entity=event.subject):
            try:
                with EVENT_HANDLING_SECONDS.labels(self.durable).time(), \
                        recorded(f"handle {event.type}", trace, parent, kind="consumer",
                                 attributes={"messaging.system": "nats", "messaging.consumer.group.name": self.durable,
                                             "messaging.message.id": event.id,
                                             "messaging.message.delivery_count": delivery.num_delivered}):
                    applied = await handle_once(self.database, self.durable, event, self.subscription.handler)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event_handler_failed", attempt=delivery.num_delivered)
                EVENTS_HANDLED.labels(self.durable, event.type, "failed").inc()
                raise  # the bus retries it and, once out of retries, dead-letters it with this error
            finally:
                current_trace.reset(token)
            EVENTS_HANDLED.labels(self.durable, event.type, "applied" if applied else "duplicate").inc()
            log.info("event_handled", duplicate=not applied)
            return DeliveryOutcome.ACK
