"""The gateway's proxied path against real upstream servers on loopback: streaming both ways,
headers, trace propagation, and the problem+json answers when an upstream is slow or down."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from gateway_support import running_gateway

from kit.devstack import free_port
from support import bearer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[dict]:
    """A stand-in for svc-matters that echoes what reached it, streams, and can be slow."""
    seen: dict = {}

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        seen["headers"] = dict(request.headers)
        seen["body_sha256"] = hashlib.sha256(body).hexdigest()
        return web.json_response({"path": request.path_qs, "length": len(body)}, headers={"X-Upstream": "yes"})

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        for i in range(64):
            await response.write(bytes([i]) * 65536)
        await response.write_eof()
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    async def events(request: web.Request) -> web.StreamResponse:
        """Server-Sent Events every 0.3 s: a stream lasting longer than the 0.5 s upstream limit."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        seen["events_open"] = True
        try:
            for i in range(int(request.query.get("n", "6"))):
                await response.write(f"id: {i}\nevent: tick\ndata: {{}}\n\n".encode())
                await asyncio.sleep(0.3)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the gateway closed the stream: what one test waits for
        finally:
            seen["events_open"] = False
        return response

    async def trickle(request: web.Request) -> web.StreamResponse:
        """A plain body in pieces, ``gap`` seconds apart."""
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):  # cut by the gateway when a gap is too long
            for _ in range(4):
                await response.write(b"x" * 1000)
                await asyncio.sleep(float(request.query["gap"]))
            await response.write_eof()
        return response

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/v1/matters/events", events)
    app.router.add_get("/v1/matters/trickle", trickle)
    app.router.add_route("*", "/v1/matters/echo", echo)
    app.router.add_get("/v1/matters/big", big)
    app.router.add_get("/v1/matters/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield {"url": f"http://127.0.0.1:{port}", "seen": seen}
    await runner.cleanup()


@pytest.fixture(scope="module")
async def gateway(upstream: dict, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with running_gateway(
        tmp_path_factory.mktemp("issuer"), upstream_matters_url=upstream["url"],
        upstream_prequal_url=f"http://127.0.0.1:{free_port()}", upstream_timeouts={"matters": 0.5},
        max_body_bytes=8 * 1024 * 1024,
    ) as url:
        yield url


@pytest.fixture(scope="module")
async def client(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as c:
        r = await c.post("/auth/token", data={"grant_type": "password", "username": "applicant-person", "password": "demo"})
        c.headers.update(bearer(r.json()["access_token"]))
        yield c


async def test_request_reaches_the_upstream_with_path_query_token_and_trace(client, upstream) -> None:
    sent = b'{"a": "\xe4\xb8\xad"}'
    r = await client.post("/v1/matters/echo?x=1&y=%E4%B8%AD", content=sent, headers={
        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01", "Connection": "keep-alive", "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json() == {"path": "/v1/matters/echo?x=1&y=%E4%B8%AD", "length": len(sent)}
    assert r.headers["x-upstream"] == "yes"
    headers = {k.lower(): v for k, v in upstream["seen"]["headers"].items()}
    assert headers["authorization"] == client.headers["authorization"]
    assert headers["traceparent"].startswith(f"00-{TRACE_ID}-") and "00f067aa0ba902b7" not in headers["traceparent"]
    assert headers["x-request-id"] == r.headers["x-request-id"]
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"
    assert upstream["seen"]["body_sha256"] == hashlib.sha256(sent).hexdigest()


async def test_large_bodies_stream_both_ways_intact(client, upstream) -> None:
    payload = bytes(range(256)) * (4 * 4096)  # 4 MiB
    r = await client.post("/v1/matters/echo", content=payload, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.json()["length"] == len(payload)
    assert upstream["seen"]["body_sha256"] == hashlib.sha256(payload).hexdigest()
    big = await client.get("/v1/matters/big")
    assert big.status_code == 200 and len(big.content) == 64 * 65536
    assert big.content[65536 * 10] == 10


async def test_body_over_the_limit_is_413_even_without_content_length(client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * (1024 * 1024)

    r = await client.post("/v1/matters/echo", content=chunks())
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")


async def test_slow_upstream_is_a_504_problem_at_its_timeout(client) -> None:
    started = time.monotonic()
    r = await client.get("/v1/matters/slow", headers={"Accept-Language": "en"})
    assert r.status_code == 504 and time.monotonic() - started < 3
    assert r.json()["title"] == "The upstream service timed out" and r.json()["type"].endswith("/gateway-timeout")


async def test_a_request_on_a_pooled_connection_is_held_to_the_same_time_limit(client) -> None:
    assert (await client.get("/v1/matters/echo")).status_code == 200  # leaves its connection in the pool
    started = time.monotonic()
    r = await client.get("/v1/matters/slow")
    assert r.status_code == 504 and 0.5 <= time.monotonic() - started < 3
    assert (await client.get("/v1/matters/echo")).status_code == 200  # the timed-out connection was not reused


async def test_upstream_down_is_a_503_problem_with_retry_after(client) -> None:
    r = await client.get("/v1/prequal/anything")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.headers["content-type"].startswith("application/problem+json") and r.json()["title_zh"]


async def test_token_is_checked_before_any_upstream_call(gateway: str, upstream: dict) -> None:
    upstream["seen"].clear()
    async with httpx.AsyncClient(base_url=gateway) as anonymous:
        r = await anonymous.post("/v1/matters/echo", content=b"{}")
    assert r.status_code == 401 and upstream["seen"] == {}


async def test_event_stream_outlives_the_upstream_timeout(client) -> None:
    started = time.monotonic()
    r = await client.get("/v1/matters/events", params={"n": 6})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.text.count("event: tick") == 6 and time.monotonic() - started > 1.5  # three times the 0.5 s limit


async def test_client_leaving_an_event_stream_closes_the_upstream_request(client, upstream) -> None:
    async with client.stream("GET", "/v1/matters/events", params={"n": 1000}) as r:
        lines = r.aiter_lines()
        ids = [line async for line in _take_ids(lines, 4)]  # 1.2 s: longer than the 0.5 s limit
        assert ids == ["id: 0", "id: 1", "id: 2", "id: 3"] and upstream["seen"]["events_open"] is True
    deadline = time.monotonic() + 3
    while upstream["seen"]["events_open"]:
        assert time.monotonic() < deadline, "the upstream stream stayed open after the client left"
        await asyncio.sleep(0.05)


async def test_plain_body_limit_is_per_read_not_for_the_whole_body(client) -> None:
    slow_but_steady = await client.get("/v1/matters/trickle", params={"gap": 0.2})  # 0.8 s in all, 0.2 s gaps
    assert slow_but_steady.status_code == 200 and len(slow_but_steady.content) == 4000
    with pytest.raises(httpx.RemoteProtocolError):  # a 1 s silence mid-body: cut at the 0.5 s limit
        await client.get("/v1/matters/trickle", params={"gap": 1})


async def _take_ids(lines: AsyncIterator[str], count: int) -> AsyncIterator[str]:
    async for line in lines:
        if line.startswith("id:"):
            yield line
            count -= 1
            if count == 0:
                return
