"""The CloudEvents 1.0 envelope and the base of every event contract.

An event's ``type`` is also its NATS subject: ``lvrong.<service>.<entity>.<verb>``, unless its contract
names a finer one below it (``EventContract.nats_subject``), so that a consumer interested in some of
a type's events can have the server filter them (a JetStream consumer's filter subjects).
"""
from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from kit.tracing import current_trace, recorded, tracing_enabled


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    source: str
    type: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)


class EventContract(BaseModel):
    """The ``data`` of one event type. Subclasses set ``event_type`` and ``source_service``."""

    model_config = ConfigDict(extra="ignore")

    event_type: ClassVar[str]
    source_service: ClassVar[str]

    def nats_subject(self) -> str:
        """The NATS subject this event is published on: its type, or a subject below it that a contract
        names (``subject_below``) when some consumers want only some of its events. The envelope's
        ``type`` stays ``event_type`` either way, so handlers and dead-letter tools need not know."""
        return self.event_type

    @classmethod
    def subjects(cls) -> list[str]:
        """What a consumer of every event of this type subscribes to (filter subjects of its durable)."""
        return [cls.event_type]

    @classmethod
    def subject_below(cls, token: str) -> str:
        """``<event_type>.<token>``: the subject of the events of this type that ``token`` names."""
        if not token or any(c in token for c in ".*> \t\r\n"):
            # A dot would make two tokens and a wildcard a pattern: never a subject to publish on.
            raise ValueError(f"{token!r} cannot name a NATS subject token")
        return f"{cls.event_type}.{token}"

    def envelope(self, *, subject: str | None = None, event_id: str | None = None) -> CloudEvent:
        trace = current_trace.get()
        event_trace = trace.child() if trace else None
        if event_trace is not None and tracing_enabled():
            # The event's own span, a child of the request or handler that wrote it; its consumers'
            # spans hang off it. Recorded when the event is written to the outbox (zero length).
            with recorded(f"publish {self.event_type}", event_trace, trace, kind="producer",
                          attributes={"messaging.system": "nats", "messaging.destination.name": self.nats_subject()}):
                pass
        return CloudEvent(
            id=event_id or uuid.uuid4().hex,
            source=source_of(self.source_service),
            type=self.event_type,
            subject=subject,
            dataschema=f"urn:lvrong:event:{self.event_type}:v1",
            traceparent=event_trace.traceparent if event_trace else None,
            data=self.model_dump(mode="json"),
        )

    @classmethod
    def from_event(cls, event: CloudEvent, *, without: Collection[str] = ()) -> Self:
        """The event's data validated. ``without``: optional fields this consumer never reads, left at
        their defaults rather than validated (a verdict's result per rule, for one)."""
        if event.type != cls.event_type:
            raise ValueError(f"expected {cls.event_type}, got {event.type}")
        return cls.model_validate({k: v for k, v in event.data.items() if k not in without} if without else event.data)


def source_of(service: str) -> str:
    """The CloudEvent ``source`` of every event ``service`` publishes."""
    return f"/lvrong/{service}"


def producer_of(subject: str) -> str | None:
    """The service whose subject (or event type) this is: ``lvrong.<service>.…``."""
    parts = subject.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "lvrong" else None


def stream_name(service: str) -> str:
    """One JetStream stream per producing service."""
    return f"LVRONG_{service.upper()}"


def stream_subjects(service: str) -> list[str]:
    return [f"lvrong.{service}.>"]


DEAD_LETTER_STREAM = "LVRONG_DEADLETTER"
DEAD_LETTER_PREFIX = "lvrong.deadletter"
