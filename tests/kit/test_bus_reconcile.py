"""Streams and durable consumers kept to their declared configuration on the real NATS JetStream:
limits applied to a stream created before them, changed consumer settings applied to an existing
durable (keeping its position), a deleted stream or consumer created again without a restart, and a
message whose last delivery is never settled copied to the dead letters from the MaxDeliver advisory."""
from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import Any

import pytest
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import kit.events.bus
from kit.db import Database
from kit.events import CloudEvent, ConsumerSpec, Delivery, DeliveryOutcome, EventConsumer, EventSubscription
from kit.events.envelope import DEAD_LETTER_STREAM
from kit.events.streams import DEAD_LETTER_LIMITS, EVENT_STREAM_LIMITS, UNSETTLED_STREAM


@pytest.fixture(scope="module")
async def database(make_database) -> Database:
    database = await make_database(os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_test") + "_kit_reconcile")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE effects (id bigserial PRIMARY KEY, event_id text NOT NULL)"))
    return database


async def effects(database: Database, event_id: str) -> int:
    async with database.session() as session:
        return (await session.execute(text("SELECT count(*) FROM effects WHERE event_id = :id"), {"id": event_id})).scalar_one()


async def test_a_stream_created_without_limits_is_brought_to_its_declared_ones(bus, js, test_events) -> None:
    await js.add_stream(StreamConfig(name=test_events.stream, subjects=test_events.subjects, storage=StorageType.FILE,
                                     duplicate_window=600.0, description="set by ops"))
    await js.publish(test_events.subject, b"kept", headers={"Nats-Msg-Id": "before"})
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    info = await js.stream_info(test_events.stream)
    assert info.config.max_age == pytest.approx(EVENT_STREAM_LIMITS.max_age_seconds)
    assert info.config.max_bytes == EVENT_STREAM_LIMITS.max_bytes
    assert info.config.discard == DiscardPolicy.NEW
    assert info.config.duplicate_window == pytest.approx(EVENT_STREAM_LIMITS.duplicate_window_seconds)
    assert info.state.messages == 1  # updated in place: nothing it held was lost
    assert info.config.description == "set by ops"  # what was not declared (replicas, placement…) is kept
    await bus.ensure_stream(DEAD_LETTER_STREAM, ["lvrong.deadletter.>"])
    dead = await js.stream_info(DEAD_LETTER_STREAM)
    assert dead.config.max_age == pytest.approx(DEAD_LETTER_LIMITS.max_age_seconds)  # kept longer


async def test_a_deleted_stream_is_created_again_by_the_next_publish(bus, js, test_events) -> None:
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    await js.delete_stream(test_events.stream)
    await bus.publish(test_events.subject, b"after the deletion", msg_id=uuid.uuid4().hex)
    info = await js.stream_info(test_events.stream)
    assert info.state.messages == 1 and info.config.max_age == pytest.approx(EVENT_STREAM_LIMITS.max_age_seconds)
    await js.delete_stream(test_events.stream)
    assert await bus.publish_batch([(test_events.subject, b"x", uuid.uuid4().hex, {})]) == [False]
    # The failed batch recreated it: the relay's next attempt is stored.
    assert await bus.publish_batch([(test_events.subject, b"x", uuid.uuid4().hex, {})]) == [True]


def _spec(test_events, **changes: Any) -> ConsumerSpec:
    return ConsumerSpec(**{"stream": test_events.stream, "durable": f"reconcile{test_events.suffix}",
                           "subjects": [test_events.subject], "stream_subjects": test_events.subjects, **changes})


async def test_changed_consumer_settings_are_applied_to_the_existing_durable(bus, js, test_events) -> None:
    spec = _spec(test_events)
    sub = await bus._ensure_consumer(spec)
    for n in range(3):
        await bus.publish(test_events.subject, b"%d" % n, msg_id=uuid.uuid4().hex)
    for msg in await sub.fetch(3, timeout=5):
        await msg.ack()
    await sub.unsubscribe()
    changed = _spec(test_events, ack_wait_seconds=7.0, max_deliver=9)
    await (await bus._ensure_consumer(changed)).unsubscribe()
    info = await js.consumer_info(test_events.stream, changed.durable)
    assert info.config.ack_wait == pytest.approx(7.0) and info.config.max_deliver == 9
    assert info.ack_floor.stream_seq == 3 and info.num_pending == 0  # its position kept

    # A subject filter changed: the durable follows it and still does not go back over what it acknowledged.
    narrower = _spec(test_events, ack_wait_seconds=7.0, max_deliver=9, subjects=[f"lvrong.{test_events.producer}.other.*"])
    await (await bus._ensure_consumer(narrower)).unsubscribe()
    info = await js.consumer_info(test_events.stream, narrower.durable)
    assert (info.config.filter_subject or (info.config.filter_subjects or [None])[0]) == narrower.subjects[0]
    assert info.num_pending == 0 and info.num_ack_pending == 0
    await bus.publish(f"lvrong.{test_events.producer}.other.x", b"new", msg_id=uuid.uuid4().hex)
    info = await js.consumer_info(test_events.stream, narrower.durable)
    assert info.num_pending == 1


async def test_a_deleted_consumer_is_created_again_while_the_service_runs(
        database: Database, bus, js, test_events, eventually, stop_task, monkeypatch) -> None:
    monkeypatch.setattr(kit.events.bus, "CONSUMER_CHECK_SECONDS", 0.5)

    calls: list[str] = []

    async def handler(session: AsyncSession, event: CloudEvent) -> None:
        calls.append(event.id)
        await session.execute(text("INSERT INTO effects (event_id) VALUES (:id)"), {"id": event.id})

    consumer = EventConsumer(database, bus, "kittestsvc", EventSubscription(
        f"recreated{test_events.suffix}", test_events.producer, [test_events.subject], handler))
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    task = asyncio.create_task(consumer.run())
    try:
        first = test_events.contract(n=1).envelope()
        await bus.publish(first.type, first.to_json_bytes(), msg_id=first.id)
        await eventually(lambda: _applied(database, first.id), within=15, what="the first event applied")

        async def floor_seen() -> bool:  # the idle consumer has looked at its durable since
            return (await js.consumer_info(test_events.stream, consumer.durable)).ack_floor.stream_seq == 1 and \
                bus._ack_floors.get(consumer.durable) == 1

        await eventually(floor_seen, within=15, what="the consumer's ack floor seen by the idle consumer")
        await js.delete_consumer(test_events.stream, consumer.durable)
        second = test_events.contract(n=2).envelope()
        await bus.publish(second.type, second.to_json_bytes(), msg_id=second.id)
        await eventually(lambda: _applied(database, second.id), within=20, what="the event after the deletion applied")
        assert await effects(database, first.id) == 1
        assert calls == [first.id, second.id]  # recreated after its ack floor: the first was not delivered again
        info = await js.consumer_info(test_events.stream, consumer.durable)
        assert info.num_pending == 0
    finally:
        await stop_task(task)


async def _applied(database: Database, event_id: str) -> bool:
    return await effects(database, event_id) == 1


async def test_a_message_whose_last_delivery_is_never_settled_ends_in_the_dead_letters(
        database: Database, bus, js, test_events, eventually, stop_task) -> None:
    """The first delivery fails; on the second (the last) the handler hangs past ack_wait and never
    returns. The consumer cannot dead-letter it; the server's MaxDeliver advisory does."""
    calls: dict[str, int] = {}

    async def handler(session: AsyncSession, event: CloudEvent) -> None:
        calls[event.id] = calls.get(event.id, 0) + 1
        if event.data["behaviour"] == "hang":
            if calls[event.id] == 1:
                raise RuntimeError("the first delivery fails")
            await asyncio.Event().wait()  # the last delivery: stuck past ack_wait, until cancelled
        await session.execute(text("INSERT INTO effects (event_id) VALUES (:id)"), {"id": event.id})

    subscription = EventSubscription(f"unsettled{test_events.suffix}", test_events.producer, [test_events.subject], handler)
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    replicas = []
    for _ in range(2):  # the other replica keeps asking for messages while one hangs
        consumer = EventConsumer(database, bus, "kittestsvc", subscription, max_deliver=2)
        consumer.spec.ack_wait_seconds = 1.0
        consumer.spec.retry_delays = (0.1,)
        replicas.append(asyncio.create_task(consumer.run()))
    durable = consumer.durable
    try:
        stuck = test_events.contract(n=1, key="stuck", behaviour="hang").envelope()
        await bus.publish(stuck.type, stuck.to_json_bytes(), msg_id=stuck.id)

        async def dead_lettered() -> bool:
            try:
                await js.get_msg(DEAD_LETTER_STREAM, subject=f"lvrong.deadletter.{durable}")
            except NotFoundError:
                return False
            return True

        await eventually(dead_lettered, within=30, what="the unsettled message in the dead letters")
        dead = await js.get_msg(DEAD_LETTER_STREAM, subject=f"lvrong.deadletter.{durable}")
        assert CloudEvent.from_json_bytes(dead.data).id == stuck.id
        assert dead.headers["Lvrong-Error"].startswith("MaxDeliveriesReached: delivered 2 times")
        assert dead.headers["Lvrong-Original-Stream"] == test_events.stream
        assert dead.headers["Lvrong-Original-Sequence"] == "1" and dead.headers["Lvrong-Consumer"] == durable
        assert calls[stuck.id] == 2 and await effects(database, stuck.id) == 0
        # Copied once, however many replicas read the advisory; the advisory itself is settled.
        info = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=f"lvrong.deadletter.{durable}")
        assert info.state.subjects == {f"lvrong.deadletter.{durable}": 1}
        watcher = await js.consumer_info(UNSETTLED_STREAM, f"{durable}-unsettled")
        assert watcher.num_ack_pending == 0 and watcher.num_pending == 0 and watcher.delivered.stream_seq >= 1
    finally:
        for task in replicas:
            await stop_task(task)
        with contextlib.suppress(NotFoundError):
            await js.purge_stream(DEAD_LETTER_STREAM, subject=f"lvrong.deadletter.{durable}")
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(UNSETTLED_STREAM, f"{durable}-unsettled")


async def test_an_unreadable_advisory_is_not_retried_for_ever(bus, test_events) -> None:
    """The copier refuses (dead-letters) an advisory it cannot read instead of retrying it a day long."""
    outcomes: list[str] = []
    spec = _spec(test_events)

    async def capture(watcher: ConsumerSpec, handler: Any, **_: Any) -> None:
        outcomes.append(await handler(Delivery(data=b"{not json", headers={}, subject="x", num_delivered=1,
                                               max_deliver=watcher.max_deliver)))
        raise asyncio.CancelledError  # the consumer stopped, as at shutdown

    original = bus.consume
    bus.consume = capture
    try:
        with pytest.raises(asyncio.CancelledError):
            await bus.dead_letter_unsettled(spec)
    finally:
        bus.consume = original
    assert outcomes == [DeliveryOutcome.DEAD_LETTER]

