"""How every process of the platform is served: uvicorn's httptools protocol, writing each response in
one piece rather than head and body apart.

uvicorn writes the response head to the socket as soon as the app sends ``http.response.start`` and
the body with the next message: two ``send()`` system calls and two TCP segments per small answer,
so the client wakes up twice to read one response (and the gateway, reading a service's answer,
twice per request). An app sends head and body of a buffered answer in the same step of the event
loop, so holding what is written until the end of that step (``loop.call_soon``) costs no waiting
and puts head and body in one segment, as nginx does with ``writev``. Streamed answers (event
streams, downloads) leave piece by piece as before: each step's writes go out when the step ends.
Measured: tests/bench/RESULTS.md (issue 18).

Served with ``uvicorn --http kit.serving:CoalescingHttpToolsProtocol`` (``kit.devstack``, the
Dockerfile), the gateway and every service alike; everything else is uvicorn's own protocol, unchanged.
The keep-alive time limit is kept the same way for all connections of a process: one sweep a
fraction of a second instead of a timer per response (``IdleConnections``).
Subclasses uvicorn internals: check it on every uvicorn upgrade (tests/kit/test_serving.py).
"""
from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Held writes beyond this many bytes go to the socket at once: coalescing is for small answers.
HOLD_AT_MOST = 64 * 1024


class CoalescedWrites:
    """A transport whose writes within one step of the event loop reach the socket as one write.

    ``close`` sends what is held first, as a transport's own ``close`` sends what it buffered; every
    other attribute is the wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(bytes(data))
        self._held_bytes += len(data)
        if self._held_bytes >= HOLD_AT_MOST:
            # A large body written in one step (a download) goes to the socket now, so the transport's
            # flow control (pause_writing, and uvicorn's drain) acts on it as without the wrapper.
            self._flush()

    def _flush(self) -> None:
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held, self._held_bytes = [], 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._held_bytes + self._transport.get_write_buffer_size()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class IdleMark:
    """Stands where uvicorn keeps a connection's keep-alive timer: ``cancel`` is all uvicorn calls on it."""

    __slots__ = ("protocol", "deadline", "cancelled")

    def __init__(self, protocol: HttpToolsProtocol, deadline: float) -> None:
        self.protocol = protocol
        self.deadline = deadline
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class IdleConnections:
    """Closes keep-alive connections idle past uvicorn's ``timeout_keep_alive``, sweeping once per
    ``resolution`` seconds instead of uvicorn's timer made and cancelled for every response (a libuv
    timer allocated, started, stopped and closed per request under uvloop). A connection is closed
    between ``timeout_keep_alive`` and that plus ``resolution`` after its last answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float) -> None:
        self.loop = loop
        self.resolution = resolution
        self._marks: list[IdleMark] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, mark: IdleMark) -> None:
        self._marks.append(mark)
        if self._timer is None:
            self._timer = self.loop.call_later(self.resolution, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        waiting = []
        for mark in self._marks:
            if mark.cancelled:
                continue
            if mark.deadline <= now:
                mark.protocol.timeout_keep_alive_handler()
            else:
                waiting.append(mark)
        self._marks = waiting
        self._timer = self.loop.call_later(self.resolution, self._sweep) if waiting else None


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn types it
        # Everything uvicorn writes on this connection goes through the wrapper; it reads as a transport.
        coalesced: Any = CoalescedWrites(transport, self.loop)
        super().connection_made(coalesced)
        # One sweep for all connections of the server (uvicorn's ServerState is per server).
        idle = getattr(self.server_state, "idle_connections", None)
        if idle is None:
            idle = IdleConnections(self.loop, min(1.0, self.timeout_keep_alive / 5))
            self.server_state.idle_connections = idle  # type: ignore[attr-defined]  # ours, beside uvicorn's
        self._idle: IdleConnections = idle

    def on_response_complete(self) -> None:
        """uvicorn's own, but the keep-alive time limit is an ``IdleMark`` swept by ``IdleConnections``."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            mark = IdleMark(self, self.loop.time() + self.timeout_keep_alive)
            self.timeout_keep_alive_task = mark  # type: ignore[assignment]  # uvicorn only cancels it
            self._idle.add(mark)
