"""The transactional outbox and its relay, and the record of handled events.

``add_event`` writes the event in the caller's transaction, so an event exists exactly when the
state change that caused it was committed. The relay publishes unsent rows in order, with
``Nats-Msg-Id`` = event id, and marks them sent; while the bus is down rows simply wait and the
relay catches up when it returns. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so any number
of replicas can run a relay without publishing a row twice as a different message.
"""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    any_,
    bindparam,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kit.availability import DatabaseGate
from kit.db import Database, platform_metadata
from kit.events.bus import ORDERING_KEY_HEADER, Bus
from kit.events.envelope import CloudEvent, EventContract
from kit.tasks import cancellation_requested

log = structlog.get_logger("kit.outbox")

outbox = Table(
    "outbox",
    platform_metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("subject", String(255), nullable=False),
    Column("envelope", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Index("ix_outbox_unpublished", "position", postgresql_where="published_at IS NULL"),
)

processed_events = Table(
    "processed_events",
    platform_metadata,
    Column("consumer", String(128), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(255), nullable=False),
    Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
)

OUTBOX_PUBLISHED = Counter("lvrong_outbox_published_total", "Events published from the outbox", ["subject"])
OUTBOX_FAILURES = Counter("lvrong_outbox_publish_failures_total", "Outbox publish attempts that failed")
OUTBOX_BACKLOG = Gauge("lvrong_outbox_backlog", "Unpublished outbox rows seen by the last relay pass")

_PENDING_FLAG = "lvrong_outbox_pending"
# Built once: constructing the statement per event was a visible share of a submission's CPU.
_INSERT_EVENT = outbox.insert()
_wakers: list[asyncio.Event] = []
# ``= ANY(array)``, not ``IN (…)``: one statement text whatever the batch's size, prepared once per
# connection (an IN list is a new text, prepared and planned anew, for every number of rows).
_MARK_SENT = (update(outbox).where(outbox.c.position == any_(bindparam("positions", type_=ARRAY(BigInteger))))
              .values(published_at=bindparam("now"), attempts=outbox.c.attempts + 1))


def _written(session: AsyncSession, contract: EventContract, subject: str | None,
             event_id: str | None = None) -> tuple[CloudEvent, dict[str, Any]]:
    envelope = contract.envelope(subject=subject, event_id=event_id)
    session.sync_session.info[_PENDING_FLAG] = True
    # The contract's data is already in its JSON form (``EventContract.envelope``), and ``exclude_none``
    # leaves a dict's items alone: only the envelope's own fields are dumped, not the data a second time.
    stored = envelope.model_dump(mode="json", exclude_none=True, exclude={"data"})
    stored["data"] = envelope.data
    # The NATS subject may name more than the type (e.g. the new status: ``EventContract.nats_subject``).
    return envelope, {"event_id": envelope.id, "subject": contract.nats_subject(), "envelope": stored}


def outbox_row(session: AsyncSession, contract: EventContract, *, subject: str | None = None,
               event_id: str | None = None) -> dict[str, Any]:
    """The outbox row of ``contract`` (``event_id``, ``subject``, ``envelope``) for a statement of the
    caller's own that inserts it in the session's current transaction; the relays wake after the commit.
    ``event_id``: an id the caller derives (the contract's own, or a random one, otherwise)."""
    return _written(session, contract, subject, event_id)[1]


async def add_event(session: AsyncSession, contract: EventContract, *, subject: str | None = None) -> CloudEvent:
    """Write ``contract`` as an event in the session's current transaction and return its envelope."""
    envelope, row = _written(session, contract, subject)
    await session.execute(_INSERT_EVENT, row)
    return envelope


@event.listens_for(Session, "after_commit")
def _wake_relays_after_commit(session: Session) -> None:
    # The relay would find the row on its next poll anyway; waking it now cuts the latency.
    if session.info.pop(_PENDING_FLAG, False):
        for waker in _wakers:
            waker.set()


class OutboxRelay:
    def __init__(self, database: Database, bus: Bus, *, batch_size: int = 200, poll_seconds: float = 0.5,
                 linger_seconds: float = 0.01, gate: DatabaseGate | None = None) -> None:
        self.database = database
        self.bus = bus
        self.gate = gate or DatabaseGate(database)
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        # After a round that published something, the next waits this long: under load the commits of a few
        # milliseconds go out in one round (one transaction, one publish batch) instead of a round each; the
        # first event after a quiet spell still goes at once.
        self.linger_seconds = linger_seconds
        self._wake = asyncio.Event()

    async def run(self) -> None:
        _wakers.append(self._wake)
        backoff = self.poll_seconds
        try:
            while True:
                # Cleared before the round, not after: a commit made during the round wakes the next one.
                self._wake.clear()
                try:
                    published = await self.publish_pending()
                    while published >= self.batch_size:
                        published = await self.publish_pending()
                    backoff = self.poll_seconds
                    if published:
                        await asyncio.sleep(self.linger_seconds)
                        continue
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # bus or database away: the rows wait, nothing is lost
                    if cancellation_requested():
                        raise asyncio.CancelledError from e
                    if await self.gate.outage(e):
                        # A batch published but not marked sent is published again with the same
                        # Nats-Msg-Id: within the streams' duplicate window the server stores it once.
                        await self.gate.wait()
                        continue
                    OUTBOX_FAILURES.inc()
                    log.warning("outbox_relay_waiting", error=type(e).__name__)
                    backoff = min(backoff * 2, 5.0)
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that races the
                # wake-up, and the relay then outlives its service's shutdown.
                try:
                    async with asyncio.timeout(backoff):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            _wakers.remove(self._wake)

    async def publish_pending(self) -> int:
        """Publish one batch of unsent events in order; returns how many were published."""
        async with self.database.transaction() as session:
            rows = (await session.execute(
                select(outbox.c.position, outbox.c.event_id, outbox.c.subject, outbox.c.envelope)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.position)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )).all()
            if not rows:
                OUTBOX_BACKLOG.set(0)
                return 0
            messages = []
            for row in rows:
                # The envelope as ``_written`` stored it (a validated CloudEvent, dumped): published as it
                # is, without building the model again to dump it again.
                envelope = row.envelope
                headers = {"Content-Type": "application/cloudevents+json"}
                if envelope.get("traceparent"):
                    headers["traceparent"] = envelope["traceparent"]
                if envelope.get("subject"):
                    headers[ORDERING_KEY_HEADER] = envelope["subject"]
                messages.append((row.subject, orjson.dumps(envelope), row.event_id, headers))
            acked = await self.bus.publish_batch(messages)
            # Only the unbroken prefix counts as sent, so a later event never overtakes an earlier one.
            sent = 0
            for ok in acked:
                if not ok:
                    break
                sent += 1
            now = datetime.now(UTC)
            if sent:
                await session.execute(_MARK_SENT, {"positions": [r.position for r in rows[:sent]], "now": now})
                for row in rows[:sent]:
                    OUTBOX_PUBLISHED.labels(row.subject).inc()
            if sent < len(rows):
                await session.execute(update(outbox).where(outbox.c.position == rows[sent].position)
                                      .values(attempts=outbox.c.attempts + 1, last_error="publish not acknowledged"))
                OUTBOX_FAILURES.inc()
            OUTBOX_BACKLOG.set(len(rows) - sent)
        if sent < len(rows):
            raise ConnectionError("the bus did not acknowledge every event")
        return sent


async def outbox_backlog(session: AsyncSession) -> tuple[int, float | None]:
    """Unsent events and the age in seconds of the oldest, for readiness and metrics."""
    row = (await session.execute(select(func.count(), func.min(outbox.c.created_at))
                                 .where(outbox.c.published_at.is_(None)))).one()
    age = (datetime.now(UTC) - row[1]).total_seconds() if row[1] else None
    return int(row[0]), age
