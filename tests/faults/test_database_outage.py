"""A consumer's PostgreSQL stopped while events are in flight and more keep coming: the consumer
holds what it has and fetches nothing more until the database answers, so no delivery is spent on
the outage — every event is applied exactly once afterwards, none is dead-lettered, the consumer's
ack floor reaches the stream's end — and the outbox relay of the same database publishes each event
its handler wrote exactly once.

The outage (12 s) is several times what the old behaviour needed to dead-letter everything in flight
here (3 deliveries, 0.2 s apart).
"""
from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import kit.events.outbox  # noqa: F401 - registers outbox and processed_events on platform_metadata
from kit.db import Database, platform_metadata
from kit.devstack import LocalNats, LocalPostgres, free_port
from kit.events import CloudEvent, EventConsumer, EventContract, EventSubscription, JetStreamBus, OutboxRelay, add_event
from kit.events.bus import Delivery
from kit.events.envelope import DEAD_LETTER_STREAM, stream_name, stream_subjects
from support import recreate_database, throughout, until

OUTAGE_SECONDS = 12.0
MAX_DELIVER = 3


@pytest.fixture(scope="module")
def stoppable_postgres() -> AsyncIterator[LocalPostgres]:
    """A PostgreSQL of this module alone: the test stops it."""
    server = LocalPostgres(Path(tempfile.mkdtemp(prefix="lvrong-outage-postgres-")), port=free_port())
    server.start()
    yield server
    server.stop()


async def _count(database: Database, query: str) -> int:
    async with database.session() as session:
        return (await session.execute(text(query))).scalar_one()


async def test_an_outage_with_events_in_flight_spends_no_delivery_and_loses_nothing(
        stoppable_postgres: LocalPostgres, own_nats: LocalNats, fault_prefix: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    producer, relayed = f"outsrc{suffix}", f"outfwd{suffix}"

    class Forwarded(EventContract):
        event_type: ClassVar[str] = f"lvrong.{relayed}.thing.forwarded"
        source_service: ClassVar[str] = relayed
        original: str

    url = await recreate_database(stoppable_postgres.url, f"{fault_prefix}_outage")
    database = Database(url, pool_size=4)
    observer = Database(url, pool_size=1)  # the test's own reads, while held handlers fill the pool
    async with database.engine.begin() as conn:
        await conn.run_sync(platform_metadata.create_all)
        await conn.execute(text("CREATE TABLE effects (id bigserial PRIMARY KEY, event_id text NOT NULL)"))
    bus = JetStreamBus(own_nats.client(), name="outage-test")
    await bus.connect()
    await bus.ensure_stream(stream_name(producer), stream_subjects(producer))
    await bus.ensure_stream(stream_name(relayed), stream_subjects(relayed))
    js = await bus.jetstream()

    # Two handlers past the first few wait, inside their transaction, until the database has been stopped:
    # events are in flight when it goes by construction, not by timing.
    database_stopped = asyncio.Event()
    in_flight: set[str] = set()
    started: list[str] = []

    async def handler(session: AsyncSession, event: CloudEvent) -> None:
        started.append(event.id)
        await session.execute(text("INSERT INTO effects (event_id) VALUES (:id)"), {"id": event.id})
        await add_event(session, Forwarded(original=event.id))  # what real handlers do: their effect has events
        # Two of them: the pool (4) keeps room for the rest, so no handler times out waiting for it.
        if len(started) > 20 and len(in_flight) < 2 and not database_stopped.is_set():
            in_flight.add(event.id)
            await database_stopped.wait()

    consumer = EventConsumer(database, bus, "outagetest", EventSubscription("things", producer, [f"lvrong.{producer}.>"],
                                                                             handler), max_deliver=MAX_DELIVER)
    consumer.spec.ack_wait_seconds = 2.0  # a held message not kept alive would be redelivered within the outage
    consumer.spec.retry_delays = (0.2,)
    deliveries: list[int] = []
    handle = consumer._on_delivery

    async def counted(delivery: Delivery) -> str:
        deliveries.append(delivery.num_delivered)
        return await handle(delivery)

    consumer._on_delivery = counted  # type: ignore[method-assign]
    sent: list[str] = []

    async def publish(n: int) -> None:
        for i in range(n):
            event = CloudEvent(source=f"/lvrong/{producer}", type=f"lvrong.{producer}.thing.happened",
                               subject=f"thing-{i % 7}", data={"i": i})
            await bus.publish(event.type, event.to_json_bytes(), msg_id=event.id, headers={"Lvrong-Key": event.subject})
            sent.append(event.id)

    # All of the first 150 are on the stream before the consumer starts, so it fetches full batches: a
    # batch is settled whole before the next is fetched, and a batch of one event (a consumer keeping
    # pace with the publisher) would hold one handler where two are wanted.
    await publish(150)
    tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(OutboxRelay(database, bus, gate=consumer.gate).run())]
    try:
        async def under_way() -> bool:  # some applied, others held in their transactions (holding the pool)
            return await _count(observer, "SELECT count(*) FROM effects") >= 20 and len(in_flight) == 2

        await until(under_way, "the first events applied and others in flight", within=30)
        await asyncio.to_thread(stoppable_postgres.stop)
        database_stopped.set()
        await publish(150)  # arriving during the outage
        await until(lambda: consumer.gate.away, "the consumer pausing", within=10)
        assert REGISTRY.get_sample_value("lvrong_database_away") == 1
        delivered = len(deliveries)
        redelivered = (await js.consumer_info(consumer.spec.stream, consumer.durable)).num_redelivered

        async def held_without_spending_deliveries() -> bool | str:
            info = await js.consumer_info(consumer.spec.stream, consumer.durable)
            if not consumer.gate.away:
                return "the consumer resumed while the database is away"
            if len(deliveries) != delivered or info.num_redelivered != redelivered:
                return f"deliveries {delivered} -> {len(deliveries)}, redelivered {redelivered} -> {info.num_redelivered}"
            return True

        # Several ack waits (2 s each) long: a held message not kept alive would be redelivered meanwhile.
        await throughout(OUTAGE_SECONDS, held_without_spending_deliveries, "holding the events during the outage")
        info = await js.consumer_info(consumer.spec.stream, consumer.durable)
        assert info.num_pending > 0  # it stopped fetching: the later events wait in the stream
        await asyncio.to_thread(stoppable_postgres.start)

        async def all_applied() -> bool:
            try:
                return await _count(database, "SELECT count(DISTINCT event_id) FROM effects") == len(sent)
            except OSError:
                return False

        await until(all_applied, "every event applied after the database returned", within=90)

        async def settled() -> bool:
            info = await js.consumer_info(consumer.spec.stream, consumer.durable)
            stream = await js.stream_info(consumer.spec.stream)
            return info.ack_floor.stream_seq == stream.state.last_seq and info.num_ack_pending == 0

        await until(settled, "the consumer's ack floor at the stream's end", within=30)
        assert await _count(database, "SELECT count(*) FROM effects") == len(sent)  # exactly once each
        assert max(deliveries) < MAX_DELIVER  # the outage spent no delivery anywhere near the limit
        with pytest.raises(NotFoundError):
            await js.get_msg(DEAD_LETTER_STREAM, subject=f"lvrong.deadletter.{consumer.durable}")
        assert REGISTRY.get_sample_value("lvrong_events_dead_lettered_total", {"consumer": consumer.durable}) is None

        async def relayed_all() -> bool:
            return await _count(database, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

        await until(relayed_all, "the relay publishing every forwarded event", within=30)
        forwarded = await js.stream_info(stream_name(relayed))
        assert forwarded.state.messages == len(sent)  # each handler's event published once, none lost
        assert REGISTRY.get_sample_value("lvrong_database_away") == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()
        await database.dispose()
        await observer.dispose()

