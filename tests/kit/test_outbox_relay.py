"""The transactional outbox and its relay against the real PostgreSQL and NATS JetStream:
an event exists exactly when its transaction commits, the relay publishes in order with
``Nats-Msg-Id`` = event id, catches up after NATS was away, and replicas never double-publish."""
from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Sequence

import nats
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from kit.db import Database
from kit.devstack import LocalNats, free_port
from kit.events import CloudEvent, JetStreamBus, OutboxRelay, add_event, outbox, outbox_backlog
from kit.tracing import TraceContext, current_trace


@pytest.fixture(scope="module")
async def database(make_database) -> Database:
    return await make_database(os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_test") + "_kit_outbox")


@pytest.fixture(autouse=True)
async def empty_outbox(database: Database) -> AsyncIterator[None]:
    # The relay publishes every pending row whatever its stream: each test starts from an empty outbox.
    async with database.transaction() as session:
        await session.execute(text("TRUNCATE outbox"))
    yield


async def write_events(database: Database, contract: type, count: int, *, per_transaction: int = 1) -> list[CloudEvent]:
    written: list[CloudEvent] = []
    for start in range(0, count, per_transaction):
        async with database.transaction() as session:
            for n in range(start, min(start + per_transaction, count)):
                written.append(await add_event(session, contract(n=n, key=f"k{n}"), subject=f"thing-{n}"))
    return written


async def outbox_rows(database: Database) -> list:
    async with database.session() as session:
        return (await session.execute(select(outbox).order_by(outbox.c.position))).all()


async def stream_messages(js: nats.js.JetStreamContext, stream: str) -> list:
    """Every message of ``stream`` in stream order."""
    info = await js.stream_info(stream)
    return [await js.get_msg(stream, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)] \
        if info.state.messages else []


# --- add_event -------------------------------------------------------------------------------


async def test_add_event_in_a_rolled_back_transaction_leaves_no_row(database: Database, test_events) -> None:
    with pytest.raises(RuntimeError, match="state change failed"):
        async with database.transaction() as session:
            await add_event(session, test_events.contract(n=1))
            raise RuntimeError("state change failed")
    assert await outbox_rows(database) == []
    async with database.session() as session:
        assert await outbox_backlog(session) == (0, None)


async def test_add_event_in_a_committed_transaction_writes_one_full_envelope(database: Database, test_events) -> None:
    request_trace = TraceContext.new()
    token = current_trace.set(request_trace)
    try:
        async with database.transaction() as session:
            returned = await add_event(session, test_events.contract(n=7, key="k7"), subject="application-42")
    finally:
        current_trace.reset(token)

    rows = await outbox_rows(database)
    assert len(rows) == 1
    row = rows[0]
    assert row.event_id == returned.id
    assert row.subject == test_events.subject  # the NATS subject is the event type
    assert row.published_at is None and row.attempts == 0
    envelope = row.envelope
    assert envelope["specversion"] == "1.0"
    assert envelope["id"] == returned.id and len(envelope["id"]) >= 16
    assert envelope["source"] == f"/lvrong/{test_events.producer}"
    assert envelope["type"] == test_events.subject
    assert envelope["subject"] == "application-42"
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["data"] == {"n": 7, "key": "k7", "behaviour": "ok"}
    assert CloudEvent.model_validate(envelope).time.utcoffset() is not None  # ISO 8601 with offset
    # The event continues the request's trace in a span of its own.
    parsed = TraceContext.parse(envelope["traceparent"])
    assert parsed is not None
    assert parsed.trace_id == request_trace.trace_id and parsed.span_id != request_trace.span_id

    async with database.session() as session:
        count, age = await outbox_backlog(session)
    assert count == 1 and age is not None and age >= 0


async def test_a_contract_naming_a_finer_subject_is_published_there_with_its_type_unchanged(
        database: Database, bus: JetStreamBus, js, test_events) -> None:
    class Filed(test_events.contract):  # type: ignore[name-defined,misc]
        def nats_subject(self) -> str:
            return self.subject_below(self.behaviour)

    await bus.ensure_stream(test_events.stream, test_events.subjects)
    async with database.transaction() as session:
        written = await add_event(session, Filed(n=1, behaviour="late"), subject="thing-1")
    (row,) = await outbox_rows(database)
    assert row.subject == f"{test_events.subject}.late" and row.envelope["type"] == test_events.subject
    assert await OutboxRelay(database, bus).publish_pending() == 1
    (message,) = await stream_messages(js, test_events.stream)
    assert message.subject == f"{test_events.subject}.late"
    assert CloudEvent.from_json_bytes(message.data) == written


async def test_add_event_without_a_trace_has_no_traceparent(database: Database, test_events) -> None:
    assert current_trace.get() is None
    async with database.transaction() as session:
        await add_event(session, test_events.contract(n=1))
    (row,) = await outbox_rows(database)
    assert "traceparent" not in row.envelope


# --- relay -----------------------------------------------------------------------------------


async def test_relay_publishes_in_order_with_msg_id_and_marks_rows(database: Database, bus: JetStreamBus, js,
                                                                   test_events) -> None:
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    trace = TraceContext.new()
    token = current_trace.set(trace)
    try:
        written = await write_events(database, test_events.contract, 23, per_transaction=5)
    finally:
        current_trace.reset(token)

    relay = OutboxRelay(database, bus, batch_size=10)
    published = [await relay.publish_pending() for _ in range(3)]
    assert published == [10, 10, 3]
    assert await relay.publish_pending() == 0  # nothing left: a further pass publishes nothing

    messages = await stream_messages(js, test_events.stream)
    assert len(messages) == 23
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [e.id for e in written]
    rows = await outbox_rows(database)
    for message, event, row in zip(messages, written, rows, strict=True):
        assert message.subject == test_events.subject
        assert message.headers["Content-Type"] == "application/cloudevents+json"
        assert message.headers["traceparent"] == event.traceparent
        body = json.loads(message.data)
        assert body == row.envelope
        assert CloudEvent.from_json_bytes(message.data) == event
        assert row.published_at is not None and row.attempts == 1 and row.last_error is None
    async with database.session() as session:
        assert (await outbox_backlog(session))[0] == 0
    assert (await js.stream_info(test_events.stream)).state.messages == 23


async def test_relay_catches_up_after_nats_was_down(database: Database, tmp_path, test_events, eventually,
                                                    stop_task) -> None:
    server = LocalNats(tmp_path / "nats", port=free_port())
    await asyncio.to_thread(server.start)
    bus = JetStreamBus(server.client(), name="kittest-catchup", publish_timeout=0.5)
    relay_task: asyncio.Task | None = None
    try:
        await bus.connect()
        await bus.ensure_stream(test_events.stream, test_events.subjects)
        written = await write_events(database, test_events.contract, 50, per_transaction=10)
        await asyncio.to_thread(server.stop)

        failures_before = REGISTRY.get_sample_value("lvrong_outbox_publish_failures_total") or 0
        relay = OutboxRelay(database, bus, batch_size=20, poll_seconds=0.2)
        relay_task = asyncio.create_task(relay.run())

        async def failed_passes() -> bool:
            return (REGISTRY.get_sample_value("lvrong_outbox_publish_failures_total") or 0) >= failures_before + 3

        await eventually(failed_passes, within=30, what="several relay passes failing against the missing server")
        assert not relay_task.done(), "the relay must keep running while NATS is away"
        async with database.session() as session:
            assert (await outbox_backlog(session))[0] == 50  # every row waits, none marked sent
        assert all(r.published_at is None for r in await outbox_rows(database))
        assert (REGISTRY.get_sample_value("lvrong_outbox_publish_failures_total") or 0) > failures_before

        await asyncio.to_thread(server.start)  # same data directory, same port

        async def all_published() -> bool:
            async with database.session() as session:
                return (await outbox_backlog(session))[0] == 0

        await eventually(all_published, within=30, what="the relay catching up")
        assert not relay_task.done()

        nc = await nats.connect(**server.client().connect_options(), connect_timeout=3)
        try:
            messages = await stream_messages(nc.jetstream(), test_events.stream)
            assert (await nc.jetstream().stream_info(test_events.stream)).state.messages == 50
        finally:
            await nc.close()
        assert [m.headers["Nats-Msg-Id"] for m in messages] == [e.id for e in written]  # each once, in order
        assert [json.loads(m.data)["data"]["n"] for m in messages] == list(range(50))
        assert all(r.published_at is not None for r in await outbox_rows(database))
    finally:
        if relay_task is not None:
            await stop_task(relay_task)
        await bus.close()
        await asyncio.to_thread(server.stop)


class RecordingBus(JetStreamBus):
    """The real bus, noting every message id this relay sends."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    async def publish_batch(self, messages: Sequence[tuple[str, bytes, str, dict[str, str]]]) -> list[bool]:
        self.sent.extend(msg_id for _, _, msg_id, _ in messages)
        return await super().publish_batch(messages)


async def test_two_relays_on_one_database_publish_each_event_once(database: Database, servers, js, test_events,
                                                                  eventually, stop_task) -> None:
    written = await write_events(database, test_events.contract, 300, per_transaction=50)
    other_database = Database(database.url, pool_size=2)  # a second replica has a pool of its own
    buses = [RecordingBus(servers.nats_admin, name=f"kittest-relay-{i}") for i in range(2)]
    tasks: list[asyncio.Task] = []
    try:
        for b in buses:
            await b.connect()
        await buses[0].ensure_stream(test_events.stream, test_events.subjects)
        relays = [OutboxRelay(database, buses[0], batch_size=20, poll_seconds=0.1),
                  OutboxRelay(other_database, buses[1], batch_size=20, poll_seconds=0.1)]
        tasks = [asyncio.create_task(r.run()) for r in relays]

        async def all_published() -> bool:
            async with database.session() as session:
                return (await outbox_backlog(session))[0] == 0

        await eventually(all_published, within=30, what="both relays draining the outbox")
        for task in tasks:
            assert not task.done()
    finally:
        for task in tasks:
            await stop_task(task)
        for b in buses:
            await b.close()
        await other_database.dispose()

    ids = [e.id for e in written]
    sent = buses[0].sent + buses[1].sent
    assert buses[0].sent and buses[1].sent, "both relays took part"
    assert sorted(sent) == sorted(ids), "every row was claimed by exactly one relay"
    async with database.session() as session:
        attempts = (await session.execute(select(outbox.c.attempts, func.count()).group_by(outbox.c.attempts))).all()
    assert [tuple(a) for a in attempts] == [(1, 300)]
    messages = await stream_messages(js, test_events.stream)
    assert len(messages) == 300
    assert sorted(m.headers["Nats-Msg-Id"] for m in messages) == sorted(ids)
    # Each relay keeps the order of the rows it claimed.
    positions = {e.id: i for i, e in enumerate(written)}
    for b in buses:
        mine = set(b.sent)
        in_stream = [m.headers["Nats-Msg-Id"] for m in messages if m.headers["Nats-Msg-Id"] in mine]
        assert [positions[i] for i in in_stream] == sorted(positions[i] for i in in_stream)


class BatchRecordingBus(JetStreamBus):
    """The real bus, noting the size of every batch the relay publishes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    async def publish_batch(self, messages: Sequence[tuple[str, bytes, str, dict[str, str]]]) -> list[bool]:
        self.batches.append(len(messages))
        return await super().publish_batch(messages)


async def test_commits_made_while_the_relay_lingers_go_out_in_one_round(database: Database, servers, js,
                                                                        test_events, eventually, stop_task) -> None:
    """After a round that published something the relay waits ``linger_seconds`` before the next: the first event
    after a quiet spell goes at once, the commits of the following moments together (one transaction, one publish
    batch) instead of a round each. The linger is longer than the default here to make the window plain."""
    bus = BatchRecordingBus(servers.nats_admin, name="kittest-relay-linger")
    assert OutboxRelay(database, bus).linger_seconds > 0  # on by default
    await bus.connect()
    await bus.ensure_stream(test_events.stream, test_events.subjects)
    task = asyncio.create_task(OutboxRelay(database, bus, poll_seconds=5, linger_seconds=1.5).run())

    async def first_published() -> bool:
        return bus.batches == [1]

    async def all_published() -> bool:
        async with database.session() as session:
            return (await outbox_backlog(session))[0] == 0

    try:
        await write_events(database, test_events.contract, 1)
        await eventually(first_published, what="the first event published at once")
        for _ in range(10):  # ten transactions, each committed (and waking the relay) before the next begins
            await write_events(database, test_events.contract, 1)
        await eventually(all_published, within=10, what="the ten published")
        assert bus.batches == [1, 10]
    finally:
        await stop_task(task)
        await bus.close()
    assert (await js.stream_info(test_events.stream)).state.messages == 11

