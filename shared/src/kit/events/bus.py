"""The message bus: an interface and its NATS JetStream implementation.

Streams are created when missing and kept to the limits declared in ``kit.events.streams``;
consumers are durable pull consumers with explicit ack and a bounded number of deliveries, kept to
their spec; a deleted stream or consumer is created again. A message that exhausts its deliveries is
copied to the dead-letter subject ``lvrong.deadletter.<consumer>`` (stream ``LVRONG_DEADLETTER``)
with the failure, then terminated; one whose last delivery is never settled is copied there from the
server's MaxDeliver advisory. While a consumer's database is away (``Pause``) it holds its messages
instead of spending their deliveries.
``subscribe_core`` is the other kind: a plain subscription with no server-side state, for fan-out
that every replica needs (e.g. live status streams), where a durable consumer would share the
messages out among replicas instead.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError
from prometheus_client import Counter, Gauge

from kit.events import streams
from kit.events.envelope import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM
from kit.natsauth import NatsClient
from kit.tasks import cancellation_requested

log = structlog.get_logger("kit.bus")

DEAD_LETTERED = Counter("lvrong_events_dead_lettered_total", "Messages sent to the dead letters", ["consumer"])
REDELIVERIES = Counter("lvrong_event_redeliveries_total", "Deliveries of a message after its first", ["consumer"])
# From each fetched message's metadata: no extra request to the server.
CONSUMER_PENDING = Gauge("lvrong_consumer_pending", "Messages of the stream not yet delivered to the consumer "
                         "(its lag), as of its last fetch", ["consumer"])

HELD = Gauge("lvrong_consumer_held", "Messages a consumer holds (unsettled, ack wait extended) while its database "
             "is away", ["consumer"])

ORDERING_KEY_HEADER = "Lvrong-Key"
MAX_ACK_PENDING = 1000
# Batches up to this size are published without a time limit on a free publish slot (``publish_batch``):
# a quarter of the client's 4,000, so that even a few relays' batches at once never wait for one.
_STALL_FREE_BATCH = 1000
# How often an idle consumer checks that its durable still exists (a deleted one only ever times out).
CONSUMER_CHECK_SECONDS = 15.0
# Copying an unsettled message to the dead letters is retried for about a day before it gives up.
UNSETTLED_MAX_DELIVER = 1500


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


class Pause(Protocol):
    """What a consumer depends on besides the bus (its database): while it is away the consumer holds
    the messages it has and fetches no more (see ``kit.availability.DatabaseGate``)."""

    async def outage(self, error: BaseException) -> bool: ...
    async def wait(self) -> None: ...


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
    # How long one fetch waits for messages when there are none.
    fetch_seconds: float = 1.0
    # After a batch smaller than ``batch``, the next fetch waits until this long after the last one: under
    # load the events of a few milliseconds share one fetch, transaction, inbox claim and commit instead of
    # each paying for its own (Kafka's linger), at the cost of at most this much latency per hop when quiet.
    linger_seconds: float = 0.01


class Bus(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def ensure_stream(self, name: str, subjects: Sequence[str]) -> None: ...
    async def publish(self, subject: str, payload: bytes, *, msg_id: str, headers: dict[str, str] | None = None) -> None: ...
    async def publish_batch(self, messages: Sequence[tuple[str, bytes, str, dict[str, str]]]) -> list[bool]: ...
    async def consume(self, spec: ConsumerSpec, handler: DeliveryHandler, *,
                      batch_handler: BatchDeliveryHandler | None = None, pause: Pause | None = None) -> None: ...
    async def dead_letter_unsettled(self, spec: ConsumerSpec) -> None: ...
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
        self._declared_streams: dict[str, list[str]] = {}  # every stream this process relies on: its subjects
        self._ack_floors: dict[str, int] = {}  # per durable, its acknowledgement floor as last seen here
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
        """Create stream ``name`` when missing, or bring it to its declared configuration
        (``kit.events.streams``) when it differs; checked once per process unless it goes missing."""
        self._declared_streams[name] = list(subjects)
        if name in self._known_streams:
            return
        js = await self._ensure()
        declared = streams.declared_config(name, list(subjects))
        try:
            current = (await js.stream_info(name)).config
        except NotFoundError:
            try:
                await js.add_stream(declared)
                log.info("stream_created", stream=name)
            except BadRequestError:  # created by a replica in the meantime
                await js.stream_info(name)
        else:
            if changed := streams.differences(current, declared):
                try:
                    await js.update_stream(streams.reconciled(current, declared))
                    log.warning("stream_reconciled", stream=name, changed=changed)
                except (nats.errors.Error, TimeoutError) as e:
                    # E.g. a consumer's service not allowed to edit its producer's stream: the stream
                    # is there, which is what this process needs; its owner brings it in line.
                    log.warning("stream_not_reconciled", stream=name, changed=changed, error=type(e).__name__)
        self._known_streams.add(name)

    async def _recreate_stream_of(self, subject: str) -> bool:
        """After a publish found no stream for ``subject``: create again the declared stream that
        should hold it (deleted behind this process's back). True when there was one."""
        for name, subjects in list(self._declared_streams.items()):
            if any(streams.subject_matches(pattern, subject) for pattern in subjects):
                self._known_streams.discard(name)
                await self.ensure_stream(name, subjects)
                return True
        return False

    async def publish(self, subject: str, payload: bytes, *, msg_id: str, headers: dict[str, str] | None = None) -> None:
        js = await self._ensure()
        all_headers = {**(headers or {}), "Nats-Msg-Id": msg_id}
        try:
            await js.publish(subject, payload, headers=all_headers, timeout=self.publish_timeout)
        except NoStreamResponseError:
            if not await self._recreate_stream_of(subject):
                raise
            await js.publish(subject, payload, headers=all_headers, timeout=self.publish_timeout)

    async def publish_batch(self, messages: Sequence[tuple[str, bytes, str, dict[str, str]]]) -> list[bool]:
        """Publish (subject, payload, msg_id, headers) tuples without waiting for each ack in turn.

        Returns, per message, whether the server acknowledged it; JetStream deduplicates by
        ``Nats-Msg-Id`` so a message published again after a lost ack is stored once.
        """
        js = await self._ensure()
        # A time limit on the wait for a free slot among the client's pending publishes (4,000) makes that
        # wait a task of its own (``asyncio.wait_for``), so every message yielded to the event loop and the
        # client wrote each to the socket by itself: a system call per event, a tenth of the relay's process.
        # A batch well within the limit (the relay's are 200) never waits for a slot: all of its messages are
        # then written at once.
        stall = None if len(messages) <= _STALL_FREE_BATCH else self.publish_timeout
        futures = []
        for subject, payload, msg_id, headers in messages:
            futures.append(await js.publish_async(subject, payload, headers={**headers, "Nats-Msg-Id": msg_id},
                                                  wait_stall=stall))
        results = await asyncio.gather(*(asyncio.wait_for(f, self.publish_timeout) for f in futures),
                                       return_exceptions=True)
        for (subject, *_), result in zip(messages, results, strict=True):
            if isinstance(result, NoStreamResponseError):
                # The stream was deleted: recreated now, so the caller's next attempt is stored.
                await self._recreate_stream_of(subject)
                break
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

    @staticmethod
    def _consumer_config(spec: ConsumerSpec, *, start_at: int | None = None) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL if start_at is None else DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start_at,
            max_deliver=spec.max_deliver,
            ack_wait=spec.ack_wait_seconds,
            filter_subjects=list(spec.subjects) if len(spec.subjects) > 1 else None,
            filter_subject=spec.subjects[0] if len(spec.subjects) == 1 else None,
            max_ack_pending=MAX_ACK_PENDING,
        )

    @staticmethod
    def _consumer_differences(info: ConsumerInfo, spec: ConsumerSpec) -> list[str]:
        current = info.config
        changed = []
        if abs(float(current.ack_wait or 0) - spec.ack_wait_seconds) > 0.001:
            changed.append("ack_wait")
        if current.max_deliver != spec.max_deliver:
            changed.append("max_deliver")
        filters = list(current.filter_subjects or []) or ([current.filter_subject] if current.filter_subject else [])
        if sorted(filters) != sorted(spec.subjects):
            changed.append("filter_subjects")
        if current.max_ack_pending != MAX_ACK_PENDING:
            changed.append("max_ack_pending")
        return changed

    async def _ensure_consumer(self, spec: ConsumerSpec) -> JetStreamContext.PullSubscription:
        """The durable consumer of ``spec``, created when missing and brought to ``spec`` when one of its
        settings was changed since it was created (a deploy that changes ``ack_wait``, ``max_deliver`` or
        the subjects takes effect without anyone deleting the consumer by hand)."""
        js = await self._ensure()
        await self.ensure_stream(DEAD_LETTER_STREAM, streams.DEAD_LETTER_SUBJECTS)
        if spec.stream_subjects:
            await self.ensure_stream(spec.stream, spec.stream_subjects)
        try:
            info = await js.consumer_info(spec.stream, spec.durable)
        except NotFoundError:
            # Deleted while this process ran: created again after its acknowledgement floor as last
            # seen, not from the stream's start (whose oldest events' handled records may be pruned).
            start_at = self._ack_floors[spec.durable] + 1 if self._ack_floors.get(spec.durable) else None
            try:
                await js.add_consumer(spec.stream, self._consumer_config(spec, start_at=start_at))
                log.info("consumer_created", durable=spec.durable, stream=spec.stream, start_at=start_at)
            except BadRequestError:
                pass  # a replica created it first
        else:
            self._ack_floors[spec.durable] = info.ack_floor.stream_seq
            if changed := self._consumer_differences(info, spec):
                await self._reconcile_consumer(js, spec, info, changed)
        return await js.pull_subscribe_bind(spec.durable, stream=spec.stream)

    async def _reconcile_consumer(self, js: JetStreamContext, spec: ConsumerSpec, info: ConsumerInfo,
                                  changed: list[str]) -> None:
        try:
            await js.add_consumer(spec.stream, self._consumer_config(spec))  # an update of an existing durable
            log.warning("consumer_reconciled", durable=spec.durable, changed=changed)
            return
        except BadRequestError as e:
            log.warning("consumer_not_updatable_recreating", durable=spec.durable, changed=changed, error=str(e)[:200])
        # A setting the server cannot change in place: recreate the durable where it stood. Messages
        # delivered but not acknowledged come again; the consumers' handled-event record absorbs them.
        start_at = info.ack_floor.stream_seq + 1 if info.ack_floor and info.ack_floor.stream_seq else None
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(spec.stream, spec.durable)
        try:
            await js.add_consumer(spec.stream, self._consumer_config(spec, start_at=start_at))
        except BadRequestError:
            pass  # a replica recreated it first
        log.warning("consumer_recreated", durable=spec.durable, changed=changed, start_at=start_at)

    async def consume(self, spec: ConsumerSpec, handler: DeliveryHandler, *,
                      batch_handler: BatchDeliveryHandler | None = None, pause: Pause | None = None) -> None:
        """Fetch and handle messages until cancelled; survives the server going away, and the stream or
        the consumer being deleted (both are created again).

        With ``batch_handler``, each fetched batch is given to it whole (one call, in stream order)
        instead of one ``handler`` call per message; each message is then settled by its outcome.
        With ``pause``, a failure that ``pause`` finds to be its dependency being away (the database)
        is not a failed delivery: nothing more is fetched, the messages in hand are held (their
        acknowledgement wait extended, so none is redelivered and none counts towards
        ``max_deliver``) until the dependency is back, then handled again."""
        sub: JetStreamContext.PullSubscription | None = None
        backoff = 0.5
        last_check = time.monotonic()
        while True:
            try:
                if pause is not None:
                    await pause.wait()
                if sub is None:
                    sub = await self._ensure_consumer(spec)
                    backoff = 0.5
                    last_check = time.monotonic()
                try:
                    msgs = await sub.fetch(spec.batch, timeout=spec.fetch_seconds)
                    fetched_at = time.monotonic()
                except TimeoutError:
                    # On 3.11 a timeout racing a cancellation can swallow the cancellation: honour it.
                    if cancellation_requested():
                        raise asyncio.CancelledError from None
                    if time.monotonic() - last_check > CONSUMER_CHECK_SECONDS:
                        # Idle: a deleted consumer would only ever time out. NotFoundError when it is gone.
                        last_check = time.monotonic()
                        info = await (await self._ensure()).consumer_info(spec.stream, spec.durable)
                        self._ack_floors[spec.durable] = info.ack_floor.stream_seq
                    continue
                last_check = time.monotonic()
                if batch_handler is not None:
                    await self._deliver_whole(spec, msgs, batch_handler, pause)
                else:
                    await self._deliver_batch(spec, msgs, handler, pause)
                if len(msgs) < spec.batch:
                    rest = spec.linger_seconds - (time.monotonic() - fetched_at)
                    if rest > 0:
                        await asyncio.sleep(rest)
            except asyncio.CancelledError:
                if sub is not None:  # else a late pull-request status left in its queue stalls close() for 30 s
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                raise
            except (NotFoundError, nats.errors.Error, OSError, TimeoutError) as e:
                if cancellation_requested():
                    raise asyncio.CancelledError from e
                log.warning("consumer_waiting_for_bus", durable=spec.durable, error=type(e).__name__)
                if isinstance(e, NotFoundError) or (sub is not None and await self._consumer_gone(spec)):
                    # The stream or consumer was removed: create it again, checking the stream anew.
                    self._known_streams.discard(spec.stream)
                    self._known_streams.discard(DEAD_LETTER_STREAM)
                    if sub is not None:
                        with contextlib.suppress(Exception):
                            await sub.unsubscribe()
                    sub = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _consumer_gone(self, spec: ConsumerSpec) -> bool:
        """Whether the durable was deleted (a pull from a deleted consumer fails with a status, not 404)."""
        try:
            await (await self._ensure()).consumer_info(spec.stream, spec.durable)
        except NotFoundError:
            return True
        except Exception:  # the server away: not known to be gone
            return False
        return False

    async def _deliver_batch(self, spec: ConsumerSpec, msgs: list[Msg], handler: DeliveryHandler,
                             pause: Pause | None) -> None:
        groups: dict[str, list[Msg]] = {}
        for msg in msgs:
            key = (msg.headers or {}).get(ORDERING_KEY_HEADER) or msg.subject
            groups.setdefault(key, []).append(msg)
        if len(groups) == 1:
            for msg in msgs:
                await self._deliver(spec, msg, handler, pause)
            return
        limit = asyncio.Semaphore(max(1, spec.concurrency))

        async def in_order(group: list[Msg]) -> None:
            async with limit:
                for msg in group:
                    await self._deliver(spec, msg, handler, pause)

        await asyncio.gather(*(in_order(g) for g in groups.values()))

    async def _hold(self, spec: ConsumerSpec, msgs: list[Msg], pause: Pause) -> None:
        """Keep ``msgs`` from being redelivered — a redelivery would count towards ``max_deliver`` —
        until ``pause`` says the dependency is back: ``in_progress`` restarts each one's ack wait."""

        async def keep_alive() -> None:
            while True:
                for msg in msgs:
                    with contextlib.suppress(Exception):  # NATS away as well: the message is redelivered later
                        await msg.in_progress()
                await asyncio.sleep(max(spec.ack_wait_seconds / 3, 0.2))

        HELD.labels(spec.durable).inc(len(msgs))
        heartbeat = asyncio.create_task(keep_alive())
        try:
            await pause.wait()
        finally:
            HELD.labels(spec.durable).dec(len(msgs))
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _deliver_whole(self, spec: ConsumerSpec, msgs: list[Msg], handler: BatchDeliveryHandler,
                             pause: Pause | None) -> None:
        deliveries = [self._delivery(spec, msg) for msg in msgs]
        outcomes: list[tuple[str, Exception | None]] = [(DeliveryOutcome.RETRY, None)] * len(msgs)
        pending = list(range(len(msgs)))
        while pending:
            try:
                got = await handler([deliveries[i] for i in pending])
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the handler's own failure: every message is retried, then dead-lettered
                got = [(DeliveryOutcome.RETRY, e)] * len(pending)
            held = []
            for i, (outcome, error) in zip(pending, got, strict=True):
                outcomes[i] = (outcome, error)
                if error is not None and pause is not None and await pause.outage(error):
                    held.append(i)
            if held:
                assert pause is not None
                await self._hold(spec, [msgs[i] for i in held], pause)
            pending = held
        for msg, delivery, (outcome, error) in zip(msgs, deliveries, outcomes, strict=True):
            await self._settle(spec, msg, delivery, outcome, error)

    def _delivery(self, spec: ConsumerSpec, msg: Msg) -> Delivery:
        meta = msg.metadata
        CONSUMER_PENDING.labels(spec.durable).set(meta.num_pending)
        if meta.num_delivered > 1:
            REDELIVERIES.labels(spec.durable).inc()
        return Delivery(data=msg.data, headers=dict(msg.headers or {}), subject=msg.subject,
                        num_delivered=meta.num_delivered, max_deliver=spec.max_deliver)

    async def _deliver(self, spec: ConsumerSpec, msg: Msg, handler: DeliveryHandler, pause: Pause | None) -> None:
        delivery = self._delivery(spec, msg)
        while True:
            try:
                outcome = await handler(delivery)
                error = None
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the handler's own failure: retry, then dead-letter
                outcome, error = DeliveryOutcome.RETRY, e
            if error is None or pause is None or not await pause.outage(error):
                break
            await self._hold(spec, [msg], pause)  # the same delivery, handled again once the database is back
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
        await self._publish_dead_letter(
            spec.durable, original_subject=msg.subject, original_stream=msg.metadata.stream,
            original_sequence=msg.metadata.sequence.stream, data=msg.data, headers=msg.headers,
            reason=f"{type(error).__name__}: {error}" if error else "retries exhausted")

    async def _publish_dead_letter(self, durable: str, *, original_subject: str, original_stream: str,
                                   original_sequence: int, data: bytes, headers: dict[str, str] | None,
                                   reason: str) -> None:
        """Copy a message to ``lvrong.deadletter.<durable>``; the message id makes a second copy of the
        same message (from the handler and from the MaxDeliver advisory) a duplicate the stream drops."""
        dead_headers = {k: v for k, v in (headers or {}).items() if k != "Nats-Msg-Id"}
        dead_headers.update({
            "Lvrong-Original-Subject": original_subject,
            "Lvrong-Original-Stream": original_stream,
            "Lvrong-Original-Sequence": str(original_sequence),
            "Lvrong-Consumer": durable,
            "Lvrong-Error": reason[:500],
        })
        await self.publish(f"{DEAD_LETTER_PREFIX}.{durable}", data, msg_id=f"dl-{durable}-{original_sequence}",
                           headers=dead_headers)
        DEAD_LETTERED.labels(durable).inc()
        log.error("event_dead_lettered", durable=durable, subject=original_subject, error=reason.split(":", 1)[0])

    async def dead_letter_unsettled(self, spec: ConsumerSpec) -> None:
        """Until cancelled: copy to the dead letters every message of ``spec``'s consumer that reached
        ``max_deliver`` without being settled — its handler still running past ``ack_wait`` on the last
        delivery, the process killed there, the dead-letter publish failing — which the consumer
        itself can never report. The server announces each in a MaxDeliver advisory; the stream
        ``LVRONG_UNSETTLED`` keeps the advisories, so none is missed while no replica is running, and
        a durable consumer per consumer (``<durable>-unsettled``) copies the message, read back from
        its stream by sequence, with the reason."""
        watcher = ConsumerSpec(
            stream=streams.UNSETTLED_STREAM, durable=f"{spec.durable}-unsettled",
            subjects=[f"{streams.MAX_DELIVERIES_ADVISORY}.{spec.stream}.{spec.durable}"],
            stream_subjects=streams.UNSETTLED_SUBJECTS, max_deliver=UNSETTLED_MAX_DELIVER,
            retry_delays=(1.0, 5.0, 30.0, 60.0), batch=16, concurrency=1,
            fetch_seconds=5.0)  # advisories are rare: an idle watcher asks the server seldom

        async def copy(delivery: Delivery) -> str:
            try:
                advisory = json.loads(delivery.data)
                sequence, deliveries = int(advisory["stream_seq"]), advisory.get("deliveries")
            except (ValueError, KeyError, TypeError):
                return DeliveryOutcome.DEAD_LETTER
            js = await self._ensure()
            try:
                original = await js.get_msg(spec.stream, sequence)
            except NotFoundError:  # gone from the stream (its age limit): the dead letter says which it was
                subject, data, headers = "", b"", None
            else:
                subject, data, headers = original.subject or "", original.data or b"", original.headers
            await self._publish_dead_letter(
                spec.durable, original_subject=subject, original_stream=spec.stream, original_sequence=sequence,
                data=data, headers=headers,
                reason=f"MaxDeliveriesReached: delivered {deliveries} times and never settled (handler still "
                       f"running past ack_wait, process stopped, or the dead-letter publish failed)")
            return DeliveryOutcome.ACK

        while True:  # runs beside the consumer it watches: whatever goes wrong here must not stop that one
            try:
                await self.consume(watcher, copy)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # e.g. refused by the server's permissions: say so, try again
                log.error("unsettled_watch_failed", durable=watcher.durable, error=type(e).__name__)
                await asyncio.sleep(5.0)


async def subscribe_core_when_possible(bus: Bus, subject: str, callback: CoreCallback, *,
                                       on_reconnect: ReconnectHook | None = None) -> Unsubscribe:
    """``bus.subscribe_core``, retried (0.5 s doubling to 5 s) until the bus answers; for a replica's
    fan-out task, which starts with the process whether or not NATS is up yet."""
    delay = 0.5
    while True:
        try:
            return await bus.subscribe_core(subject, callback, on_reconnect=on_reconnect)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if cancellation_requested():
                raise asyncio.CancelledError from e
            log.warning("core_subscription_waiting_for_bus", subject=subject, error=type(e).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
