"""Idempotent event handling: a handled event's id is recorded in the same transaction as the
handler's effect, so a redelivered event is acknowledged without being applied again."""
from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.availability import DatabaseGate, database_unreachable
from kit.db import Database
from kit.events.bus import Bus, ConsumerSpec, Delivery, DeliveryOutcome
from kit.events.envelope import CloudEvent, producer_of, source_of, stream_name, stream_subjects
from kit.events.outbox import processed_events
from kit.tracing import TraceContext, current_trace, recorded

log = structlog.get_logger("kit.consumer")

EVENTS_HANDLED = Counter("lvrong_events_handled_total", "Events handled", ["consumer", "type", "outcome"])
EVENT_HANDLING_SECONDS = Histogram("lvrong_event_handling_seconds", "Time to handle one event", ["consumer"])

EventHandlerFn = Callable[[AsyncSession, CloudEvent], Awaitable[None]]
BatchEventHandlerFn = Callable[[AsyncSession, list[CloudEvent]], Awaitable[None]]


@dataclass
class EventSubscription:
    """What a service consumes: events of ``subjects`` from ``producer``'s stream, handled by ``handler``.

    ``batch_handler`` (optional) handles the new events of one fetched batch in one transaction — one
    call, in stream order, with the effect ``handler`` would have on each, but with bulk reads and
    writes instead of a transaction and a few round trips per event. It wraps each event's own part in
    ``handling(event)`` (that event's trace, log context and span). When the batch fails, its events are
    handled again one at a time with ``handler``: a poison event fails, is retried and dead-lettered
    alone, and the others are applied.
    """

    name: str
    producer: str
    subjects: Sequence[str]
    handler: EventHandlerFn
    batch_handler: BatchEventHandlerFn | None = None


class ForeignEvent(ValueError):
    """An event whose source is not the service its subject belongs to."""

    def __init__(self, subject: str, source: str) -> None:
        super().__init__(f"source {source[:100]!r} is not the producer of {subject}: refused, not applied")


# Built once: it runs for every event every consumer handles.
_CLAIM_EVENT = (insert(processed_events).on_conflict_do_nothing().returning(processed_events.c.event_id))
# A batch's claims as one statement whose text never changes: an executemany with RETURNING is sent as
# a multi-row VALUES of one text per number of rows, each prepared and planned anew per connection.
_CLAIM_EVENTS = text(
    "INSERT INTO processed_events (consumer, event_id, event_type) "
    "SELECT :consumer, claimed.event_id, claimed.event_type "
    "FROM unnest(:event_ids, :event_types) AS claimed(event_id, event_type) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(bindparam("event_ids", type_=ARRAY(String)), bindparam("event_types", type_=ARRAY(String)))


async def handle_once(database: Database, consumer: str, event: CloudEvent, handler: EventHandlerFn) -> bool:
    """Apply ``handler`` unless ``consumer`` already handled ``event``; True when it was applied now."""
    async with database.transaction() as session:
        claimed = await session.execute(_CLAIM_EVENT, {"consumer": consumer, "event_id": event.id,
                                                       "event_type": event.type})
        if claimed.first() is None:
            return False
        await handler(session, event)
    return True


async def handle_batch_once(database: Database, consumer: str, events: Sequence[CloudEvent],
                            handler: BatchEventHandlerFn) -> list[CloudEvent]:
    """``handle_once`` for several events in one transaction: ``handler`` gets those ``consumer`` has not
    handled yet (each once, in order), which are returned."""
    async with database.transaction() as session:
        claimed = set((await session.execute(_CLAIM_EVENTS, {
            "consumer": consumer, "event_ids": [e.id for e in events], "event_types": [e.type for e in events]})).scalars())
        fresh = []
        for event in events:
            if event.id in claimed:
                claimed.discard(event.id)  # the same event twice in one batch is applied once
                fresh.append(event)
        if fresh:
            await handler(session, fresh)
    return fresh


class _Handling:
    """Handling one event: its trace (a child of the producer's), log context and consumer span."""

    def __init__(self, consumer: str, event: CloudEvent, delivery: Delivery) -> None:
        self.consumer, self.event, self.delivery = consumer, event, delivery
        self.parent = TraceContext.parse(event.traceparent or delivery.headers.get("traceparent"))
        self.trace = self.parent.child() if self.parent else TraceContext.new()

    @contextmanager
    def context(self) -> Iterator[None]:
        token = current_trace.set(self.trace)
        # The event's subject is the entity it is about (an application's id for application events):
        # logged so that one application's story can be followed across services.
        try:
            with structlog.contextvars.bound_contextvars(event_id=self.event.id, event_type=self.event.type,
                                                         trace_id=self.trace.trace_id, consumer=self.consumer,
                                                         entity=self.event.subject):
                yield
        finally:
            current_trace.reset(token)

    def span(self) -> AbstractContextManager[object]:
        return recorded(f"handle {self.event.type}", self.trace, self.parent, kind="consumer",
                        attributes={"messaging.system": "nats", "messaging.consumer.group.name": self.consumer,
                                    "messaging.message.id": self.event.id,
                                    "messaging.message.delivery_count": self.delivery.num_delivered})


# The batch being handled by a ``batch_handler``: event id → its handling.
_batch: contextvars.ContextVar[dict[str, _Handling] | None] = contextvars.ContextVar("kit_event_batch", default=None)


def handling(event: CloudEvent) -> AbstractContextManager[None]:
    """Within a ``batch_handler``: run the part of the work that is ``event``'s own in its trace (events
    written there continue it) and log context. Elsewhere it does nothing."""
    batch = _batch.get()
    if batch is None or event.id not in batch:
        return nullcontext()
    return batch[event.id].context()


def one_transaction_per_batch(handler: EventHandlerFn) -> BatchEventHandlerFn:
    """A ``batch_handler`` that applies ``handler`` to each event of a fetched batch in turn, in the batch's
    one transaction: for consumers whose cost is the transaction per event rather than the work."""

    async def handle_each(session: AsyncSession, events: list[CloudEvent]) -> None:
        for event in events:
            with handling(event):
                await handler(session, event)

    return handle_each


def durable_name(service: str, subscription: EventSubscription) -> str:
    """The durable consumer shared by every replica of ``service`` for ``subscription``."""
    return f"{service}-{subscription.name}"


class EventConsumer:
    """One subscription of a service, consumed with its durable; ``gate`` (shared by the process's
    consumers and relay) pauses it while the database is away, so an outage never uses up deliveries."""

    def __init__(self, database: Database, bus: Bus, service: str, subscription: EventSubscription, *,
                 max_deliver: int = 5, gate: DatabaseGate | None = None) -> None:
        self.database = database
        self.bus = bus
        self.gate = gate or DatabaseGate(database)
        self.durable = durable_name(service, subscription)
        self.subscription = subscription
        self.spec = ConsumerSpec(stream=stream_name(subscription.producer), durable=self.durable,
                                 subjects=list(subscription.subjects), max_deliver=max_deliver,
                                 stream_subjects=stream_subjects(subscription.producer))

    async def run(self) -> None:
        """Consume until cancelled, and dead-letter what reaches max_deliver without being settled."""
        async with asyncio.TaskGroup() as both:
            both.create_task(self.bus.consume(
                self.spec, self._on_delivery, pause=self.gate,
                batch_handler=self._on_batch if self.subscription.batch_handler else None))
            both.create_task(self.bus.dead_letter_unsettled(self.spec))

    def _foreign(self, event: CloudEvent, delivery: Delivery) -> bool:
        """True, counted and logged, when ``event`` does not come from the service whose subject it was
        published on: the bus lets only that service (and its consumers' ops identities, replaying what
        it published) publish there, so a mismatch is a forgery or a fault, never applied."""
        producer = producer_of(delivery.subject)
        if producer is not None and event.source == source_of(producer) and producer_of(event.type) == producer:
            return False
        log.error("event_source_refused", consumer=self.durable, subject=delivery.subject, event_id=event.id,
                  event_type=event.type, source=event.source[:200])
        EVENTS_HANDLED.labels(self.durable, delivery.subject, "refused_source").inc()
        return True

    async def _on_delivery(self, delivery: Delivery) -> str:
        try:
            event = CloudEvent.from_json_bytes(delivery.data)
        except ValueError:
            # A malformed message can never succeed: send it straight to the dead letters.
            log.error("event_malformed", consumer=self.durable, subject=delivery.subject)
            EVENTS_HANDLED.labels(self.durable, delivery.subject, "malformed").inc()
            return DeliveryOutcome.DEAD_LETTER
        if self._foreign(event, delivery):
            return DeliveryOutcome.DEAD_LETTER  # ops see it among the dead letters; it never reaches the handler
        handling = _Handling(self.durable, event, delivery)
        with handling.context(), EVENT_HANDLING_SECONDS.labels(self.durable).time(), handling.span():
            try:
                applied = await handle_once(self.database, self.durable, event, self.subscription.handler)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if database_unreachable(e):  # no fault of the event: the bus holds it while the database is away
                    log.warning("event_waiting_for_database", attempt=delivery.num_delivered, error=type(e).__name__)
                    raise
                log.exception("event_handler_failed", attempt=delivery.num_delivered)
                EVENTS_HANDLED.labels(self.durable, event.type, "failed").inc()
                raise  # the bus retries it and, once out of retries, dead-letters it with this error
            EVENTS_HANDLED.labels(self.durable, event.type, "applied" if applied else "duplicate").inc()
            log.info("event_handled", duplicate=not applied)
            return DeliveryOutcome.ACK

    async def _on_batch(self, deliveries: list[Delivery]) -> list[tuple[str, Exception | None]]:
        assert self.subscription.batch_handler is not None
        outcomes: list[tuple[str, Exception | None]] = [(DeliveryOutcome.ACK, None)] * len(deliveries)
        events: dict[int, CloudEvent] = {}
        for i, delivery in enumerate(deliveries):
            try:
                event = CloudEvent.from_json_bytes(delivery.data)
            except ValueError:
                outcomes[i] = (await self._on_delivery(delivery), None)  # malformed: dead-lettered
                continue
            if self._foreign(event, delivery):
                outcomes[i] = (DeliveryOutcome.DEAD_LETTER, ForeignEvent(delivery.subject, event.source))
            else:
                events[i] = event
        if not events:
            return outcomes
        batch = {e.id: _Handling(self.durable, e, deliveries[i]) for i, e in events.items()}
        token = _batch.set(batch)
        started = time.perf_counter()
        try:
            with ExitStack() as spans:  # each event's span covers the batch it was handled in
                for h in batch.values():
                    spans.enter_context(h.span())
                applied = await handle_batch_once(self.database, self.durable, list(events.values()),
                                                  self.subscription.batch_handler)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # which event failed is found by handling them one at a time
            log.warning("event_batch_failed", consumer=self.durable, events=len(events), error=type(e).__name__)
            if database_unreachable(e):  # not any event's fault: the bus holds them all until it is back
                for i in events:
                    outcomes[i] = (DeliveryOutcome.RETRY, e)
                return outcomes
            applied = None
        finally:
            _batch.reset(token)
        if applied is None:
            for i in events:
                try:
                    outcomes[i] = (await self._on_delivery(deliveries[i]), None)
                except asyncio.CancelledError:
                    raise
                except Exception as failed:  # the bus retries it, then dead-letters it
                    outcomes[i] = (DeliveryOutcome.RETRY, failed)
            return outcomes
        fresh = {e.id for e in applied}
        share = (time.perf_counter() - started) / len(events)  # the batch's time, shared out
        for event in events.values():
            EVENT_HANDLING_SECONDS.labels(self.durable).observe(share)
            EVENTS_HANDLED.labels(self.durable, event.type, "applied" if event.id in fresh else "duplicate").inc()
        log.info("event_batch_handled", consumer=self.durable, applied=len(applied),
                 duplicates=len(events) - len(applied))
        return outcomes
