"""The message bus: an interface and its NATS JetStream implementation.

Streams are created when missing; consumers are durable pull consumers with explicit ack and a
bounded number of deliveries; a message that exhausts them is copied to the dead-letter subject
``lvrong.deadletter.<consumer>`` (stream ``LVRONG_DEADLETTER``) with the failure, then terminated.
``subscribe_core`` is the other kind: a plain subscription with no server-side state, for fan-out
that every replica needs (e.g. live status streams), where a durable consumer would share the
messages out among replicas instead.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from prometheus_client import Counter, Gauge

from kit.events.envelope import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM
from kit.natsauth import NatsClient
from kit.tasks import cancellation_requested

log = structlog.get_logger("kit.bus")

DEAD_LETTERED = Counter("lvrong_events_dead_lettered_total", "Messages sent to the dead letters", ["consumer"])
REDELIVERIES = Counter("lvrong_event_redeliveries_total", "Deliveries of a message after its first", ["consumer"])
# From each fetched message's metadata: no extra request to the server.
CONSUMER_PENDING = Gauge("lvrong_consumer_pending", "Messages of the stream not yet delivered to the consumer "
                         "(its lag), as of its last fetch", ["consumer"])

ORDERING_KEY_HEADER = "Lvrong-Key"


@dataclass
class Delivery:
    """One message as a handler sees it."""

    data: bytes
    headers: dict[str, str]
    subject: str
    num_delivered: int
    max_deliver: int

    @property
    def last_attempt(self) -> bool:
        return self.num_delivered >= self.max_deliver


class DeliveryOutcome:
    ACK = "ack"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"  # can never succeed (e.g. malformed): skip the remaining retries


DeliveryHandler = Callable[[Delivery], Awaitable[str]]
# Handles a whole fetched batch (in stream order) and returns, per delivery, its outcome and the error
# that caused a retry or dead letter (None when there was none).
BatchDeliveryHandler = Callable[[list[Delivery]], Awaitable[list[tuple[str, Exception | None]]]]
CoreCallback = Callable[[bytes], Awaitable[None]]
ReconnectHook = Callable[[], Awaitable[None]]
Unsubscribe = Callable[[], Awaitable[None]]


@dataclass
class ConsumerSpec:
    stream: str
    durable: str
    subjects: Sequence[str]
    max_deliver: int = 5
    ack_wait_seconds: float = 30.0
    # Delay before each redelivery after a failure (the last value repeats).
    retry_delays: Sequence[float] = field(default_factory=lambda: (0.5, 2.0, 5.0, 15.0))
    batch: int = 64
    # The producer's stream subjects: the stream is created if the consumer starts before its producer.
    stream_subjects: Sequence[str] = ()
    # Messages of different ordering keys (header ``Lvrong-Key``: the event's subject, e.g. one
    # application) are handled concurrently, up to this many at once; one key's stay in order.
    concurrency: int = 16


class Bus(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def ensure_stream(self, name: str, subjects: Sequence[str]) -> None: ...
    async def publish(self, subject: str, payload: bytes, *, msg_id: str, headers: dict[str, str] | None = None) -> None: ...
    async def publish_batch(self, messages: Sequence[tuple[str, bytes, str, dict[str, str]]]) -> list[bool]: ...
    async def consume(self, spec: ConsumerSpec, handler: DeliveryHandler, *,
                      batch_handler: BatchDeliveryHandler | None = None) -> None: ...
    async def subscribe_core(self, subject: str, callback: CoreCallback, *,
                             on_reconnect: ReconnectHook | None = None) -> Unsubscribe: ...
    async def ping(self) -> None: ...
    @property
    def connected(self) -> bool: ...


class JetStreamBus:
    def __init__(self, server: str | NatsClient, *, name: str, publish_timeout: float = 5.0) -> None:
        # A bare URL connects without credentials (an unauthenticated server); a service passes its
        # ``settings.nats_client``: its NKey seed, its own reply inbox and TLS.
        self.client = server if isinstance(server, NatsClient) else NatsClient(server)
        self.url = self.client.url
        self.name = name
        self.publish_timeout = publish_timeout
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._known_streams: set[str] = set()
        self._connect_lock = asyncio.Lock()
        self._reconnect_hooks: list[ReconnectHook] = []

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def connect(self) -> None:
        """Connect, retrying in the background of the client when the server is away.

        The first connection is attempted once here; when it fails the service still starts (its
        requests do not need the bus) and ``_ensure`` tries again on next use.
        """
        async with self._connect_lock:
            if self._nc is not None and not self._nc.is_closed:
                return

            async def _disconnected() -> None:
                log.warning("bus_disconnected")

            async def _reconnected() -> None:
                log.info("bus_reconnected")
                for hook in list(self._reconnect_hooks):
                    try:
                        await hook()
                    except Exception as e:  # one subscriber's hook must not keep the others from theirs
                        log.warning("bus_reconnect_hook_failed", error=type(e).__name__)

            async def _error(e: Exception) -> None:
                # Refused credentials are a deployment fault ops must see; a permissions violation is
                # expected once at start (a consumer may not create its producer's stream: it waits for it).
                if "authorization" in str(e).lower():
                    log.error("bus_refused", error=type(e).__name__, detail=str(e)[:200])
                elif "permissions violation" in str(e).lower():
                    log.warning("bus_permission_denied", detail=str(e)[:200])
                else:
                    log.debug("bus_error", error=type(e).__name__)

            self._nc = await nats.connect(
                **self.client.connect_options(), name=self.name, allow_reconnect=True, max_reconnect_attempts=-1,
                reconnect_time_wait=0.5, connect_timeout=2, disconnected_cb=_disconnected,
                reconnected_cb=_reconnected, error_cb=_error,
            )
            self._js = self._nc.jetstream(timeout=self.publish_timeout)

    async def jetstream(self) -> JetStreamContext:
        """The JetStream context, connecting first when needed (for ops tools: dead letters, metrics)."""
        return await self._ensure()

    async def _ensure(self) -> JetStreamContext:
        if self._js is None or self._nc is None or self._nc.is_closed:
            await self.connect()
        assert self._js is not None
        return self._js

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.drain()
        self._nc = None
        self._js = None

    async def ping(self) -> None:
        if not self.connected:
            raise ConnectionError("bus not connected")
        assert self._nc is not None
        await self._nc.flush(timeout=2)

    async def ensure_stream(self, name: str, subjects: Sequence[str]) -> None:
        if name in self._known_streams:
            return
        js = await self._ensure()
        try:
            await js.stream_info(name)
        except NotFoundError:
            try:
                await js.add_stream(StreamConfig(name=name, subjects=list(subjects), storage=StorageType.FILE,
                                                 duplicate_window=600.0))
                log.info("stream_created", stream=name)
            except BadRequestError:  # created by a replica in the meantime
                await js.stream_info(name)
        self._known_streams.add(name)

    async def publish(self, subject: str, payload: bytes, *, msg_id: str, headers: dict[str, str] | None = None) -> None:
        js = await self._ensure()
        await js.publish(subject, payload, headers={**(headers or {}), "Nats-Msg-Id": msg_id}, timeout=self.publish_timeout)

    async def publish_batch(self, messages: Sequence[tuple[str, bytes, str, dict[str, str]]]) -> list[bool]:
        """Publish (subject, payload, msg_id, headers) tuples without waiting for each ack in turn.

        Returns, per message, whether the server acknowledged it; JetStream deduplicates by
        ``Nats-Msg-Id`` so a message published again after a lost ack is stored once.
        """
        js = await self._ensure()
        futures = []
        for subject, payload, msg_id, headers in messages:
            futures.append(await js.publish_async(subject, payload, headers={**headers, "Nats-Msg-Id": msg_id},
                                                  wait_stall=self.publish_timeout))
        results = await asyncio.gather(*(asyncio.wait_for(f, self.publish_timeout) for f in futures),
                                       return_exceptions=True)
        return [not isinstance(r, BaseException) for r in results]

    async def subscribe_core(self, subject: str, callback: CoreCallback, *,
                             on_reconnect: ReconnectHook | None = None) -> Unsubscribe:
        """Call ``callback`` with the payload of every message published on ``subject`` from now on.

        A core NATS subscription: every subscriber of every replica gets every message, nothing is
        stored for it and nothing is acknowledged. The client subscribes again by itself after a
        reconnect, but messages published while this process was disconnected are not delivered
        later: ``on_reconnect`` runs after each reconnect so the caller can tell its listeners that
        they may have missed some. Raises when the server cannot be reached; the caller retries.
        Returns the coroutine function that ends the subscription.
        """
        await self._ensure()
        assert self._nc is not None

        async def handle(msg: Msg) -> None:
            try:
                await callback(msg.data)
            except Exception as e:  # a failing callback must not end the subscription
                log.warning("core_subscriber_failed", subject=msg.subject, error=type(e).__name__)

        subscription = await self._nc.subscribe(subject, cb=handle)
        if on_reconnect is not None:
            self._reconnect_hooks.append(on_reconnect)

        async def unsubscribe() -> None:
            if on_reconnect in self._reconnect_hooks:
                self._reconnect_hooks.remove(on_reconnect)
            with contextlib.suppress(Exception):  # the connection may already be closed
                await subscription.unsubscribe()

        return unsubscribe

    async def _ensure_consumer(self, spec: ConsumerSpec) -> JetStreamContext.PullSubscription:
        js = await self._ensure()
        await self.ensure_stream(DEAD_LETTER_STREAM, [DEAD_LETTER_PREFIX + ".>"])
        if spec.stream_subjects:
            await self.ensure_stream(spec.stream, spec.stream_subjects)
        config = ConsumerConfig(
            durable_name=spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=spec.max_deliver,
            ack_wait=spec.ack_wait_seconds,
            filter_subjects=list(spec.subjects) if len(spec.subjects) > 1 else None,
            filter_subject=spec.subjects[0] if len(spec.subjects) == 1 else None,
            max_ack_pending=1000,
        )
        try:
            await js.consumer_info(spec.stream, spec.durable)
        except NotFoundError:
            try:
                await js.add_consumer(spec.stream, config)
            except BadRequestError:
                pass  # a replica created it first
        return await js.pull_subscribe_bind(spec.durable, stream=spec.stream)

    async def consume(self, spec: ConsumerSpec, handler: DeliveryHandler, *,
                      batch_handler: BatchDeliveryHandler | None = None) -> None:
        """Fetch and handle messages until cancelled; survives the server going away.

        With ``batch_handler``, each fetched batch is given to it whole (one call, in stream order)
        instead of one ``handler`` call per message; each message is then settled by its outcome."""
        sub: JetStreamContext.PullSubscription | None = None
        backoff = 0.5
        while True:
            try:
                if sub is None:
                    sub = await self._ensure_consumer(spec)
                    backoff = 0.5
                try:
                    msgs = await sub.fetch(spec.batch, timeout=1.0)
                except TimeoutError:
                    # On 3.11 a timeout racing a cancellation can swallow the cancellation: honour it.
                    if cancellation_requested():
                        raise asyncio.CancelledError from None
                    continue
                if batch_handler is not None:
                    await self._deliver_whole(spec, msgs, batch_handler)
                else:
                    await self._deliver_batch(spec, msgs, handler)
            except asyncio.CancelledError:
                if sub is not None:  # else a late pull-request status left in its queue stalls close() for 30 s
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                raise
            except (NotFoundError, nats.errors.Error, OSError, TimeoutError) as e:
                if cancellation_requested():
                    raise asyncio.CancelledError from e
                log.warning("consumer_waiting_for_bus", durable=spec.durable, error=type(e).__name__)
                if isinstance(e, NotFoundError):
                    sub = None  # the stream or consumer was removed: create it again
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _deliver_batch(self, spec: ConsumerSpec, msgs: list[Msg], handler: DeliveryHandler) -> None:
        groups: dict[str, list[Msg]] = {}
        for msg in msgs:
            key = (msg.headers or {}).get(ORDERING_KEY_HEADER) or msg.subject
            groups.setdefault(key, []).append(msg)
        if len(groups) == 1:
            for msg in msgs:
                await self._deliver(spec, msg, handler)
            return
        limit = asyncio.Semaphore(max(1, spec.concurrency))

        async def in_order(group: list[Msg]) -> None:
            async with limit:
                for msg in group:
                    await self._deliver(spec, msg, handler)

        await asyncio.gather(*(in_order(g) for g in groups.values()))

    async def _deliver_whole(self, spec: ConsumerSpec, msgs: list[Msg], handler: BatchDeliveryHandler) -> None:
        deliveries = [self._delivery(spec, msg) for msg in msgs]
        try:
            outcomes = await handler(deliveries)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the handler's own failure: every message is retried, then dead-lettered
            outcomes = [(DeliveryOutcome.RETRY, e)] * len(msgs)
        for msg, delivery, (outcome, error) in zip(msgs, deliveries, outcomes, strict=True):
            await self._settle(spec, msg, delivery, outcome, error)

    def _delivery(self, spec: ConsumerSpec, msg: Msg) -> Delivery:
        meta = msg.metadata
        CONSUMER_PENDING.labels(spec.durable).set(meta.num_pending)
        if meta.num_delivered > 1:
            REDELIVERIES.labels(spec.durable).inc()
        return Delivery(data=msg.data, headers=dict(msg.headers or {}), subject=msg.subject,
                        num_delivered=meta.num_delivered, max_deliver=spec.max_deliver)

    async def _deliver(self, spec: ConsumerSpec, msg: Msg, handler: DeliveryHandler) -> None:
        delivery = self._delivery(spec, msg)
        try:
            outcome = await handler(delivery)
            error = None
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the handler's own failure: retry, then dead-letter
            outcome, error = DeliveryOutcome.RETRY, e
        await self._settle(spec, msg, delivery, outcome, error)

    async def _settle(self, spec: ConsumerSpec, msg: Msg, delivery: Delivery, outcome: str,
                      error: Exception | None) -> None:
        if outcome == DeliveryOutcome.ACK:
            await msg.ack()
            return
        if outcome == DeliveryOutcome.DEAD_LETTER:
            await self._dead_letter(spec, msg, error or ValueError("refused by the handler as unprocessable; not retried"))
            await msg.term()
            return
        if delivery.last_attempt:
            await self._dead_letter(spec, msg, error)
            await msg.term()
            return
        delays = list(spec.retry_delays) or [1.0]
        await msg.nak(delay=delays[min(delivery.num_delivered - 1, len(delays) - 1)])

    async def _dead_letter(self, spec: ConsumerSpec, msg: Msg, error: Exception | None) -> None:
        headers = {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Msg-Id"}
        headers.update({
            "Lvrong-Original-Subject": msg.subject,
            "Lvrong-Original-Stream": msg.metadata.stream,
            "Lvrong-Original-Sequence": str(msg.metadata.sequence.stream),
            "Lvrong-Consumer": spec.durable,
            "Lvrong-Error": (f"{type(error).__name__}: {error}" if error else "retries exhausted")[:500],
        })
        msg_id = f"dl-{spec.durable}-{msg.metadata.sequence.stream}"
        await self.publish(f"{DEAD_LETTER_PREFIX}.{spec.durable}", msg.data, msg_id=msg_id, headers=headers)
        DEAD_LETTERED.labels(spec.durable).inc()
        log.error("event_dead_lettered", durable=spec.durable, subject=msg.subject,
                  error=type(error).__name__ if error else None)
