"""Live status (实时状态): every change of an application's status, pushed to the front-ends that
watch it, within a second and without polling.

Every replica of svc-matters subscribes to ``lvrong.matters.application.status_changed.>`` (the
subject names the new status) and to the bare subject (outbox rows written before it did) with a
core NATS subscription (not a durable consumer: a durable consumer would share the events out
among replicas, but each replica must see every event to serve the streams it holds) and routes
each event to its local listeners by key: the application, and the audiences that may read it
(the applicant, their company, its department, or everyone). Each listener has a bounded queue,
so a slow client never holds up the others: when its queue is full the listener is dropped with a
final *resync*, and the client reconnects with the last step id it received.

The timeline in the database is the truth: a stream resuming after a step id replays the later
steps from ``application_steps`` before the live ones, and skips live events it already sent (by
step id). Steps of one application are written under its row lock, so their ids increase along
the timeline and each step's ``from_status`` is the previous step's status; a live event that does
not continue from the last step sent (events of one application published by two replicas' relays
can overtake each other) is filled in from the database instead of being passed on out of order.

No HTTP here: ``matters.api.live`` turns what ``LiveStream.items`` yields into Server-Sent Events.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, Role
from kit.contracts import ApplicationStatusChanged
from kit.db import Database
from kit.events import Bus, CloudEvent
from kit.events.bus import subscribe_core_when_possible
from matters.models import Application, ApplicationStep
from matters.service import applications, statuses

log = structlog.get_logger("matters.live")

SUBJECTS = ApplicationStatusChanged.subjects()
REPLAY_PAGE = 500
# Per stream, the last step sent of this many applications is remembered to drop duplicates and
# spot gaps; an ops stream watching every application forgets the oldest beyond that.
MARKS_KEPT = 10_000

LISTENERS = Gauge("lvrong_live_listeners", "Open live status streams on this replica")
EVENT_LAG = Histogram("lvrong_live_event_lag_seconds", "From a status change to its fan-out on this replica",
                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
RESYNCS = Counter("lvrong_live_resyncs_total", "Live streams closed with a resync", ["reason"])

EVERYONE = "all"


@dataclass(frozen=True)
class StatusEvent:
    """One step of an application's timeline as a live stream sends it."""

    step_id: int | None
    application_id: str
    matter_code: str
    from_status: str | None
    to_status: str
    stage: str | None
    action: str | None
    reason: str | None
    occurred_at: datetime
    # For routing only; never sent to the client.
    applicant_subject: str = ""
    applicant_org_code: str | None = None
    department: str | None = None

    def data(self) -> dict[str, Any]:
        return {"application_id": self.application_id, "matter_code": self.matter_code,
                "from_status": self.from_status, "to_status": self.to_status, "stage": self.stage,
                "action": self.action, "reason": self.reason, "occurred_at": self.occurred_at.isoformat()}

    @classmethod
    def from_contract(cls, c: ApplicationStatusChanged) -> StatusEvent:
        return cls(step_id=c.step_id, application_id=c.application_id, matter_code=c.matter_code,
                   from_status=c.from_status, to_status=c.to_status, stage=c.stage, action=c.action, reason=c.reason,
                   occurred_at=c.occurred_at, applicant_subject=c.applicant_subject,
                   applicant_org_code=c.applicant_org_code, department=c.department)

    @classmethod
    def from_step(cls, step: ApplicationStep, app: Application) -> StatusEvent:
        return cls(step_id=step.id, application_id=app.id, matter_code=app.matter_code, from_status=step.from_status,
                   to_status=step.status, stage=statuses.stage_of(step.status, app.matter_kind).value,
                   action=step.action, reason=step.reason, occurred_at=step.occurred_at,
                   applicant_subject=app.applicant_subject, applicant_org_code=app.applicant_org_code,
                   department=app.department)


@dataclass(frozen=True)
class Heartbeat:
    """Nothing happened for a while: the transport sends a comment so proxies keep the stream open."""


@dataclass(frozen=True)
class Resync:
    """The stream ends here; the client reconnects with the last step id it received."""

    reason: str  # overflow | reconnected | token_expired


HEARTBEAT = Heartbeat()


# --- who receives what ----------------------------------------------------------------------------

def application_key(application_id: str) -> str:
    return f"application:{application_id}"


def event_keys(event: StatusEvent) -> list[str]:
    keys = [application_key(event.application_id), EVERYONE, f"subject:{event.applicant_subject}"]
    if event.applicant_org_code:
        keys.append(f"org:{event.applicant_org_code}")
    if event.department:
        keys.append(f"department:{event.department}")
    return keys


async def audience_keys(session: AsyncSession, principal: Principal) -> frozenset[str]:
    """The keys of every application ``principal`` may read: the rule of ``applications.visibility_filter``
    (and ``may_read``) in the form the fan-out matches events against."""
    if principal.is_staff:
        if applications.staff_sees_all(principal):  # the same rule, not a copy of it
            return frozenset({EVERYONE})
        return frozenset({f"department:{principal.department}"})
    if not principal.has_role(Role.APPLICANT):
        return frozenset()  # partners and services list nothing, so they are sent nothing
    keys = {f"subject:{principal.subject}"}
    if principal.kind.value == "company" and principal.org_code:
        keys.add(f"org:{principal.org_code}")
    keys |= {f"org:{code}" for code in await applications.authorised_companies(session, principal)}
    return frozenset(keys)


# --- the fan-out ----------------------------------------------------------------------------------

class Listener:
    """One open stream's inbox."""

    def __init__(self, keys: frozenset[str], size: int) -> None:
        self.keys = keys
        self.queue: asyncio.Queue[StatusEvent | Resync] = asyncio.Queue(maxsize=size)


class LiveHub:
    """Routes status events to the listeners of this process."""

    def __init__(self, *, queue_size: int = 256, heartbeat_seconds: float = 15.0) -> None:
        self.queue_size = queue_size
        self.heartbeat_seconds = heartbeat_seconds
        self._by_key: dict[str, set[Listener]] = {}
        self._listeners: set[Listener] = set()
        self.subscribed = False

    def __len__(self) -> int:
        return len(self._listeners)

    def register(self, keys: frozenset[str]) -> Listener:
        listener = Listener(keys, self.queue_size)
        for key in keys:
            self._by_key.setdefault(key, set()).add(listener)
        self._listeners.add(listener)
        LISTENERS.inc()
        return listener

    def unregister(self, listener: Listener) -> None:
        if listener not in self._listeners:
            return
        self._listeners.discard(listener)
        for key in listener.keys:
            group = self._by_key.get(key)
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._by_key[key]
        LISTENERS.dec()

    def dispatch(self, event: StatusEvent) -> int:
        """Offer ``event`` to every listener it concerns, once each; returns how many."""
        targets: set[Listener] = set()
        for key in event_keys(event):
            targets |= self._by_key.get(key, set())
        for listener in targets:
            try:
                listener.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.resync(listener, "overflow")
        return len(targets)

    def resync(self, listener: Listener, reason: str) -> None:
        """End ``listener``'s stream: what is queued is dropped, since the replay will bring it again."""
        while not listener.queue.empty():
            listener.queue.get_nowait()
        listener.queue.put_nowait(Resync(reason))
        self.unregister(listener)
        RESYNCS.labels(reason).inc()

    def resync_all(self, reason: str) -> None:
        for listener in list(self._listeners):
            self.resync(listener, reason)

    async def on_message(self, raw: bytes) -> None:
        if not self._listeners:
            # Every status change of every application reaches every replica: with no stream open here
            # there is no one to route it to, and reading it would be wasted (the lag is observed only
            # for events someone could receive).
            return
        try:
            envelope = CloudEvent.from_json_bytes(raw)
            event = StatusEvent.from_contract(ApplicationStatusChanged.from_event(envelope))
        except ValueError as e:  # pydantic's ValidationError is one: a malformed event is skipped, not fatal
            log.warning("live_event_malformed", error=str(e)[:200])
            return
        EVENT_LAG.observe(max(0.0, (datetime.now(UTC) - event.occurred_at).total_seconds()))
        self.dispatch(event)

    async def on_bus_reconnected(self) -> None:
        # Events published while this replica was cut off never reach it: every open stream catches
        # up from the database by reconnecting with its last step id.
        self.resync_all("reconnected")


async def run_fanout(bus: Bus, hub: LiveHub) -> None:
    """Subscribe to the status events (retrying until the bus answers) and hold the subscription until cancelled."""
    unsubscribes = []
    try:
        for i, subject in enumerate(SUBJECTS):
            # One reconnect hook for the connection, not one per subscription: a reconnect resyncs once.
            unsubscribes.append(await subscribe_core_when_possible(
                bus, subject, hub.on_message, on_reconnect=hub.on_bus_reconnected if i == 0 else None))
        hub.subscribed = True
        # Streams opened before the subscription existed may have missed events.
        hub.resync_all("reconnected")
        log.info("live_fanout_subscribed", subjects=SUBJECTS)
        await asyncio.Event().wait()
    finally:
        hub.subscribed = False
        for unsubscribe in unsubscribes:
            await unsubscribe()


# --- one stream -----------------------------------------------------------------------------------

async def _steps_after(session: AsyncSession, condition: Any, after: int, limit: int) -> Sequence[Any]:
    stmt = (select(ApplicationStep, Application).join(Application, Application.id == ApplicationStep.application_id)
            .where(ApplicationStep.id > after))
    if condition is not None:
        stmt = stmt.where(condition)
    return (await session.execute(stmt.order_by(ApplicationStep.id).limit(limit))).all()


class LiveStream:
    """The status events of one open stream: first the replay after ``after``, then live ones."""

    def __init__(self, database: Database, hub: LiveHub, listener: Listener, principal: Principal, *,
                 application_id: str | None, after: int | None, heartbeat_seconds: float,
                 marks: dict[str, tuple[int, str | None]] | None = None) -> None:
        self.database = database
        self.hub = hub
        self.listener = listener
        self.principal = principal
        self.application_id = application_id
        self.after = after
        self.heartbeat_seconds = heartbeat_seconds
        # Application id → (id, status) of the last step the client has.
        self.marks: OrderedDict[str, tuple[int, str | None]] = OrderedDict(marks or {})

    def close(self) -> None:
        self.hub.unregister(self.listener)

    def _mark(self, event: StatusEvent) -> None:
        assert event.step_id is not None
        known = self.marks.get(event.application_id)
        if known is None or event.step_id > known[0]:
            self.marks[event.application_id] = (event.step_id, event.to_status)
        self.marks.move_to_end(event.application_id)
        while len(self.marks) > MARKS_KEPT:
            self.marks.popitem(last=False)

    async def _replay(self) -> AsyncIterator[StatusEvent]:
        if self.after is None:
            return
        after = self.after
        while True:
            async with self.database.session() as session:
                if self.application_id is not None:
                    condition = ApplicationStep.application_id == self.application_id
                else:
                    condition = await applications.visibility_filter(session, self.principal)
                rows = await _steps_after(session, condition, after, REPLAY_PAGE)
            for step, app in rows:
                event = StatusEvent.from_step(step, app)
                self._mark(event)
                yield event
                after = step.id
            if len(rows) < REPLAY_PAGE:
                return

    async def _fill_gap(self, application_id: str, since: int) -> list[StatusEvent]:
        async with self.database.session() as session:
            rows = await _steps_after(session, ApplicationStep.application_id == application_id, since, REPLAY_PAGE)
        return [StatusEvent.from_step(step, app) for step, app in rows]

    async def _live(self, event: StatusEvent) -> list[StatusEvent]:
        """What to send for a live event: nothing (already sent), the event, or the steps up to it from the database."""
        if event.step_id is None:
            return [event]  # an event from before steps carried their id: nothing to compare, pass it on
        if self.after is not None and event.step_id <= self.after:
            return []  # the client had it before it reconnected
        known = self.marks.get(event.application_id)
        if known is None:
            self._mark(event)
            return [event]
        if event.step_id <= known[0]:
            return []
        if event.from_status != known[1]:
            filled = await self._fill_gap(event.application_id, known[0])
            for e in filled:
                self._mark(e)
            return filled
        self._mark(event)
        return [event]

    async def items(self) -> AsyncIterator[StatusEvent | Heartbeat | Resync]:
        """Yield events, a ``Heartbeat`` after each quiet ``heartbeat_seconds``, and finally a ``Resync``
        when the stream must end (slow client, bus reconnect, or the caller's token expiring)."""
        try:
            async for event in self._replay():
                yield event
            expires = float(self.principal.expires_at) or None
            while True:
                wait = self.heartbeat_seconds
                if expires is not None:
                    left = expires - time.time()
                    if left <= 0:
                        RESYNCS.labels("token_expired").inc()
                        yield Resync("token_expired")
                        return
                    wait = min(wait, left)
                try:
                    async with asyncio.timeout(wait):  # not wait_for: it can swallow a cancellation on 3.11
                        item = await self.listener.queue.get()
                except TimeoutError:
                    if expires is None or time.time() < expires:
                        yield HEARTBEAT
                    continue
                if isinstance(item, Resync):
                    yield item
                    return
                for event in await self._live(item):
                    yield event
        finally:
            self.close()


async def open_application_stream(database: Database, hub: LiveHub, principal: Principal, application_id: str, *,
                                  after: int | None) -> LiveStream:
    """The live stream of one application; ``NotFound`` when the caller may not read it.

    Registered before anything is read, so no step committed from here on can be missed: without
    ``after`` the stream carries every step committed after this call (a front-end that has just
    loaded the application passes its ``last_step.id`` as ``after`` to close the gap in between).
    """
    listener = hub.register(frozenset({application_key(application_id)}))
    try:
        async with database.session() as session:
            app = await applications.readable_application(session, principal, application_id)
            last = None if after is None else (await session.execute(
                select(ApplicationStep.id, ApplicationStep.status).where(ApplicationStep.application_id == app.id)
                .order_by(ApplicationStep.id.desc()).limit(1))).first()
    except BaseException:
        hub.unregister(listener)
        raise
    # A client already up to date has nothing to replay: the next live step must follow its last one.
    marks = {app.id: (last.id, last.status)} if last is not None and after is not None and after >= last.id else {}
    return LiveStream(database, hub, listener, principal, application_id=app.id, after=after,
                      heartbeat_seconds=hub.heartbeat_seconds, marks=marks)


async def open_audience_stream(database: Database, hub: LiveHub, principal: Principal, *,
                               after: int | None) -> LiveStream:
    """The live stream of every application the caller may read (as ``GET /v1/applications`` lists them)."""
    async with database.session() as session:
        keys = await audience_keys(session, principal)
    listener = hub.register(keys)
    return LiveStream(database, hub, listener, principal, application_id=None, after=after,
                      heartbeat_seconds=hub.heartbeat_seconds)
