"""Shared fixtures of the kit's tests: scratch databases with the kit's tables, a raw JetStream
client to read streams back, test event contracts with their own subjects, and cleanup of the
streams a test creates. Everything runs against the real PostgreSQL and NATS of ``servers``."""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import nats
import pytest
from nats.js.errors import NotFoundError

import kit.events.outbox  # registers outbox and processed_events on platform_metadata
import kit.idempotency  # noqa: F401 - registers idempotency_keys on platform_metadata
from kit.db import Database, platform_metadata
from kit.events import EventContract, JetStreamBus
from support import recreate_database


async def _eventually(check: Callable[[], Awaitable[bool]], *, within: float = 10.0, interval: float = 0.05,
                     what: str = "condition") -> None:
    """Poll ``check`` until it returns True, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(interval)


MakeDatabase = Callable[[str], Awaitable[Database]]


@pytest.fixture(scope="module")
async def make_database(servers: Any) -> AsyncIterator[MakeDatabase]:
    """``await make_database(name)``: database ``name`` dropped and created anew, with the kit's tables. Its pool
    is closed when the module ends: kept for the session, the kit modules' idle pools held 15 of the shared
    server's 100 connections while the other session's suites needed them."""
    made: list[Database] = []

    async def make(name: str) -> Database:
        url = await recreate_database(servers.database_url, name)
        database = Database(url, pool_size=5)
        async with database.engine.begin() as conn:
            await conn.run_sync(platform_metadata.create_all)
        made.append(database)
        return database

    yield make
    for database in made:
        await database.dispose()


@pytest.fixture(scope="session")
async def nats_client(servers: Any) -> AsyncIterator[nats.aio.client.Client]:
    """A plain NATS connection of the test itself, to read streams and consumers back."""
    nc = await nats.connect(**servers.nats_admin.connect_options(), connect_timeout=3)
    yield nc
    await nc.close()


@pytest.fixture
def js(nats_client: nats.aio.client.Client) -> nats.js.JetStreamContext:
    return nats_client.jetstream(timeout=5)


@dataclass
class KitTestEvents:
    """A unique producer per test: its own subjects and stream on the shared NATS."""

    suffix: str
    contract: type[EventContract]

    @property
    def producer(self) -> str:
        return f"kittest{self.suffix}"

    @property
    def subject(self) -> str:
        return self.contract.event_type

    @property
    def subjects(self) -> list[str]:
        return [f"lvrong.{self.producer}.>"]

    @property
    def stream(self) -> str:
        return f"LVRONG_KITTEST{self.suffix.upper()}"


def kit_test_events() -> KitTestEvents:
    suffix = uuid.uuid4().hex[:10]

    class ThingHappened(EventContract):
        event_type: ClassVar[str] = f"lvrong.kittest{suffix}.thing.happened"
        source_service: ClassVar[str] = f"kittest{suffix}"

        n: int
        key: str = ""
        behaviour: str = "ok"

    return KitTestEvents(suffix, ThingHappened)


@pytest.fixture
async def test_events(servers: Any) -> AsyncIterator[KitTestEvents]:
    """A unique test producer; its stream (if created) is deleted afterwards."""
    events = kit_test_events()
    yield events
    nc = await nats.connect(**servers.nats_admin.connect_options(), connect_timeout=3)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(events.stream)
    finally:
        await nc.close()


@pytest.fixture
async def bus(servers: Any) -> AsyncIterator[JetStreamBus]:
    bus = JetStreamBus(servers.nats_admin, name="kittest", publish_timeout=2.0)
    await bus.connect()
    yield bus
    await bus.close()


async def _stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel a background task and fail when it had died with an exception of its own."""
    if task.done():
        task.result()  # re-raises what killed it
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# Helpers as fixtures: test modules cannot import this conftest under ``--import-mode=importlib``.

@pytest.fixture(scope="session")
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(async_check, within=..., what=...)``."""
    return _eventually


@pytest.fixture(scope="session")
def stop_task() -> Callable[[asyncio.Task[Any]], Awaitable[None]]:
    """``await stop_task(task)``: cancel a background task; re-raise if it had failed on its own."""
    return _stop_task
