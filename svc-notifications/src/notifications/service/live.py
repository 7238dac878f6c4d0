"""The live stream (SSE) of a recipient's new notifications, on whichever replica the client reached.

Every replica subscribes to ``lvrong.notifications.notification.created`` with a core NATS
subscription (each replica must see every event; a durable consumer would share them out) and wakes
the open streams of that recipient. A woken stream reads its inboxes' notifications after the last
id it sent from the database, which is the truth: a wake-up lost (a replica cut off from the bus) is
made good by the next one, by the wake-up of every stream when the bus comes back, and by the
client's reconnect with ``Last-Event-ID`` (the notification id), after which every later
notification is sent once, in order."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import structlog
from prometheus_client import Gauge
from sqlalchemy import func, select

from kit.auth import Principal
from kit.contracts.notifications import NotificationCreated
from kit.db import Database
from kit.events import Bus, CloudEvent
from kit.events.bus import subscribe_core_when_possible
from notifications.models import Notification

log = structlog.get_logger("notifications.live")

SUBJECT = NotificationCreated.event_type
PAGE = 100
LISTENERS = Gauge("lvrong_notification_streams", "Open notification streams on this replica")


@dataclass(frozen=True)
class Heartbeat:
    """Nothing new for a while: the transport sends a comment so proxies keep the stream open."""


@dataclass(frozen=True)
class Ended:
    reason: str  # token_expired


class Listener:
    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        self.wake = asyncio.Event()


class NotificationHub:
    """Wakes this process's open streams of a recipient."""

    def __init__(self, heartbeat_seconds: float = 15.0) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self._by_key: dict[str, set[Listener]] = {}
        self.subscribed = False

    def register(self, keys: Sequence[str]) -> Listener:
        listener = Listener(keys)
        for key in listener.keys:
            self._by_key.setdefault(key, set()).add(listener)
        LISTENERS.inc()
        return listener

    def unregister(self, listener: Listener) -> None:
        for key in listener.keys:
            group = self._by_key.get(key)
            if group is not None and listener in group:
                group.discard(listener)
                if not group:
                    del self._by_key[key]
        LISTENERS.dec()

    def wake(self, recipient: str) -> int:
        group = self._by_key.get(recipient, set())
        for listener in group:
            listener.wake.set()
        return len(group)

    def wake_all(self) -> None:
        for group in self._by_key.values():
            for listener in group:
                listener.wake.set()

    async def on_message(self, raw: bytes) -> None:
        if not self._by_key:
            return
        try:
            event = NotificationCreated.from_event(CloudEvent.from_json_bytes(raw))
        except ValueError as e:
            log.warning("live_event_malformed", error=str(e)[:200])
            return
        self.wake(event.recipient)

    async def on_bus_reconnected(self) -> None:
        self.wake_all()  # wake-ups published while cut off never came: every stream reads the database


async def run_fanout(bus: Bus, hub: NotificationHub) -> None:
    unsubscribe = await subscribe_core_when_possible(bus, SUBJECT, hub.on_message, on_reconnect=hub.on_bus_reconnected)
    hub.subscribed = True
    hub.wake_all()  # streams opened before the subscription may have missed wake-ups
    try:
        await asyncio.Event().wait()
    finally:
        hub.subscribed = False
        await unsubscribe()


class NotificationStream:
    """One open stream: the notifications after ``after`` (or, without it, those created from now on)."""

    def __init__(self, database: Database, hub: NotificationHub, principal: Principal, keys: Sequence[str],
                 after: int | None) -> None:
        self.database = database
        self.hub = hub
        self.principal = principal
        self.keys = list(keys)
        # Registered before anything is read, so nothing committed from here on can be missed.
        self.listener = hub.register(self.keys)
        self.after = after
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub.unregister(self.listener)

    async def _start(self) -> int:
        if self.after is not None:
            return self.after
        async with self.database.session() as session:
            return int(await session.scalar(select(func.coalesce(func.max(Notification.id), 0)).where(
                Notification.recipient.in_(self.keys))) or 0)

    async def _after(self, last: int) -> Sequence[Notification]:
        async with self.database.session() as session:
            return (await session.scalars(select(Notification).where(
                Notification.recipient.in_(self.keys), Notification.id > last)
                .order_by(Notification.id).limit(PAGE))).all()

    async def items(self) -> AsyncIterator[Notification | Heartbeat | Ended]:
        try:
            last = await self._start()
            expires = float(self.principal.expires_at) or None
            while True:
                self.listener.wake.clear()
                while rows := await self._after(last):
                    for n in rows:
                        yield n
                        last = n.id
                    if len(rows) < PAGE:
                        break
                wait = self.hub.heartbeat_seconds
                if expires is not None:
                    left = expires - time.time()
                    if left <= 0:
                        yield Ended("token_expired")
                        return
                    wait = min(wait, left)
                try:
                    async with asyncio.timeout(wait):
                        await self.listener.wake.wait()
                except TimeoutError:
                    yield Heartbeat()
        finally:
            self.close()
