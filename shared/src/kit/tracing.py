"""W3C trace context (``traceparent``) carried through HTTP requests and events.

The current trace lives in a context variable set per request and per handled event, so an event
written to the outbox inherits the trace of the request that caused it. Exporting spans is added
by OpenTelemetry when configured; the identifiers here are what logs and events carry either way.
"""
from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, secrets.token_hex(8), self.flags)

    @classmethod
    def new(cls) -> TraceContext:
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    @classmethod
    def parse(cls, header: str | None) -> TraceContext | None:
        if not header:
            return None
        m = _TRACEPARENT.match(header.strip().lower())
        if not m or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
            return None
        return cls(m.group(1), m.group(2), m.group(3))

    @classmethod
    def continue_from(cls, header: str | None) -> TraceContext:
        """A new span in the caller's trace, or a new trace when the header is missing or malformed."""
        parent = cls.parse(header)
        return parent.child() if parent else cls.new()


current_trace: ContextVar[TraceContext | None] = ContextVar("current_trace", default=None)
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
