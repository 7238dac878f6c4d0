"""The proxied path: a plain ASGI handler forwarding to the upstream over pooled keep-alive
connections (``gateway.hop``), streaming bodies both ways.

Not a FastAPI route with httpx: measured on this machine that costs 90–95% of the throughput
(DESIGN speed notes); nor aiohttp's client, whose per-request objects cost a third of the
gateway's CPU (``tests/bench/bench_gateway.py``). Verified tokens are cached by ``TokenVerifier``
until they expire.

An upstream's time limit bounds the wait for its response headers and then each wait for the next
piece of the body, not the whole exchange: a Server-Sent Events stream (``text/event-stream``) lives
as long as the client stays, kept alive by the upstream's heartbeats, and is closed upstream as soon
as the client goes away.

Resilience at the door: each upstream has a circuit breaker (``gateway.resilience``) that answers
503 at once while the upstream is failing, and safe requests (GET, HEAD, OPTIONS) that failed
before the upstream answered are retried once on a fresh connection, within a retry budget.
"""
from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import structlog
from prometheus_client import Counter
from starlette.types import Receive, Scope, Send

from gateway import messages
from gateway.hop import Deadlines, HopConnection, UpstreamClosed, UpstreamPool, request_head
from gateway.resilience import CircuitBreaker, CircuitOpen, RetryBudget
from gateway.routes import Route
from gateway.scopes import ScopeTable
from kit import messages as kit_messages
from kit.auth import InsufficientScope, Principal, TokenVerifier, bearer_token
from kit.errors import (
    PROBLEM_MEDIA_TYPE,
    BadGateway,
    GatewayTimeout,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
    Unauthorized,
    problem_body,
)
from kit.http import header
from kit.i18n import prefers_english
from kit.tracing import current_request_id, current_trace, outgoing_traceparent

log = structlog.get_logger("gateway.proxy")

UPSTREAM_FAILURES = Counter("lvrong_gateway_upstream_failures_total", "Upstream calls that failed", ["upstream", "kind"])
UPSTREAM_RETRIES = Counter("lvrong_gateway_upstream_retries_total", "Safe requests retried on a fresh connection",
                           ["upstream"])

# RFC 9110 §7.6.1 hop-by-hop fields, plus those the gateway sets itself. ``expect`` too: the gateway
# has read nothing it would need a 100 Continue for.
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
               b"transfer-encoding", b"upgrade", b"host", b"x-request-id", b"traceparent", b"x-forwarded-for",
               b"x-forwarded-proto", b"x-forwarded-host", b"expect"}
_RESPONSE_SKIP = {b"connection", b"keep-alive", b"transfer-encoding", b"x-request-id", b"server", b"date"}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# An event stream silent for this long (no event, no heartbeat) has a stuck upstream: end it so the
# client reconnects. Upstreams send heartbeats well within it (svc-matters: every 15 s).
EVENT_STREAM_IDLE_SECONDS = 60.0


# Sent with every answer on a routed path, the service's or the gateway's own problem: an API response
# is data, never a page to render, frame or cache.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)
_SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


async def send_problem(send: Send, scope: Scope, problem: Problem) -> None:
    body = problem_body(problem, instance=scope["path"], request_id=current_request_id.get(),
                        english=prefers_english(header(scope, b"accept-language")))
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(raw)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()]
    headers += SECURITY_HEADERS
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class Upstream:
    """One service behind the gateway: where it is, its connections, its breaker and its time limit."""

    def __init__(self, name: str, base_url: str, *, pool_size: int, timeout_seconds: float,
                 breaker: CircuitBreaker) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream {name}: only http://host:port URLs are supported, got {base_url!r}")
        self.name = name
        self.base_path = parts.path.rstrip("/").encode()
        self.host_header = parts.netloc.encode()
        self.pool = UpstreamPool(parts.hostname, parts.port or 80, limit=pool_size)
        self.timeout_seconds = timeout_seconds
        self.breaker = breaker


class Proxy:
    def __init__(self, upstreams: dict[str, str], verifier: TokenVerifier, *, timeout_seconds: float,
                 connect_timeout_seconds: float, pool_size: int, max_body_bytes: int,
                 upstream_timeouts: dict[str, float] | None = None, breaker_failures: int = 5,
                 breaker_open_seconds: float = 5.0, retry_budget: RetryBudget | None = None,
                 scopes: ScopeTable | None = None) -> None:
        timeouts = upstream_timeouts or {}
        self.upstreams = {
            name: Upstream(name, url, pool_size=pool_size, timeout_seconds=timeouts.get(name, timeout_seconds),
                           breaker=CircuitBreaker(name, failures_to_open=breaker_failures,
                                                  open_seconds=breaker_open_seconds))
            for name, url in upstreams.items()
        }
        self.verifier = verifier
        # What each operation needs, from the services' declarations; None: the services alone check scopes.
        self.scopes = scopes
        self.timeout_seconds = timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self.max_body_bytes = max_body_bytes
        self.retry_budget = retry_budget or RetryBudget()
        self.deadlines = Deadlines()

    async def stop(self) -> None:
        self.deadlines.close()
        for upstream in self.upstreams.values():
            upstream.pool.close()

    def breaker_states(self) -> dict[str, str]:
        return {name: u.breaker.state for name, u in self.upstreams.items()}

    async def authenticate(self, route: Route, scope: Scope) -> Principal | Problem | None:
        """The caller's principal, a problem to answer with, or None on a public route (one that also
        serves token callers authenticates a request that carries a token)."""
        token = bearer_token(header(scope, b"authorization"))
        if route.public and (route.anonymous_rate_limit is None or token is None):
            return None
        if token is None:
            return Unauthorized(kit_messages.BEARER_REQUIRED)
        try:
            principal = await self.verifier.verify(token)
        except Problem as problem:
            return problem
        if self.scopes is not None:
            needed = await self.scopes.needed(route.upstream, scope["method"], scope["path"])
            if needed and not needed <= principal.scopes:
                return InsufficientScope(sorted(needed), sorted(needed - principal.scopes))
        return principal

    async def handle(self, route: Route, scope: Scope, receive: Receive, send: Send,
                     principal: Principal | None = None) -> None:
        declared = encoding = None
        for name, value in scope["headers"]:  # one pass for both
            if name == b"content-length" and declared is None:
                declared = value.decode("latin-1")
            elif name == b"transfer-encoding" and encoding is None:
                encoding = value
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_problem(send, scope, PayloadTooLarge(messages.BODY_TOO_LARGE.format(limit=self.max_body_bytes)))
            return
        chunked = declared is None and encoding is not None
        await self._forward(route, scope, receive, send, has_body=chunked or declared not in (None, "0"),
                            chunked=chunked)

    def _request_head(self, upstream: Upstream, scope: Scope, chunked: bool) -> bytes:
        headers: list[tuple[bytes, bytes]] = []
        forwarded_for = host = None
        for name, value in scope["headers"]:  # one pass: what is passed on, and what the gateway reads
            if name not in _HOP_BY_HOP:
                headers.append((name, value))
            elif name == b"host":
                host = host or value
            elif name == b"x-forwarded-for":
                forwarded_for = forwarded_for or value
        trace = current_trace.get()
        if trace is not None:
            headers.append((b"traceparent", outgoing_traceparent(trace).encode()))
        headers.append((b"x-request-id", (current_request_id.get() or "").encode()))
        client = scope.get("client")
        if client:
            address = client[0].encode()
            headers.append((b"x-forwarded-for", b"%b, %b" % (forwarded_for, address) if forwarded_for else address))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        if host:
            headers.append((b"x-forwarded-host", host))
        if chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        target = upstream.base_path + (scope.get("raw_path") or scope["path"].encode())
        query = scope.get("query_string")
        if query:
            target += b"?" + query
        return request_head(scope["method"], target, upstream.host_header, headers)

    async def _request_body(self, receive: Receive, outcome: dict[str, bool]) -> AsyncIterator[bytes]:
        """The client's body as it arrives; ``outcome`` records why it stopped early."""
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                outcome["client_gone"] = True
                raise ConnectionAbortedError("client went away")
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                outcome["too_large"] = True
                raise _BodyTooLarge
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                outcome["done"] = True
                return

    async def _exchange(self, upstream: Upstream, head: bytes, body: AsyncIterator[bytes] | None, chunked: bool,
                        method: str, attempts_made: int = 0) -> HopConnection:
        """Send the request and wait for the response head; a safe request that found its pooled
        connection closed, or could not connect, is retried once when the budget allows."""
        attempt = attempts_made
        while True:
            attempt += 1
            retry_allowed = body is None and method in _SAFE_METHODS and attempt == 1
            try:
                connection, reused = await upstream.pool.acquire(self.connect_timeout_seconds)
            except OSError:
                if retry_allowed and self.retry_budget.withdraw():
                    UPSTREAM_RETRIES.labels(upstream.name).inc()
                    await asyncio.sleep(random.uniform(0.01, 0.05))
                    continue
                raise
            try:
                await connection.send(head, body, chunked)
                await connection.response_head()
                return connection
            except UpstreamClosed as e:
                upstream.pool.release(connection)
                # A pooled connection the upstream had just closed: the request never reached it.
                if body is None and e.before_response and reused and attempt == 1:
                    continue
                if retry_allowed and e.before_response and self.retry_budget.withdraw():
                    UPSTREAM_RETRIES.labels(upstream.name).inc()
                    await asyncio.sleep(random.uniform(0.01, 0.05))
                    continue
                raise
            except BaseException:
                upstream.pool.release(connection)
                raise

    async def _exchange_now(self, upstream: Upstream, head: bytes, limit: float) -> tuple[HopConnection | None, int]:
        """The common case without a timer of its own: a request without a body on a pooled connection,
        its wait for the response head bounded by ``self.deadlines``. With no connection (none idle, or
        the pooled one was found closed before answering) ``_exchange`` does the rest, retries included;
        the attempts made here count towards them."""
        connection = await upstream.pool.idle_connection()
        if connection is None:
            return None, 0
        self.deadlines.watch(connection, connection.loop.time() + limit)
        try:
            await connection.send(head, None, False)
            await connection.response_head()
            return connection, 1
        except UpstreamClosed as e:
            upstream.pool.release(connection)
            if e.before_response:
                return None, 1  # it never reached the service: sent again, as ``_exchange`` does
            raise
        except BaseException:
            upstream.pool.release(connection)
            raise
        finally:
            self.deadlines.forget(connection)

    async def _forward(self, route: Route, scope: Scope, receive: Receive, send: Send, *, has_body: bool,
                       chunked: bool) -> None:
        upstream = self.upstreams[route.upstream]
        limit = route.timeout_seconds or upstream.timeout_seconds
        body_outcome: dict[str, bool] = {}
        body = self._request_body(receive, body_outcome) if has_body else None
        method = scope["method"]
        started = False
        connection: HopConnection | None = None
        try:
            upstream.breaker.before_call()
            self.retry_budget.deposit()
            head = self._request_head(upstream, scope, chunked)
            attempts_made = 0
            if body is None:
                connection, attempts_made = await self._exchange_now(upstream, head, limit)
            if connection is None:
                async with asyncio.timeout(limit):
                    connection = await self._exchange(upstream, head, body, chunked, method, attempts_made)
            response = await connection.response_head()
            upstream.breaker.record(success=response.status not in (502, 503, 504))
            headers = []
            present = set()
            for name, value in response.headers:  # one pass: what is passed on, and which names the service set
                name = name.lower()
                if name not in _RESPONSE_SKIP:
                    headers.append((name, value))
                    present.add(name)
            # A service's own choice (e.g. a download's nosniff) stands; the gateway fills in the rest.
            headers += SECURITY_HEADERS if present.isdisjoint(_SECURITY_NAMES) else \
                [h for h in SECURITY_HEADERS if h[0] not in present]
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            started = True
            if method == "HEAD":
                connection.expect_no_body()
                await send({"type": "http.response.body", "body": b""})
            elif (response.header(b"content-type") or b"").startswith(b"text/event-stream"):
                # The client's receive channel is free once its body is read: only then can it be watched.
                if not has_body or body_outcome.get("done"):
                    if not await self._pump_while_client_stays(connection, receive, send):
                        log.info("client_left_event_stream", upstream=route.upstream)
                        connection.close()
                        return
                else:
                    await self._pump(connection, send, max(EVENT_STREAM_IDLE_SECONDS, limit))
            else:
                await self._pump(connection, send, limit)
        except CircuitOpen as e:
            UPSTREAM_FAILURES.labels(route.upstream, "circuit_open").inc()
            await send_problem(send, scope, ServiceUnavailable(
                messages.UPSTREAM_UNAVAILABLE.format(upstream=route.upstream),
                headers={"Retry-After": str(max(1, round(e.retry_after)))}))
        except TimeoutError:
            UPSTREAM_FAILURES.labels(route.upstream, "timeout").inc()
            upstream.breaker.record(success=False)
            log.warning("upstream_timeout", upstream=route.upstream)
            if not started:
                await send_problem(send, scope, GatewayTimeout(messages.UPSTREAM_TIMED_OUT.format(upstream=route.upstream)))
        except OSError as e:  # refused, unreachable, reset; a closed exchange or a client gone are told apart
            if isinstance(e, UpstreamClosed | ConnectionAbortedError):
                await self._failed_exchange(route, scope, send, upstream, e, body_outcome, started)
                return
            UPSTREAM_FAILURES.labels(route.upstream, "unavailable").inc()
            upstream.breaker.record(success=False)
            log.warning("upstream_unavailable", upstream=route.upstream, error=type(e).__name__)
            if not started:
                await send_problem(send, scope, ServiceUnavailable(
                    messages.UPSTREAM_UNAVAILABLE.format(upstream=route.upstream), headers={"Retry-After": "5"}))
        except _BodyTooLarge as e:
            await self._failed_exchange(route, scope, send, upstream, e, body_outcome, started)
        finally:
            if connection is not None:
                upstream.pool.release(connection)

    async def _failed_exchange(self, route: Route, scope: Scope, send: Send, upstream: Upstream, error: Exception,
                               body_outcome: dict[str, bool], started: bool) -> None:
        if body_outcome.get("too_large"):
            if not started:
                await send_problem(send, scope, PayloadTooLarge(
                    messages.BODY_TOO_LARGE.format(limit=self.max_body_bytes)))
            return
        if body_outcome.get("client_gone"):
            log.info("client_disconnected", upstream=route.upstream)
            return
        UPSTREAM_FAILURES.labels(route.upstream, "error").inc()
        upstream.breaker.record(success=False)
        log.warning("upstream_error", upstream=route.upstream, error=type(error).__name__)
        if not started:
            await send_problem(send, scope, BadGateway(messages.UPSTREAM_FAILED.format(upstream=route.upstream)))

    @staticmethod
    async def _pump(connection: HopConnection, send: Send, read_limit: float) -> None:
        """Pass the upstream's body on as it arrives, its last piece ending the response; TimeoutError
        when one read waits past ``read_limit``.

        A piece already received is passed on without arming a timer, and the last one goes in the
        same message as the end: a small answer that arrived with its head costs one message.
        """
        while True:
            chunk = connection.read_nowait()
            if chunk is None:
                async with asyncio.timeout(read_limit):
                    chunk = await connection.read()
            more = bool(chunk) and not connection.body_read
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                return

    async def _pump_while_client_stays(self, connection: HopConnection, receive: Receive, send: Send) -> bool:
        """Pump a long-lived stream until it ends (True) or the client disconnects (False).

        The ASGI server drops what is sent to a client that left without telling the sender, so
        without watching ``receive`` an event stream would hold its upstream connection forever.
        """
        async def client_leaves() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        pump = asyncio.ensure_future(self._pump(connection, send, max(EVENT_STREAM_IDLE_SECONDS, self.timeout_seconds)))
        gone = asyncio.ensure_future(client_leaves())
        try:
            await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, gone):
                task.cancel()
            await asyncio.gather(pump, gone, return_exceptions=True)
        if pump.cancelled() or (gone.done() and not gone.cancelled()):
            return False
        pump.result()  # the upstream's own failure (timeout, connection error) goes to the usual handlers
        return True


class _BodyTooLarge(Exception):
    pass
