"""How every process is served (``kit.serving``): uvicorn's writes coalesced per step of the event loop,
so an answer's head and body reach the socket in one write."""
from __future__ import annotations

import asyncio
from typing import Any

from kit.serving import HOLD_AT_MOST, CoalescedWrites
from support import until


class RecordingTransport:
    """What reached the socket, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 4711)}.get(name, default)


def coalesced() -> tuple[CoalescedWrites, RecordingTransport]:
    socket = RecordingTransport()
    return CoalescedWrites(socket, asyncio.get_running_loop()), socket  # type: ignore[arg-type]


async def test_a_response_written_in_one_step_reaches_the_socket_in_one_write() -> None:
    transport, socket = coalesced()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    transport.write(b"")
    assert socket.writes == []  # held until the step ends
    await until(lambda: socket.writes, "the held writes flushed")
    assert socket.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


async def test_writes_of_later_steps_are_written_as_they_come() -> None:
    transport, socket = coalesced()
    transport.write(b"event: a\n\n")
    await until(lambda: len(socket.writes) == 1, "the first event written")
    transport.write(b"event: b\n\n")
    await until(lambda: len(socket.writes) == 2, "the second event written")
    assert socket.writes == [b"event: a\n\n", b"event: b\n\n"]


async def test_closing_sends_what_is_held_first_and_nothing_goes_to_a_closed_socket() -> None:
    transport, socket = coalesced()
    transport.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
    transport.close()
    assert socket.writes == [b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"] and socket.closed
    transport.write(b"late")
    transport._flush()  # the step ends: the socket is closed, the late bytes are dropped
    assert socket.writes == [b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"]


async def test_everything_else_is_the_sockets_own() -> None:
    transport, _ = coalesced()
    assert transport.get_extra_info("peername") == ("127.0.0.1", 4711)
    assert not transport.is_closing()


async def test_a_large_body_goes_to_the_socket_at_once_so_flow_control_sees_it() -> None:
    transport, socket = coalesced()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 70000\r\n\r\n")
    assert socket.writes == []
    transport.write(b"x" * (HOLD_AT_MOST - 1))
    assert len(socket.writes) == 1 and len(socket.writes[0]) > HOLD_AT_MOST  # head and body together, now
    assert transport.get_write_buffer_size() == 0
    transport.write(b"tail")
    await until(lambda: len(socket.writes) == 2, "the small rest flushed at the end of the step")
    assert socket.writes[1] == b"tail"


async def _served(timeout_keep_alive: int) -> tuple[Any, int]:
    import uvicorn

    from kit.serving import CoalescingHttpToolsProtocol

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=CoalescingHttpToolsProtocol, lifespan="off",
                            log_level="warning", timeout_keep_alive=timeout_keep_alive)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, "the server started")
    return (server, task), server.servers[0].sockets[0].getsockname()[1]


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head + await asyncio.wait_for(reader.readexactly(2), 5)


async def test_an_idle_keep_alive_connection_is_closed_after_its_time_limit_and_a_busy_one_stays_open() -> None:
    (server, task), port = await _served(timeout_keep_alive=1)
    loop = asyncio.get_running_loop()
    try:
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await _ask(idle_reader, idle_writer)).endswith(b"ok")
        answered = loop.time()
        # The busy connection asks again well within the limit, each time, for longer than the limit:
        # the marks its earlier answers left must not close it.
        for _ in range(4):
            assert (await _ask(busy_reader, busy_writer)).startswith(b"HTTP/1.1 200")
            await asyncio.sleep(0.4)
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # the server closed the idle one
        assert loop.time() - answered >= 1.0  # not before its time limit
        assert (await _ask(busy_reader, busy_writer)).endswith(b"ok")
        for writer in (idle_writer, busy_writer):
            writer.close()
    finally:
        server.should_exit = True
        await task
