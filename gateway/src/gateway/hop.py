"""The gateway's hop to a service: HTTP/1.1 over pooled keep-alive connections, parsed by httptools.

Why not aiohttp: profiled under ``wrk -c32`` (tests/bench/bench_gateway.py), aiohttp's client spent
about a third of the gateway's CPU on request objects, header multidicts and timers that a proxy
does not need; the proxy only writes the request head it already has and streams bytes back. The
HTTP parsing itself is httptools (llhttp, the parser of Node.js), the same one uvicorn uses on the
way in, so nothing here parses HTTP by hand.

One ``HopConnection`` carries one exchange at a time. ``UpstreamPool`` keeps idle connections per
upstream for less than the upstream's keep-alive timeout (uvicorn closes idle ones after 5 s), so a
pooled connection is almost never found closed; when one is, a request that sent nothing yet is
retried on a fresh connection.
"""
from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterable
from typing import cast

import httptools


class UpstreamClosed(ConnectionError):
    """The connection ended before a complete response; ``before_response``: not one byte of it arrived."""

    def __init__(self, message: str, *, before_response: bool) -> None:
        super().__init__(message)
        self.before_response = before_response


class UpstreamUnreachable(ConnectionError):
    """No connection could be made within the connect time limit."""


class ResponseHead:
    __slots__ = ("status", "headers", "keep_alive")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> None:
        self.status = status
        self.headers = headers
        self.keep_alive = keep_alive

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


_HIGH_WATER = 256 * 1024  # buffered response bytes before the upstream is told to wait


class HopConnection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, held: HeldWrites | None = None) -> None:
        self.loop = loop
        self.held = held  # where a request head goes when it is all of the request; None: to the socket
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._reset()
        self._can_write = asyncio.Event()
        self._can_write.set()

    def _reset(self) -> None:
        self._headers: list[tuple[bytes, bytes]] = []
        self._head: asyncio.Future[ResponseHead] = self.loop.create_future()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._complete = False
        self._received_any = False
        self._paused_reading = False
        self._wake: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP connection's transport: asyncio types this callback for every kind of transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(UpstreamClosed(f"malformed response from upstream: {e}", before_response=False))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._can_write.set()
        if not self._complete and exc is None and self._delimited_by_close():
            self._complete = True  # RFC 9112 §6.3: without a length or chunking, the body ends with the connection
            self._notify()
        elif not self._complete:
            self._fail(UpstreamClosed("upstream closed the connection", before_response=not self._received_any))

    def _delimited_by_close(self) -> bool:
        if not self._head.done() or self._head.exception() is not None:
            return False
        names = {name.lower() for name, _ in self._head.result().headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        head = ResponseHead(self._parser.get_status_code(), self._headers, self._parser.should_keep_alive())
        if not self._head.done():
            self._head.set_result(head)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused_reading and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()
        self._notify()

    def on_message_complete(self) -> None:
        self._complete = True
        self._notify()

    def _notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def expire(self) -> None:
        """The time limit for the response head passed (``Deadlines``): its waiter gets TimeoutError."""
        if not self._head.done():
            self._fail(TimeoutError())

    def _fail(self, error: BaseException) -> None:
        self._error = error
        if not self._head.done():
            self._head.set_exception(error)
            self._head.exception()  # retrieved here so an abandoned exchange logs no "never retrieved"
        self._notify()

    # the exchange
    async def send(self, head: bytes, body: AsyncIterator[bytes] | None, chunked: bool) -> None:
        """Write the request: the head goes out with the body's first piece (all of a small body), so a
        request that arrived in one segment leaves in one, and the service reads it in one read."""
        assert self.transport is not None
        if self.closed:
            raise UpstreamClosed("upstream closed the connection", before_response=True)
        if body is None:
            if self.held is not None:
                self.held.write(self.loop, self.transport, head)
            else:
                self.transport.write(head)
            return
        unsent: bytes | None = head
        async for chunk in body:
            if self.closed:
                break
            piece = b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk
            if unsent is not None:
                piece, unsent = unsent + piece, None
            self.transport.write(piece)
            if not self._can_write.is_set():
                await self._can_write.wait()
        if self.closed:
            return
        if chunked:
            self.transport.write((unsent or b"") + b"0\r\n\r\n")
        elif unsent is not None:
            self.transport.write(unsent)  # an empty body

    async def response_head(self) -> ResponseHead:
        return await self._head

    def expect_no_body(self) -> None:
        """A response to HEAD carries its length but no body: the parser cannot know, so it ends here."""
        self._complete = True
        self.close()

    def read_nowait(self) -> bytes | None:
        """The next piece of the body if it has arrived, ``b""`` at its end, None when it must be waited for."""
        if self._chunks:
            chunk = self._chunks.popleft()
            self._buffered -= len(chunk)
            if self._paused_reading and self._buffered < _HIGH_WATER // 2 and self.transport is not None:
                self._paused_reading = False
                self.transport.resume_reading()
            return chunk
        if self._complete:
            return b""
        if self._error is not None:
            raise self._error
        return None

    async def read(self) -> bytes:
        """The next piece of the body, or ``b""`` at its end."""
        while (chunk := self.read_nowait()) is None:
            self._wake = self.loop.create_future()
            await self._wake
        return chunk

    @property
    def body_read(self) -> bool:
        """Whether the whole body has arrived and been read: nothing more will come."""
        return self._complete and not self._chunks

    @property
    def reusable(self) -> bool:
        head = self._head.result() if self._head.done() and not self._head.exception() else None
        return self._complete and not self.closed and head is not None and head.keep_alive

    def ready_for_next(self) -> None:
        self._reset()
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HeldWrites:
    """Request heads written to the services during one step of the event loop, sent at its end together.

    The requests the gateway reads in one step (one per ready client connection) then reach a service
    in one burst, and the service reads them all in one wake-up instead of waking for each, as it does
    for a fast proxy (nginx) or a load generator; its answers come back the same way. Measured in
    tests/bench/RESULTS.md (issue 18). Only what is written at once is held: bodies, which wait for
    the client and for flow control, go straight to the socket.
    """

    def __init__(self) -> None:
        self._held: list[tuple[asyncio.Transport, bytes]] = []

    def write(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, data: bytes) -> None:
        if not self._held:
            loop.call_soon(self._flush)
        self._held.append((transport, data))

    def _flush(self) -> None:
        held, self._held = self._held, []
        for transport, data in held:
            if not transport.is_closing():  # closed meanwhile: its exchange learns it from connection_lost
                transport.write(data)


class UpstreamPool:
    """Idle keep-alive connections to one upstream, at most ``limit`` open at once."""

    def __init__(self, host: str, port: int, *, limit: int, idle_seconds: float = 4.0) -> None:
        self.host = host
        self.port = port
        self.idle_seconds = idle_seconds
        self._idle: list[HopConnection] = []
        self._slots = asyncio.Semaphore(limit)
        self._held = HeldWrites()

    async def idle_connection(self) -> HopConnection | None:
        """A pooled connection ready now, with its slot; None when getting one would mean waiting for a
        slot or connecting (then ``acquire``)."""
        if not self._idle or self._slots.locked():
            return None
        await self._slots.acquire()  # a free slot: returns without suspending
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < self.idle_seconds:
                return connection
            connection.close()
        self._slots.release()
        return None

    async def acquire(self, connect_timeout: float) -> tuple[HopConnection, bool]:
        """A connection and whether it was reused from the pool."""
        await self._slots.acquire()
        try:
            now = time.monotonic()
            while self._idle:
                connection = self._idle.pop()
                if not connection.closed and now - connection.idle_since < self.idle_seconds:
                    return connection, True
                connection.close()
            return await self.connect(connect_timeout), False
        except BaseException:
            self._slots.release()
            raise

    async def connect(self, connect_timeout: float) -> HopConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, protocol = await loop.create_connection(lambda: HopConnection(loop, self._held), self.host, self.port)
        except TimeoutError:
            raise UpstreamUnreachable(f"no connection to {self.host}:{self.port} within {connect_timeout} s") from None
        return protocol

    def release(self, connection: HopConnection) -> None:
        self._slots.release()
        if connection.reusable:
            connection.ready_for_next()
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class Deadlines:
    """Time limits on response heads, enforced by one repeating timer instead of one per request.

    A timer per exchange (``asyncio.timeout``) costs a timer handle made and cancelled, the current
    task looked up and three ``getpid`` calls per request (uvloop); a proxy answering thousands of
    requests a second needs none of that to fail the rare late one. Each watched connection's head
    is failed with ``TimeoutError`` at most ``resolution`` seconds after its deadline.
    """

    def __init__(self, resolution: float = 0.05) -> None:
        self.resolution = resolution
        self._watched: dict[HopConnection, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, connection: HopConnection, deadline: float) -> None:
        """``deadline`` on the event loop's clock (``loop.time()``)."""
        self._watched[connection] = deadline
        if self._timer is None:
            self._timer = connection.loop.call_later(self.resolution, self._sweep, connection.loop)

    def forget(self, connection: HopConnection) -> None:
        self._watched.pop(connection, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for connection in [c for c, deadline in self._watched.items() if deadline <= now]:
            del self._watched[connection]
            connection.expire()
        self._timer = loop.call_later(self.resolution, self._sweep, loop) if self._watched else None


def request_head(method: str, target: bytes, host: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    return b"%b %b HTTP/1.1\r\nhost: %b\r\n%b\r\n" % (
        method.encode("ascii"), target, host, b"".join([b"%b: %b\r\n" % (k, v) for k, v in headers]))
