"""Core (non-durable) subscriptions of the bus: every subscriber of every process gets every message,
including those published to JetStream, and the subscription survives the server going away."""
from __future__ import annotations

import asyncio
from typing import Any

from kit.devstack import LocalNats, free_port
from kit.events import JetStreamBus


async def test_every_core_subscriber_gets_every_message(servers: Any, test_events, eventually) -> None:
    replicas = [JetStreamBus(servers.nats_admin, name=f"kittest-core-{i}") for i in range(2)]
    got: list[list[bytes]] = [[], []]
    unsubscribes = []
    try:
        for bus, inbox in zip(replicas, got, strict=True):
            async def record(data: bytes, inbox: list[bytes] = inbox) -> None:
                if data == b"boom":
                    raise RuntimeError("a failing callback must not end the subscription")
                inbox.append(data)

            unsubscribes.append(await bus.subscribe_core(test_events.subject, record))
        publisher = replicas[0]
        await publisher.ensure_stream(test_events.stream, test_events.subjects)
        for i, payload in enumerate((b"one", b"boom", b"two", b"three")):
            await publisher.publish(test_events.subject, payload, msg_id=f"core-{test_events.suffix}-{i}")

        async def both_have_all() -> bool:
            return got == [[b"one", b"two", b"three"]] * 2

        await eventually(both_have_all, within=5, what="both subscribers receiving every message in order")
        await unsubscribes[1]()
        await publisher.publish(test_events.subject, b"four", msg_id=f"core-{test_events.suffix}-4")

        async def first_has_four() -> bool:
            return got[0][-1:] == [b"four"]

        await eventually(first_has_four, within=5, what="the remaining subscriber receiving")
        # A round trip on the second connection: the server answers it after what it sent that
        # connection before, so "four" would have been read by now had it been delivered there.
        await replicas[1].ping()
        assert got[1] == [b"one", b"two", b"three"]  # nothing after its unsubscribe
    finally:
        for unsubscribe in unsubscribes:
            await unsubscribe()  # a second time is harmless
        for bus in replicas:
            await bus.close()


async def test_core_subscription_survives_the_server_restarting_and_says_so(tmp_path, eventually) -> None:
    server = LocalNats(tmp_path / "nats", port=free_port())
    await asyncio.to_thread(server.start)
    bus = JetStreamBus(server.client(), name="kittest-core-reconnect")
    got: list[bytes] = []
    reconnects: list[int] = []

    async def record(data: bytes) -> None:
        got.append(data)

    async def reconnected() -> None:
        reconnects.append(1)

    try:
        await bus.subscribe_core("lvrong.kittest.core", record, on_reconnect=reconnected)
        sender = JetStreamBus(server.client(), name="kittest-core-sender")
        await sender.connect()
        assert sender._nc is not None
        await sender._nc.publish("lvrong.kittest.core", b"before")

        def has(payloads: list[bytes]) -> Any:
            async def check() -> bool:
                return got == payloads
            return check

        await eventually(has([b"before"]), within=5, what="the first message")
        await sender.close()
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)

        async def reconnected_once() -> bool:
            return reconnects == [1]

        await eventually(reconnected_once, within=15, what="the reconnect hook")
        sender = JetStreamBus(server.client(), name="kittest-core-sender")
        await sender.connect()
        assert sender._nc is not None
        await sender._nc.publish("lvrong.kittest.core", b"after")
        await eventually(has([b"before", b"after"]), within=5, what="a message after the restart")
        await sender.close()
    finally:
        await bus.close()
        await asyncio.to_thread(server.stop)
