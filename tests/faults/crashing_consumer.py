"""A consumer process that stops dead in the middle of handling its first event, for the SIGKILL test.

    python crashing_consumer.py NATS_URL NATS_SEED_FILE DATABASE_URL PRODUCER SUBJECT MODE MARKER

MODE ``before_commit``: the handler has written its effect in the open transaction, then hangs;
``after_commit``: the effect and the handled-event record are committed, then it hangs before the
acknowledgement. Either way it writes MARKER when it got there, and the test kills it with SIGKILL.
The durable consumer it creates waits 2 s for an acknowledgement, so redelivery comes quickly.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from kit.db import Database
from kit.events import EventConsumer, EventSubscription, JetStreamBus
from kit.natsauth import ADMIN, NatsClient

SERVICE, SUBSCRIPTION = "crashtest", "things"


async def main(nats_url: str, nats_seed_file: str, database_url: str, producer: str, subject: str, mode: str, marker: str) -> None:
    database = Database(database_url, pool_size=2)
    bus = JetStreamBus(NatsClient(nats_url, nats_seed_file, ADMIN), name="faulttest-crashing")
    await bus.connect()

    async def handler(session: Any, event: Any) -> None:
        await session.execute(text("INSERT INTO effects (event_id) VALUES (:id)"), {"id": event.id})
        if mode == "before_commit":
            await asyncio.to_thread(Path(marker).write_text, "effect written, not committed")
            await asyncio.Event().wait()  # stuck until the process is killed

    consumer = EventConsumer(database, bus, SERVICE, EventSubscription(SUBSCRIPTION, producer, [subject], handler))
    consumer.spec.ack_wait_seconds = 2.0
    if mode == "after_commit":
        handle = consumer._on_delivery

        async def handle_then_hang(delivery: Any) -> str:
            outcome = await handle(delivery)
            await asyncio.to_thread(Path(marker).write_text, "committed, not acknowledged")
            await asyncio.Event().wait()  # stuck until the process is killed
            return outcome

        consumer._on_delivery = handle_then_hang  # type: ignore[method-assign]
    await consumer.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:8]))
