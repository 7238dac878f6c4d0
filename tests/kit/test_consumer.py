"""Idempotent event handling against the real PostgreSQL and NATS JetStream: an event's effect is
applied once however often it is delivered, a failing handler leaves nothing half-written and is
retried, and a message that can never succeed ends on the dead-letter subject without blocking
the events behind it. With a batch handler, a fetched batch is applied in one transaction, each event
once and in order, each in its own trace; when the batch fails its events are handled one at a time,
so a poison event is retried and dead-lettered alone while the others are applied."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import Database
from kit.events import (
    CloudEvent,
    ConsumerSpec,
    Delivery,
    DeliveryOutcome,
    EventConsumer,
    EventSubscription,
    JetStreamBus,
    handle_once,
)
from kit.events import processed_events as processed
from kit.events.consumer import handling
from kit.events.deadletters import DeadLetters
from kit.events.envelope import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM
from kit.tracing import TraceContext, current_trace


@pytest.fixture(scope="module")
async def database(make_database) -> Database:
    database = await make_database(os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_test") + "_kit_consumer")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE counter (id text PRIMARY KEY, n int NOT NULL)"))
    return database


async def bump(session: AsyncSession, event: CloudEvent) -> None:
    """The handlers' effect: one more on the counter named by the event."""
    await session.execute(text("INSERT INTO counter (id, n) VALUES (:id, 1) "
                               "ON CONFLICT (id) DO UPDATE SET n = counter.n + 1"), {"id": event.data["key"]})


async def counter(database: Database, key: str) -> int | None:
    async with database.session() as session:
        return (await session.execute(text("SELECT n FROM counter WHERE id = :id"), {"id": key})).scalar()


async def processed_rows(database: Database, consumer: str, event_id: str) -> list:
    async with database.session() as session:
        return (await session.execute(select(processed).where(processed.c.consumer == consumer,
                                                              processed.c.event_id == event_id))).all()


def an_event(test_events, n: int = 1, key: str = "k", behaviour: str = "ok") -> CloudEvent:
    return test_events.contract(n=n, key=f"{test_events.suffix}-{key}", behaviour=behaviour).envelope()


# --- handle_once -----------------------------------------------------------------------------


async def test_same_event_handled_twice_applies_once(database: Database, test_events) -> None:
    event = an_event(test_events)
    assert await handle_once(database, "kittest-a", event, bump) is True
    assert await handle_once(database, "kittest-a", event, bump) is False
    assert await counter(database, event.data["key"]) == 1
    (row,) = await processed_rows(database, "kittest-a", event.id)
    assert row.event_type == event.type and row.handled_at is not None


async def test_the_record_of_handling_is_scoped_by_consumer(database: Database, test_events) -> None:
    event = an_event(test_events)
    assert await handle_once(database, "kittest-a", event, bump) is True
    assert await handle_once(database, "kittest-b", event, bump) is True  # another consumer has its own record
    assert await handle_once(database, "kittest-b", event, bump) is False
    assert await counter(database, event.data["key"]) == 2


async def test_a_failing_handler_leaves_neither_effect_nor_record(database: Database, test_events) -> None:
    event = an_event(test_events)

    async def bump_then_fail(session: AsyncSession, event: CloudEvent) -> None:
        await bump(session, event)
        raise RuntimeError("the handler failed after its first write")

    with pytest.raises(RuntimeError, match="after its first write"):
        await handle_once(database, "kittest-a", event, bump_then_fail)
    assert await counter(database, event.data["key"]) is None
    assert await processed_rows(database, "kittest-a", event.id) == []

    assert await handle_once(database, "kittest-a", event, bump) is True  # the retry applies it, once
    assert await handle_once(database, "kittest-a", event, bump) is False
    assert await counter(database, event.data["key"]) == 1
    assert len(await processed_rows(database, "kittest-a", event.id)) == 1


async def test_concurrent_deliveries_of_one_event_apply_once(database: Database, test_events) -> None:
    event = an_event(test_events)
    results = await asyncio.gather(*(handle_once(database, "kittest-a", event, bump) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert await counter(database, event.data["key"]) == 1


# --- EventConsumer on JetStream --------------------------------------------------------------


@dataclass
class RunningConsumer:
    consumer: EventConsumer
    task: asyncio.Task
    deliveries: list[tuple[int, str, Delivery]] = field(default_factory=list)  # (num_delivered, outcome, delivery)
    calls: dict[str, int] = field(default_factory=dict)  # handler calls per event key
    traces: list[TraceContext | None] = field(default_factory=list)

    @property
    def durable(self) -> str:
        return self.consumer.durable

    @property
    def dead_letter_subject(self) -> str:
        return f"{DEAD_LETTER_PREFIX}.{self.durable}"

    def outcomes(self, key: str) -> list[str]:
        return [o for _, o, d in self.deliveries if d.data.startswith(b"{") and json.loads(d.data)["data"]["key"] == key]


@pytest.fixture
async def start_consumer(database: Database, bus, js, test_events, stop_task) -> AsyncIterator[Any]:
    """Start an ``EventConsumer`` of the test's events whose handler bumps the counter, fails a few
    times, or always fails, as each event's ``behaviour`` says."""
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    running: list[RunningConsumer] = []

    async def start(max_deliver: int = 5) -> RunningConsumer:

        async def handler(session: AsyncSession, event: CloudEvent) -> None:
            key = event.data["key"]
            rc.calls[key] = rc.calls.get(key, 0) + 1
            rc.traces.append(current_trace.get())
            await bump(session, event)  # written before failing: the failure must roll it back
            behaviour = event.data["behaviour"]
            if behaviour == "poison":
                raise ValueError("cannot handle this event\n(a multi-line message, as database errors have)")
            if behaviour.startswith("fail") and rc.calls[key] <= int(behaviour.removeprefix("fail")):
                # Not a connection error: one would be checked against the database, which, reachable but
                # slow on a busy machine, could make the consumer hold the event instead of retrying it.
                raise RuntimeError(f"transient failure {rc.calls[key]}")

        subscription = EventSubscription(name=f"things{test_events.suffix}", producer=test_events.producer,
                                         subjects=[test_events.subject], handler=handler)
        consumer = EventConsumer(database, bus, "kittestsvc", subscription, max_deliver=max_deliver)
        consumer.spec.retry_delays = (0.1,)
        original = consumer._on_delivery

        async def spy(delivery: Delivery) -> str:
            try:
                outcome = await original(delivery)
            except Exception:  # the bus treats a raising handler as one to retry
                rc.deliveries.append((delivery.num_delivered, DeliveryOutcome.RETRY, delivery))
                raise
            rc.deliveries.append((delivery.num_delivered, outcome, delivery))
            return outcome

        consumer._on_delivery = spy  # type: ignore[method-assign]
        rc = RunningConsumer(consumer, asyncio.create_task(consumer.run()))
        running.append(rc)
        return rc

    yield start
    for rc in running:
        await stop_task(rc.task)
        with contextlib.suppress(NotFoundError):
            await js.purge_stream(DEAD_LETTER_STREAM, subject=rc.dead_letter_subject)


async def publish(bus, test_events, event: CloudEvent, msg_id: str | None = None) -> None:
    await bus.publish(test_events.subject, event.to_json_bytes(), msg_id=msg_id or event.id,
                      headers={"traceparent": event.traceparent} if event.traceparent else None)


async def nothing_pending(js, rc: RunningConsumer) -> bool:
    info = await js.consumer_info(rc.consumer.spec.stream, rc.durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_replayed_event_with_another_msg_id_is_applied_once(database: Database, bus, js, test_events,
                                                                    start_consumer, eventually) -> None:
    rc = await start_consumer()
    trace = TraceContext.new()
    token = current_trace.set(trace)
    try:
        event = an_event(test_events, key="replayed")
    finally:
        current_trace.reset(token)
    await publish(bus, test_events, event, msg_id="first-delivery")
    await publish(bus, test_events, event, msg_id="replayed-by-ops")  # not deduplicated by JetStream

    async def both_acked() -> bool:
        return [o for _, o, _ in rc.deliveries] == [DeliveryOutcome.ACK, DeliveryOutcome.ACK]

    await eventually(both_acked, what="both copies acknowledged")
    assert await counter(database, event.data["key"]) == 1
    assert rc.calls == {event.data["key"]: 1}
    assert len(await processed_rows(database, rc.durable, event.id)) == 1
    assert await nothing_pending(js, rc)
    # The handler ran in the event's trace.
    assert rc.traces[0] is not None and rc.traces[0].trace_id == trace.trace_id


async def test_a_handler_failing_twice_is_applied_once_after_redelivery(database: Database, bus, js, test_events,
                                                                        start_consumer, eventually) -> None:
    rc = await start_consumer(max_deliver=3)
    event = an_event(test_events, key="flaky", behaviour="fail2")
    await publish(bus, test_events, event)

    async def acked() -> bool:
        return DeliveryOutcome.ACK in rc.outcomes(event.data["key"])

    await eventually(acked, what="the flaky event acknowledged")
    assert [(n, o) for n, o, _ in rc.deliveries] == [(1, DeliveryOutcome.RETRY), (2, DeliveryOutcome.RETRY),
                                                      (3, DeliveryOutcome.ACK)]
    assert rc.calls[event.data["key"]] == 3
    assert await counter(database, event.data["key"]) == 1  # the two failed attempts left nothing behind
    assert await nothing_pending(js, rc)
    with pytest.raises(NotFoundError):  # nothing was dead-lettered
        await js.get_msg(DEAD_LETTER_STREAM, subject=rc.dead_letter_subject)
    # What ops see: two redeliveries, no dead letter, nothing left behind in the stream.
    assert REGISTRY.get_sample_value("lvrong_event_redeliveries_total", {"consumer": rc.durable}) == 2
    assert REGISTRY.get_sample_value("lvrong_events_dead_lettered_total", {"consumer": rc.durable}) is None
    assert REGISTRY.get_sample_value("lvrong_consumer_pending", {"consumer": rc.durable}) == 0


async def test_a_poison_event_goes_to_the_dead_letter_and_later_events_still_flow(
        database: Database, bus, js, test_events, start_consumer, eventually):
    rc = await start_consumer(max_deliver=3)
    poison = an_event(test_events, key="poison", behaviour="poison")
    good = an_event(test_events, key="good")
    await publish(bus, test_events, poison)
    await publish(bus, test_events, good)

    async def poison_dead_lettered() -> bool:
        return DeliveryOutcome.RETRY in rc.outcomes(poison.data["key"]) and len(rc.outcomes(poison.data["key"])) == 3

    await eventually(poison_dead_lettered, what="the poison event's three deliveries")
    await eventually(lambda: nothing_pending(js, rc), what="the consumer settling")
    assert rc.calls[poison.data["key"]] == 3  # max_deliver, no more
    assert await counter(database, poison.data["key"]) is None
    assert await processed_rows(database, rc.durable, poison.id) == []
    assert await counter(database, good.data["key"]) == 1  # not blocked behind the poison event

    dead = await js.get_msg(DEAD_LETTER_STREAM, subject=rc.dead_letter_subject)
    assert dead.subject == rc.dead_letter_subject
    assert dead.data == poison.to_json_bytes()
    assert CloudEvent.from_json_bytes(dead.data).id == poison.id  # ops can replay it as it was
    headers = dead.headers
    assert headers["Lvrong-Original-Subject"] == test_events.subject
    assert headers["Lvrong-Original-Stream"] == test_events.stream
    assert headers["Lvrong-Consumer"] == rc.durable
    assert int(headers["Lvrong-Original-Sequence"]) == 1
    assert "ValueError" in headers["Lvrong-Error"] and "cannot handle this event" in headers["Lvrong-Error"]
    assert "\n" not in headers["Lvrong-Error"] and "\r" not in headers["Lvrong-Error"]
    info = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=rc.dead_letter_subject)
    assert info.state.subjects == {rc.dead_letter_subject: 1}
    assert REGISTRY.get_sample_value("lvrong_events_dead_lettered_total", {"consumer": rc.durable}) == 1
    # The service's view of its dead letters (what /v1/ops/<service>/deadletters serves).
    letters = DeadLetters(bus, [rc.durable])
    [letter], next_page = await letters.list()
    assert next_page is None and letter.sequence == dead.seq and letter.event is not None
    assert letter.event.id == poison.id and letter.consumer == rc.durable and letter.original_sequence == 1
    assert await letters.counts() == {rc.durable: 1}


async def test_a_malformed_message_goes_straight_to_the_dead_letter(database: Database, bus, js, test_events,
                                                                    start_consumer, eventually) -> None:
    rc = await start_consumer(max_deliver=5)
    await bus.publish(test_events.subject, b"{this is not json", msg_id="malformed-1")
    good = an_event(test_events, key="after-malformed")
    await publish(bus, test_events, good)

    async def settled() -> bool:
        return len(rc.deliveries) == 2 and await nothing_pending(js, rc)

    await eventually(settled, what="both messages handled")
    (first_n, first_outcome, first), (_, second_outcome, _) = rc.deliveries
    assert first.data == b"{this is not json"
    assert (first_n, first_outcome) == (1, DeliveryOutcome.DEAD_LETTER)  # no retries for what can never succeed
    assert second_outcome == DeliveryOutcome.ACK
    assert await counter(database, good.data["key"]) == 1
    assert rc.calls == {good.data["key"]: 1}

    dead = await js.get_msg(DEAD_LETTER_STREAM, subject=rc.dead_letter_subject)
    assert dead.data == b"{this is not json"
    assert dead.headers["Lvrong-Original-Subject"] == test_events.subject
    assert dead.headers["Lvrong-Error"]


async def test_closing_the_bus_after_stopping_an_idle_consumer_is_quick(database: Database, servers, test_events,
                                                                         stop_task) -> None:
    # A service stops by cancelling its consumers and closing the bus; expired pull requests of an
    # idle consumer must not hold that close for the client's 30 s drain timeout.
    bus = JetStreamBus(servers.nats_admin, name="kittest-close")
    await bus.connect()
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    subscription = EventSubscription(name=f"idle{test_events.suffix}", producer=test_events.producer,
                                     subjects=[test_events.subject], handler=bump)
    task = asyncio.create_task(EventConsumer(database, bus, "kittestsvc", subscription).run())
    await asyncio.sleep(2.5)  # idle: a couple of one-second pull requests expire meanwhile
    await stop_task(task)
    started = time.monotonic()
    await bus.close()
    assert time.monotonic() - started < 5


# --- batch handlers: a fetched batch in one transaction, one event at a time when it fails -----------

async def counts(database: Database, keys: list[str]) -> dict[str, int | None]:
    async with database.session() as session:
        found = dict((await session.execute(text("SELECT id, n FROM counter WHERE id = ANY(:ids)"),
                                            {"ids": keys})).all())
    return {k: found.get(k) for k in keys}


@dataclass
class Calls:
    batches: list[list[str]] = field(default_factory=list)  # keys given to the batch handler, per call
    single: list[str] = field(default_factory=list)  # keys given to the one-at-a-time handler
    traces: dict[str, TraceContext | None] = field(default_factory=dict)  # key → trace inside handling()


@pytest.fixture
async def consume_batches(database: Database, bus, test_events, stop_task) -> AsyncIterator[Any]:
    """Start a consumer of the test's events whose handlers bump a counter per event and refuse the
    events whose behaviour is "poison" (the batch handler after bumping every event of its batch)."""
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    tasks = []

    async def start(max_deliver: int = 5) -> tuple[Calls, EventConsumer]:
        calls = Calls()

        async def one(session: AsyncSession, event: CloudEvent) -> None:
            calls.single.append(event.data["key"])
            await bump(session, event)
            if event.data["behaviour"] == "poison":
                raise ValueError("cannot handle this event")

        async def batch(session: AsyncSession, events: list[CloudEvent]) -> None:
            calls.batches.append([e.data["key"] for e in events])
            for event in events:
                with handling(event):
                    calls.traces[event.data["key"]] = current_trace.get()
                    await bump(session, event)
            if any(e.data["behaviour"] == "poison" for e in events):
                raise ValueError("cannot handle this batch")

        subscription = EventSubscription(name=f"batches{test_events.suffix}", producer=test_events.producer,
                                         subjects=[test_events.subject], handler=one, batch_handler=batch)
        consumer = EventConsumer(database, bus, "kittestsvc", subscription, max_deliver=max_deliver)
        consumer.spec.retry_delays = (0.1,)
        tasks.append(asyncio.create_task(consumer.run()))
        return calls, consumer

    yield start
    for task in tasks:
        await stop_task(task)


async def settled(js, consumer: EventConsumer) -> bool:
    try:
        info = await js.consumer_info(consumer.spec.stream, consumer.durable)
    except NotFoundError:  # not created yet
        return False
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_batch_is_applied_once_in_order_each_event_in_its_own_trace(
        database: Database, bus, js, test_events, consume_batches, eventually) -> None:
    keys = [f"{test_events.suffix}-{i}" for i in range(20)]
    events = []
    for key in keys:
        token = current_trace.set(TraceContext.new())
        try:
            events.append(test_events.contract(n=1, key=key).envelope())
        finally:
            current_trace.reset(token)
    for event in events:
        await publish(bus, test_events, event)
    await publish(bus, test_events, events[3], msg_id="replayed-by-ops")  # the same event again
    calls, consumer = await consume_batches()

    async def done() -> bool:
        return await settled(js, consumer) and sum(map(len, calls.batches)) >= len(keys)

    await eventually(done, what="every event handled")
    assert [k for b in calls.batches for k in b] == keys  # each once, in the stream's order
    assert max(map(len, calls.batches)) > 1 and calls.single == []  # handled as batches, not one by one
    assert await counts(database, keys) == dict.fromkeys(keys, 1)
    async with database.session() as session:
        claimed = await session.scalar(select(func.count()).select_from(processed).where(
            processed.c.consumer == consumer.durable))
    assert claimed == len(keys)
    for event in events:  # inside handling(event), the event's trace continues the producer's
        trace = calls.traces[event.data["key"]]
        assert trace is not None and trace.trace_id == TraceContext.parse(event.traceparent).trace_id


async def test_events_arriving_while_the_consumer_lingers_share_one_batch(
        database: Database, bus, js, test_events, consume_batches, eventually) -> None:
    """After a batch smaller than its size the consumer waits ``linger_seconds`` from that fetch before the next
    (Kafka's linger): events arriving a few milliseconds apart under load share a fetch, a transaction and a
    commit instead of paying for one each, and are still each applied once and in order. A linger longer than
    the default here makes the window plain to see: the trickle after the first event is one batch."""
    assert ConsumerSpec(stream="s", durable="d", subjects=["s.x"]).linger_seconds > 0  # on by default
    calls, consumer = await consume_batches()
    consumer.spec.linger_seconds = 1.5
    keys = [f"{test_events.suffix}-trickle{i}" for i in range(11)]
    await publish(bus, test_events, test_events.contract(n=1, key=keys[0]).envelope())
    async def first_handled() -> bool:
        return calls.batches == [[keys[0]]]

    await eventually(first_handled, what="the first event handled alone")
    for key in keys[1:]:  # each stored (the stream's ack) before the next is sent: they arrive one by one, and
        # without lingering the consumer, which fetches again at once, would take them one or two at a time
        await publish(bus, test_events, test_events.contract(n=1, key=key).envelope())

    async def done() -> bool:
        return await settled(js, consumer) and sum(map(len, calls.batches)) >= len(keys)

    await eventually(done, what="every event handled")
    assert calls.batches == [[keys[0]], keys[1:]]
    assert await counts(database, keys) == dict.fromkeys(keys, 1)


async def test_a_poison_event_in_a_batch_fails_alone_and_a_malformed_message_is_dead_lettered(
        database: Database, bus, js, test_events, consume_batches, eventually) -> None:
    good = [test_events.contract(n=1, key=f"{test_events.suffix}-good{i}").envelope() for i in range(3)]
    poison = test_events.contract(n=1, key=f"{test_events.suffix}-poison", behaviour="poison").envelope()
    await publish(bus, test_events, good[0])
    await publish(bus, test_events, poison)
    await bus.publish(test_events.subject, b"{not an event", msg_id=f"malformed-{test_events.suffix}")
    await publish(bus, test_events, good[1])
    await publish(bus, test_events, good[2])
    calls, consumer = await consume_batches(max_deliver=2)
    dead_letters = f"{DEAD_LETTER_PREFIX}.{consumer.durable}"

    async def both_dead_lettered() -> bool:
        info = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=dead_letters)
        return (info.state.subjects or {}).get(dead_letters) == 2 and await settled(js, consumer)

    await eventually(both_dead_lettered, what="the poison and the malformed message dead-lettered")
    keys = [e.data["key"] for e in [*good, poison]]
    # The failed batch left nothing behind; its events were then applied one at a time, the poison not.
    assert await counts(database, keys) == {**dict.fromkeys(keys[:3], 1), poison.data["key"]: None}
    assert any(poison.data["key"] in batch for batch in calls.batches)  # it came in a batch first
    assert calls.single.count(poison.data["key"]) == 2  # max_deliver, no more
    async with database.session() as session:
        claimed = set((await session.scalars(select(processed.c.event_id).where(
            processed.c.consumer == consumer.durable))).all())
    assert claimed == {e.id for e in good}
    letters, _ = await DeadLetters(bus, [consumer.durable]).list()
    assert sorted(letter.raw for letter in letters) == sorted([b"{not an event", poison.to_json_bytes()])
    assert [letter.event.id for letter in letters if letter.event] == [poison.id]
    await js.purge_stream(DEAD_LETTER_STREAM, subject=dead_letters)


# --- events whose source is not their subject's producer -----------------------------------------


def forged(test_events, key: str, *, source: str | None = None, event_type: str | None = None) -> CloudEvent:
    """An event on the test producer's subject that claims another origin (a forgery, or a wrong relay)."""
    event = an_event(test_events, key=key)
    return event.model_copy(update={"source": source or event.source, "type": event_type or event.type})


@pytest.mark.parametrize("claim", ["source", "type"])
async def test_an_event_from_another_source_than_its_subject_is_dead_lettered_never_applied(
        database: Database, bus, js, test_events, start_consumer, eventually, claim: str) -> None:
    rc = await start_consumer(max_deliver=5)
    foreign = (forged(test_events, "forged", source="/lvrong/helpdesk") if claim == "source"
               else forged(test_events, "forged", event_type="lvrong.matters.application.status_changed"))
    genuine = an_event(test_events, key="genuine")
    await publish(bus, test_events, foreign)
    await publish(bus, test_events, genuine)

    async def settled() -> bool:
        return len(rc.deliveries) == 2 and await nothing_pending(js, rc)

    await eventually(settled, what="both events settled")
    assert [(n, o) for n, o, _ in rc.deliveries] == [(1, DeliveryOutcome.DEAD_LETTER), (1, DeliveryOutcome.ACK)]
    assert rc.calls == {genuine.data["key"]: 1}  # the handler never saw the forgery
    assert await counter(database, foreign.data["key"]) is None
    assert await processed_rows(database, rc.durable, foreign.id) == []
    dead = await js.get_msg(DEAD_LETTER_STREAM, subject=rc.dead_letter_subject)
    assert CloudEvent.from_json_bytes(dead.data).id == foreign.id
    assert REGISTRY.get_sample_value("lvrong_events_handled_total", {
        "consumer": rc.durable, "type": test_events.subject, "outcome": "refused_source"}) == 1


async def test_a_foreign_event_in_a_batch_is_dead_lettered_and_the_others_applied(
        database: Database, bus, js, test_events, consume_batches, eventually) -> None:
    good = [test_events.contract(n=1, key=f"{test_events.suffix}-good{i}").envelope() for i in range(2)]
    foreign = forged(test_events, "forged", source="/lvrong/licences")
    for event in (good[0], foreign, good[1]):
        await publish(bus, test_events, event)
    calls, consumer = await consume_batches()
    dead_letters = f"{DEAD_LETTER_PREFIX}.{consumer.durable}"

    async def dead_lettered() -> bool:
        info = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=dead_letters)
        return (info.state.subjects or {}).get(dead_letters) == 1 and await settled(js, consumer)

    await eventually(dead_lettered, what="the foreign event dead-lettered")
    assert [k for b in calls.batches for k in b] == [e.data["key"] for e in good] and calls.single == []
    assert await counts(database, [foreign.data["key"]]) == {foreign.data["key"]: None}
    [letter], _ = await DeadLetters(bus, [consumer.durable]).list()
    assert letter.event is not None and letter.event.id == foreign.id
    assert "is not the producer of" in (letter.error or "")
    await js.purge_stream(DEAD_LETTER_STREAM, subject=dead_letters)
