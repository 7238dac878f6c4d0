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
