"""W3C trace context (``traceparent``) carried through HTTP requests and events.

The current trace lives in a context variable set per request and per handled event, so an event
written to the outbox inherits the trace of the request that caused it. Spans are exported by
OpenTelemetry when configured (``configure_tracing``); the identifiers here are what logs and
events carry either way.
"""
from __future__ import annotations

import contextlib
import os
import random
import re
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _random_hex(bits: int) -> str:
    """Trace and span ids need to be unique, not secret (W3C Trace Context §3.2.2.3; OpenTelemetry's own
    generator does the same): ``random`` avoids a getrandom() system call on every request."""
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"


_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class TraceContext(NamedTuple):
    """Immutable, and a tuple rather than a frozen dataclass: two are made per request (the request's own
    span and the hop's), and a frozen dataclass's ``__init__`` costs twice a tuple's."""

    trace_id: str
    span_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, _random_hex(64), self.flags)

    @classmethod
    def new(cls) -> TraceContext:
        return cls(_random_hex(128), _random_hex(64))

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


# --- Exported spans (OpenTelemetry), only when configured -------------------------------------------
#
# The identifiers above stay the one source of truth: logs, events and HTTP headers carry them whether
# or not spans are exported. When tracing is configured, each server request, each event published
# and each event handled is also recorded as an OpenTelemetry span that ADOPTS those identifiers
# (``_AdoptingIdGenerator``), so the exported trace is exactly the chain the logs and events show:
# gateway → service → event → consumer → its events → … When it is not configured nothing here runs
# per request: ``traced`` returns the app unchanged and ``recorded`` is a no-op.

SpanKind = Literal["server", "producer", "consumer", "internal"]

_tracer: Any = None
_adopt: ContextVar[TraceContext | None] = ContextVar("lvrong_adopt_span_ids", default=None)


def tracing_enabled() -> bool:
    return _tracer is not None


def configure_tracing(service: str) -> bool:
    """Export spans of this process when configured; True when spans are exported.

    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): OTLP over HTTP to a
    collector, with the standard ``OTEL_*`` variables (headers, sampler: ``OTEL_TRACES_SAMPLER`` =
    ``parentbased_traceidratio`` and ``OTEL_TRACES_SAMPLER_ARG`` = 0.1 keeps one trace in ten).
    ``LVRONG_TRACE_DIR``: also one JSON span per line in ``<dir>/<service>-<pid>.jsonl`` — for tests
    and for looking at a trace on a workstation without a collector.
    """
    global _tracer
    if _tracer is not None:
        return True
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    trace_dir = os.environ.get("LVRONG_TRACE_DIR")
    if not endpoint and not trace_dir:
        return False
    # Imported here: a process that does not export spans never loads the SDK.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class _AdoptingIdGenerator(RandomIdGenerator):
        """Gives a span the ids the kit already chose for it (see ``recorded``), else random ones."""

        def generate_trace_id(self) -> int:
            adopted = _adopt.get()
            return int(adopted.trace_id, 16) if adopted else super().generate_trace_id()

        def generate_span_id(self) -> int:
            adopted = _adopt.get()
            return int(adopted.span_id, 16) if adopted else super().generate_span_id()

    provider = TracerProvider(resource=Resource.create({"service.name": f"lvrong-{service}"}),
                              id_generator=_AdoptingIdGenerator())
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if trace_dir:
        Path(trace_dir).mkdir(parents=True, exist_ok=True)
        out = open(Path(trace_dir) / f"{service}-{os.getpid()}.jsonl", "a", buffering=1, encoding="utf-8")  # open while the process runs
        provider.add_span_processor(BatchSpanProcessor(
            ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n"),
            schedule_delay_millis=200))
    _tracer = provider.get_tracer("lvrong.kit")
    return True


@contextlib.contextmanager
def recorded(name: str, trace: TraceContext, parent: TraceContext | None, *, kind: SpanKind = "internal",
             attributes: dict[str, Any] | None = None) -> Iterator[Any]:
    """Record the span ``trace`` (child of ``parent``, or a root) while the block runs; yields the span
    (None when tracing is off). An exception leaving the block marks the span as failed."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import trace as otel

    context = None
    if parent is not None:
        context = otel.set_span_in_context(otel.NonRecordingSpan(otel.SpanContext(
            int(parent.trace_id, 16), int(parent.span_id, 16), is_remote=True,
            trace_flags=otel.TraceFlags(int(parent.flags, 16) & 1))))
    token = _adopt.set(trace)
    try:
        span = _tracer.start_span(name, context=context, kind=getattr(otel.SpanKind, kind.upper()),
                                  attributes=attributes)
    finally:
        _adopt.reset(token)
    try:
        yield span
    except BaseException as e:
        span.record_exception(e)
        span.set_status(otel.Status(otel.StatusCode.ERROR, type(e).__name__))
        raise
    finally:
        span.end()


def outgoing_traceparent(trace: TraceContext) -> str:
    """The ``traceparent`` for a call made while handling ``trace``: the recorded span itself when spans
    are exported (so the callee's span hangs off a span that exists), else a fresh child id."""
    return trace.traceparent if _tracer is not None else trace.child().traceparent


def traced(app: ASGIApp, service: str) -> ASGIApp:
    """``app`` recording a server span per HTTP request when tracing is configured, else ``app`` itself.

    Goes inside the request-context middleware: it records the span whose ids that middleware chose.
    """
    if not configure_tracing(service):
        return app

    async def with_server_span(scope: Scope, receive: Receive, send: Send) -> None:
        trace = current_trace.get()
        if scope["type"] != "http" or trace is None:
            await app(scope, receive, send)
            return
        parent = None
        for key, value in scope.get("headers") or ():
            if key == b"traceparent":
                parent = TraceContext.parse(value.decode("latin-1"))
                break
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with recorded(f"{scope['method']} {scope['path']}", trace, parent, kind="server",
                      attributes={"http.request.method": scope["method"], "url.path": scope["path"],
                                  "lvrong.request_id": current_request_id.get() or ""}) as span:
            if not span.get_span_context().trace_flags.sampled:  # the sampler said no: so say the callees
                current_trace.set(TraceContext(trace.trace_id, trace.span_id, "00"))
            await app(scope, receive, send_with_status)
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template:
                span.update_name(f"{scope['method']} {template}")
                span.set_attribute("http.route", template)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                from opentelemetry.trace import Status, StatusCode

                span.set_status(Status(StatusCode.ERROR))

    return with_server_span
