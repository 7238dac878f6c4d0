"""Dead letters (死信) of one service's consumers: list them, replay one after a fix, or discard it.

A consumer that runs out of deliveries copies the message to ``lvrong.deadletter.<durable>`` in the
stream ``LVRONG_DEADLETTER`` (see ``kit.events.bus``). Replaying publishes the original message again
on its original subject; the dead letter is removed once the stream has stored the replay.
Consumers record handled event ids, so the other consumers of that subject, which handled the event
the first time, acknowledge the replay without applying it twice; only the consumer that failed
applies it now. A message that is not an event at all cannot be replayed, only discarded.
"""
from __future__ import annotations

import base64
import builtins
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from kit.events.bus import JetStreamBus
from kit.events.envelope import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, CloudEvent
from kit.natsauth import NatsClient

# Headers the bus adds when it dead-letters a message; a replay carries the original headers only.
_DEAD_LETTER_HEADERS = ("Lvrong-Original-Subject", "Lvrong-Original-Stream", "Lvrong-Original-Sequence",
                        "Lvrong-Consumer", "Lvrong-Error")
REPLAYED_FROM_HEADER = "Lvrong-Replayed-From"


def dead_letter_subject(durable: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{durable}"


@dataclass
class DeadLetter:
    sequence: int
    consumer: str
    original_subject: str
    original_stream: str | None
    original_sequence: int | None
    error: str | None
    dead_lettered_at: datetime | None
    event: CloudEvent | None  # None when the message is not a readable CloudEvent
    raw: bytes
    headers: dict[str, str]

    @classmethod
    def from_message(cls, msg: RawStreamMsg) -> DeadLetter:
        # A message read from a stream has its sequence and subject (nats-py types every field optional).
        assert msg.seq is not None and msg.subject is not None
        headers = msg.headers or {}
        event = None
        with contextlib.suppress(ValueError):
            event = CloudEvent.from_json_bytes(msg.data or b"")
        original_sequence = headers.get("Lvrong-Original-Sequence")
        return cls(
            sequence=msg.seq, consumer=headers.get("Lvrong-Consumer") or msg.subject.removeprefix(DEAD_LETTER_PREFIX + "."),
            original_subject=headers.get("Lvrong-Original-Subject") or "",
            original_stream=headers.get("Lvrong-Original-Stream"),
            original_sequence=int(original_sequence) if original_sequence and original_sequence.isdigit() else None,
            error=headers.get("Lvrong-Error"), dead_lettered_at=msg.time, event=event, raw=msg.data or b"",
            headers=dict(headers))

    def summary(self) -> dict[str, Any]:
        """What ops see of a dead letter: where it came from, why it failed, which event it is."""
        body: dict[str, Any] = {
            "sequence": self.sequence, "consumer": self.consumer, "original_subject": self.original_subject,
            "original_stream": self.original_stream, "original_sequence": self.original_sequence,
            "error": self.error, "dead_lettered_at": self.dead_lettered_at.isoformat() if self.dead_lettered_at else None,
            "replayable": self.event is not None,
        }
        if self.event is not None:
            body["event"] = {"id": self.event.id, "type": self.event.type, "subject": self.event.subject,
                             "time": self.event.time.isoformat(), "source": self.event.source}
        else:
            body["raw_base64"] = base64.b64encode(self.raw[:2048]).decode()
        return body


class DeadLetterNotFound(LookupError):
    pass


class NotReplayable(ValueError):
    pass


class DeadLetters:
    """The dead letters of the consumers named ``durables`` (one service's), on ``bus``."""

    def __init__(self, bus: JetStreamBus, durables: list[str], *, ops_client: NatsClient | None = None) -> None:
        self.bus = bus
        self.subjects = {dead_letter_subject(d): d for d in durables}
        # Reading, deleting and republishing dead letters (on a producer's subject) are the rights of the
        # service's ops identity, not of the service (kit.natsauth): a connection of its own per operation.
        # Without it, the service's own connection (enough on a server without authentication).
        self.ops_client = ops_client

    @contextlib.asynccontextmanager
    async def _ops(self) -> AsyncIterator[JetStreamBus]:
        if self.ops_client is None:
            yield self.bus
            return
        bus = JetStreamBus(self.ops_client, name="lvrong-ops-deadletters")
        try:
            yield bus
        finally:
            await bus.close()

    async def list(self, *, after: int = 0, limit: int = 50, consumer: str | None = None) -> tuple[list[DeadLetter], int | None]:
        """Oldest first, after stream sequence ``after``; returns the page and the cursor of the next one."""
        async with self._ops() as ops:
            return await self._list(await ops.jetstream(), after=after, limit=limit, consumer=consumer)

    async def _list(self, js: JetStreamContext, *, after: int, limit: int,
                    consumer: str | None) -> tuple[builtins.list[DeadLetter], int | None]:
        subjects = [s for s, d in self.subjects.items() if consumer is None or d == consumer]
        found: builtins.list[DeadLetter] = []
        for subject in subjects:
            seq = after + 1
            taken = 0
            while taken <= limit:  # one more than a page tells whether another page follows
                try:
                    msg = await js.get_msg(DEAD_LETTER_STREAM, seq=seq, subject=subject, next=True)
                except NotFoundError:  # no more on this subject (or no dead letter stream yet)
                    break
                found.append(DeadLetter.from_message(msg))
                taken += 1
                seq = found[-1].sequence + 1
        found.sort(key=lambda letter: letter.sequence)
        page = found[:limit]
        return page, (page[-1].sequence if len(found) > limit else None)

    async def counts(self) -> dict[str, int]:
        """Dead letters waiting per consumer, for metrics."""
        js = await self.bus.jetstream()
        try:
            info = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=DEAD_LETTER_PREFIX + ".>")
        except NotFoundError:
            return dict.fromkeys(self.subjects.values(), 0)
        per_subject = info.state.subjects or {}
        return {durable: int(per_subject.get(subject, 0)) for subject, durable in self.subjects.items()}

    async def get(self, sequence: int) -> DeadLetter:
        async with self._ops() as ops:
            js = await ops.jetstream()
            try:
                msg = await js.get_msg(DEAD_LETTER_STREAM, seq=sequence)
            except NotFoundError:
                raise DeadLetterNotFound(sequence) from None
        if msg.subject not in self.subjects:  # another service's dead letter is not this service's to see
            raise DeadLetterNotFound(sequence)
        return DeadLetter.from_message(msg)

    async def replay(self, sequence: int) -> DeadLetter:
        """Publish the dead letter again on its original subject, then remove it from the dead letters."""
        letter = await self.get(sequence)
        if letter.event is None or not letter.original_subject:
            raise NotReplayable(sequence)
        headers = {k: v for k, v in letter.headers.items() if k not in _DEAD_LETTER_HEADERS}
        headers[REPLAYED_FROM_HEADER] = str(sequence)
        # The message id is the dead letter's: replaying it twice in a row stores one message.
        async with self._ops() as ops:
            await ops.publish(letter.original_subject, letter.raw, msg_id=f"replay-{DEAD_LETTER_STREAM}-{sequence}",
                              headers=headers)
        await self._delete(sequence)
        return letter

    async def discard(self, sequence: int) -> DeadLetter:
        letter = await self.get(sequence)
        await self._delete(sequence)
        return letter

    async def _delete(self, sequence: int) -> None:
        async with self._ops() as ops:
            js = await ops.jetstream()
            with contextlib.suppress(NotFoundError):  # removed by another replica in the meantime
                await js.delete_msg(DEAD_LETTER_STREAM, sequence)

