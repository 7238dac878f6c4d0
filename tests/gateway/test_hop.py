"""The gateway's hop to a service, below the HTTP exchanges of the other gateway tests: how a request is
written to the service's connection."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.hop import Deadlines, HeldWrites, HopConnection
from support import until

HEAD = b"POST /v1/verifications HTTP/1.1\r\nhost: licences\r\ncontent-length: 7\r\n\r\n"


class RecordingTransport:
    """What reached the socket, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)


async def body(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def connection() -> tuple[HopConnection, RecordingTransport]:
    hop, socket = HopConnection(asyncio.get_running_loop()), RecordingTransport()
    hop.connection_made(socket)  # type: ignore[arg-type]
    return hop, socket


async def test_a_small_body_leaves_with_the_head_in_one_write() -> None:
    hop, socket = connection()
    await hop.send(HEAD, body(b'{"a":1}'), chunked=False)
    assert socket.writes == [HEAD + b'{"a":1}']


async def test_a_body_in_pieces_leaves_its_first_piece_with_the_head_and_the_rest_as_it_comes() -> None:
    hop, socket = connection()
    await hop.send(HEAD, body(b"abc", b"defg"), chunked=False)
    assert socket.writes == [HEAD + b"abc", b"defg"]


async def test_a_chunked_body_is_framed_and_ended() -> None:
    hop, socket = connection()
    await hop.send(HEAD, body(b"abc"), chunked=True)
    assert b"".join(socket.writes) == HEAD + b"3\r\nabc\r\n0\r\n\r\n"
    hop, socket = connection()
    await hop.send(HEAD, body(), chunked=True)  # no piece at all
    assert socket.writes == [HEAD + b"0\r\n\r\n"]


async def test_a_request_without_a_body_is_its_head() -> None:
    hop, socket = connection()
    await hop.send(HEAD, None, chunked=False)
    assert socket.writes == [HEAD]


async def test_a_head_not_come_by_its_deadline_fails_with_timeout_and_one_that_came_is_left_alone() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(resolution=0.01)
    late, _ = connection()
    answered, _ = connection()
    deadlines.watch(late, loop.time() + 0.05)
    deadlines.watch(answered, loop.time() + 0.05)
    answered.data_received(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    assert (await answered.response_head()).status == 200
    deadlines.forget(answered)
    started = loop.time()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(late.response_head(), 5)
    assert loop.time() - started < 1
    assert not late.reusable and answered.reusable
    await until(lambda: deadlines._timer is None, "the sweep stopped: nothing is watched")


class ClosableTransport(RecordingTransport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing


async def test_request_heads_written_in_one_step_reach_their_services_together_at_its_end() -> None:
    loop = asyncio.get_running_loop()
    held = HeldWrites()
    sockets = [ClosableTransport() for _ in range(3)]
    hops = []
    for socket in sockets:
        hop = HopConnection(loop, held)
        hop.connection_made(socket)  # type: ignore[arg-type]
        hops.append(hop)
    for hop in hops:
        await hop.send(HEAD, None, chunked=False)
    sockets[2].closing = True  # closed before the step ended: nothing is written to it
    assert all(socket.writes == [] for socket in sockets)  # held until the step ends
    await until(lambda: sockets[1].writes, "the held heads written")
    assert [socket.writes for socket in sockets] == [[HEAD], [HEAD], []]
    await hops[0].send(HEAD, body(b'{"a":1}'), chunked=False)  # a body goes straight to the socket
    assert sockets[0].writes == [HEAD, HEAD + b'{"a":1}']
