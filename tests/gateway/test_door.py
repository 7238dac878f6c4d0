"""What the gateway decides at the door, against real stand-in upstreams on loopback: scopes per route,
rate limits (also shared by two replicas through PostgreSQL), circuit breakers, retries of safe
requests only, security headers, CORS, and the routing table in the docs."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiohttp import web
from gateway_support import running_gateway, running_upstream
from scope_support import declared_document, service_apps

from gateway.ratelimit import RateLimit, RateLimiter
from gateway.resilience import CircuitBreaker, CircuitOpen, RetryBudget
from kit.devstack import free_port
from support import bearer, scratch_service_database, until


def counting_upstream(seen: list[str], declared: dict | None = None) -> web.Application:
    """Answers every path with a small JSON document and records the paths that reached it; its
    ``/openapi.json`` is every real service's (``declared``), whose scopes the gateway enforces."""
    async def anything(request: web.Request) -> web.Response:
        if request.path == "/openapi.json":  # the gateway reading the declarations, not a client's request
            return web.json_response(declared) if declared is not None else web.json_response({}, status=404)
        seen.append(f"{request.method} {request.path}")
        if request.path.endswith("/drop-first") and seen.count(f"{request.method} {request.path}") == 1:
            request.transport.close()  # the connection dies before any answer
            raise ConnectionResetError
        body = await request.read()
        return web.json_response({"path": request.path, "length": len(body)})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    return app


async def token_for(client: httpx.AsyncClient, **form: str) -> str:
    r = await client.post("/auth/token", data=form)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def declared(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return declared_document(service_apps(tmp_path_factory.mktemp("licence-keys")))


@pytest.fixture(scope="module")
async def door(tmp_path_factory: pytest.TempPathFactory, declared: dict) -> AsyncIterator[dict]:
    seen: list[str] = []
    async with running_upstream(counting_upstream(seen, declared)) as upstream_url, running_gateway(
        tmp_path_factory.mktemp("issuer"), upstream_matters_url=upstream_url, upstream_prequal_url=upstream_url,
        upstream_licences_url=upstream_url, upstream_helpdesk_url=upstream_url, upstream_knowledge_url=upstream_url,
        rate_limits={"/v1/stalls": {"per_client": 5, "per_ip": 8, "window_seconds": 60},
                     "/v1/verifications": {"anonymous_per_ip": 3}},
        cors_origins=["https://www.example.gov.cn"], trusted_proxies="10.0.0.0/8 127.0.0.1/32",
    ) as gateway_url:
        async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
            tokens = {
                "applicant": await token_for(client, grant_type="password", username="applicant-person", password="demo"),
                "ops": await token_for(client, grant_type="password", username="ops", password="demo"),
                "inspector": await token_for(client, grant_type="password", username="inspector", password="demo"),
                "partner": await token_for(client, grant_type="client_credentials", client_id="partner-js",
                                           client_secret="demo"),
                # Down-scoped: the same people, tokens issued for less than their roles allow.
                "applicant-read": await token_for(client, grant_type="password", username="applicant-person",
                                                  password="demo", scope="applications:read"),
                "ops-read": await token_for(client, grant_type="password", username="ops", password="demo",
                                            scope="matters:read"),
            }
            yield {"client": client, "seen": seen, "tokens": tokens, "url": gateway_url}


async def test_a_token_without_the_routes_scope_is_refused_before_the_service(door) -> None:
    client, seen, tokens = door["client"], door["seen"], door["tokens"]
    seen.clear()
    r = await client.get("/v1/applications/some-id", headers=bearer(tokens["partner"]))
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["required_scopes"] == ["applications:read"] and seen == []
    allowed = await client.get("/v1/applications/some-id", headers=bearer(tokens["applicant"]))
    assert allowed.status_code == 200 and seen == ["GET /v1/applications/some-id"]


@pytest.mark.parametrize("path", ["/v1/tickets", "/v1/knowledge/entries", "/v1/audit/matters/verify", "/v1/cockpit",
                                  "/v1/prequal/rulesets", "/v1/ops/matters/deadletters"])
async def test_partner_systems_are_kept_out_of_peoples_and_staff_routes(door, path: str) -> None:
    door["seen"].clear()
    r = await door["client"].get(path, headers=bearer(door["tokens"]["partner"]))
    assert r.status_code == 403 and r.json()["required_scopes"] and door["seen"] == []


@pytest.mark.parametrize(("method", "path", "missing"), [
    ("POST", "/v1/applications/a-1/actions/withdraw", "applications:write"),
    ("POST", "/v1/applications", "applications:write"),
    ("POST", "/v1/materials", "applications:write"),
    ("POST", "/v1/prequal/prefill", "applications:write"),
    ("POST", "/v1/licences/l-1/presentations", "licences:write"),
    ("POST", "/v1/tickets", "helpdesk:write"),
])
async def test_a_down_scoped_token_is_refused_its_writes_at_the_door_with_the_exact_scope(
        door, method: str, path: str, missing: str) -> None:
    door["seen"].clear()
    r = await door["client"].request(method, path, json={}, headers=bearer(door["tokens"]["applicant-read"]))
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["missing_scopes"] == [missing] and body["title_zh"] and body["title_en"] == "Insufficient scope"
    assert door["seen"] == []


async def test_the_gateway_checks_the_operations_own_scope_not_any_of_the_prefix(door) -> None:
    client, seen, tokens = door["client"], door["seen"], door["tokens"]
    seen.clear()
    # The read the token was issued for goes through; the action right beside it does not.
    assert (await client.get("/v1/applications/a-1", headers=bearer(tokens["applicant-read"]))).status_code == 200
    # The applicant may withdraw, but an officer's action needs the officer's scope.
    r = await client.post("/v1/applications/a-1/actions/accept", headers=bearer(tokens["applicant"]))
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["applications:accept"]
    assert (await client.post("/v1/applications/a-1/actions/withdraw", headers=bearer(tokens["applicant"]))).status_code == 200
    # An ops token issued for reading the catalogue reads it, and cannot import into it.
    assert (await client.get("/v1/matters/LR-XK-008", headers=bearer(tokens["ops-read"]))).status_code == 200
    r = await client.post("/v1/matters/import", json={}, headers=bearer(tokens["ops-read"]))
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["matters:admin"]
    assert seen == ["GET /v1/applications/a-1", "POST /v1/applications/a-1/actions/withdraw", "GET /v1/matters/LR-XK-008"]
    # Public routes stay public.
    assert (await client.get("/v1/trust-list")).status_code == 200


@pytest.mark.parametrize("path", ["/v1/verifications", "/v1/licences/some-id", "/v1/recognitions"])
async def test_partner_systems_reach_verification_and_granted_licences(door, path: str) -> None:
    door["seen"].clear()
    r = await door["client"].get(path, headers=bearer(door["tokens"]["partner"]))
    assert r.status_code == 200 and door["seen"] == [f"GET {path}"]


async def test_rate_limit_per_caller_then_per_address_answers_429_with_retry_after(door) -> None:
    client, seen, tokens = door["client"], door["seen"], door["tokens"]
    seen.clear()
    statuses = [(await client.get("/v1/stalls", headers=bearer(tokens["ops"]))).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2 and len(seen) == 5
    refused = await client.get("/v1/stalls", headers=bearer(tokens["ops"]))
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60 and refused.json()["limit"] == "client"
    # Another caller from the same address: the address has 3 of its 8 left.
    others = [(await client.get("/v1/stalls", headers=bearer(tokens["inspector"]))).status_code for _ in range(4)]
    assert others == [200, 200, 200, 429] and len(seen) == 8
    # Other routes have their own counters.
    assert (await client.get("/v1/matters", headers=bearer(tokens["ops"]))).status_code == 200


async def test_anyone_may_verify_a_presentation_limited_per_address_token_callers_as_ever(door) -> None:
    client, seen, tokens = door["client"], door["seen"], door["tokens"]
    seen.clear()
    statuses = [(await client.post("/v1/verifications", json={})).status_code for _ in range(5)]
    assert statuses == [200] * 3 + [429] * 2 and seen == ["POST /v1/verifications"] * 3
    refused = await client.post("/v1/verifications", json={})
    assert refused.json()["limit"] == "ip" and int(refused.headers["retry-after"]) >= 1
    # A caller with a token from the same address is authenticated and counted as on any route.
    assert (await client.post("/v1/verifications", json={}, headers=bearer(tokens["partner"]))).status_code == 200
    assert (await client.post("/v1/verifications", json={}, headers=bearer("not-a-token"))).status_code == 401
    # Redeeming a 亮数 handle still needs a verifier's token; the routing table shows both limits.
    assert (await client.post("/v1/verifications/data/abcdefghijkl")).status_code == 401
    assert (await client.post("/v1/verifications/data/abcdefghijkl", headers=bearer(tokens["applicant"]))).status_code == 403
    rows = {r["prefix"]: r for r in (await client.get("/v1/gateway/routes")).json()}
    assert rows["/v1/verifications"]["public"] and rows["/v1/verifications"]["anonymous_rate_limit"]["per_ip"] == 3
    assert not rows["/v1/verifications/data"]["public"] and "anonymous_rate_limit" not in rows["/v1/verifications/data"]
    assert len(seen) == 4


async def test_proxied_answers_carry_security_headers_and_cors_only_for_known_origins(door) -> None:
    client, tokens = door["client"], door["tokens"]
    r = await client.get("/v1/matters/x", headers={**bearer(tokens["applicant"]), "Origin": "https://www.example.gov.cn"})
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["access-control-allow-origin"] == "https://www.example.gov.cn"
    preflight = await client.options("/v1/matters/x", headers={
        "Origin": "https://www.example.gov.cn", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200 and "POST" in preflight.headers["access-control-allow-methods"]
    stranger = await client.get("/v1/matters/x", headers={**bearer(tokens["applicant"]), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers
    refused = await client.get("/v1/matters/x")  # the gateway's own answer, before any service
    assert refused.status_code == 401 and refused.headers["x-frame-options"] == "DENY"
    assert refused.headers["content-type"] == "application/problem+json"


async def test_head_requests_and_chunked_uploads_pass_through(door) -> None:
    client, tokens = door["client"], door["tokens"]
    head = await client.head("/v1/matters/x", headers=bearer(tokens["applicant"]))
    assert head.status_code == 200 and head.content == b""

    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"y" * 70_000

    upload = await client.post("/v1/matters/x", content=pieces(), headers=bearer(tokens["applicant"]))
    assert upload.status_code == 200 and upload.json()["length"] == 210_000
    # the connection used after HEAD still works
    assert (await client.get("/v1/matters/y", headers=bearer(tokens["applicant"]))).json()["path"] == "/v1/matters/y"


async def test_a_safe_request_is_retried_once_when_the_connection_dies_but_a_post_is_not(door) -> None:
    client, seen, tokens = door["client"], door["seen"], door["tokens"]
    seen.clear()
    r = await client.get("/v1/matters/retry/drop-first", headers=bearer(tokens["applicant"]))
    assert r.status_code == 200 and seen.count("GET /v1/matters/retry/drop-first") == 2
    post = await client.post("/v1/matters/once/drop-first", json={}, headers=bearer(tokens["applicant"]))
    assert post.status_code == 502 and seen.count("POST /v1/matters/once/drop-first") == 1


async def test_routing_table_with_scopes_and_limits_is_published(door) -> None:
    routes = (await door["client"].get("/v1/gateway/routes")).json()
    by_prefix = {r["prefix"]: r for r in routes}
    assert by_prefix["/v1/applications"]["service"] == "matters"
    assert "applications:write" in by_prefix["/v1/applications"]["scopes"]
    assert by_prefix["/v1/stalls"]["rate_limit"] == {"per_client": 5, "per_ip": 8, "window_seconds": 60}


async def test_circuit_opens_on_repeated_failures_answers_fast_and_closes_when_the_service_returns(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    down_port = free_port()
    async with running_gateway(tmp_path_factory.mktemp("issuer"), upstream_matters_url=f"http://127.0.0.1:{down_port}",
                               breaker_failures=3, breaker_open_seconds=0.5) as gateway_url:
        async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
            token = await token_for(client, grant_type="password", username="applicant-person", password="demo")
            for _ in range(3):
                r = await client.post("/v1/matters/x", json={}, headers=bearer(token))
                assert r.status_code == 503
            started = time.monotonic()
            fast = await client.post("/v1/matters/x", json={}, headers=bearer(token))
            assert fast.status_code == 503 and time.monotonic() - started < 0.1 and "retry-after" in fast.headers
            ready = await client.get("/readyz")
            assert ready.json()["circuits"]["matters"] == "open"
            metrics = (await client.get("/metrics")).text
            assert 'lvrong_gateway_circuit_state{upstream="matters"} 2.0' in metrics

            seen: list[str] = []
            async with running_upstream(counting_upstream(seen), port=down_port):
                await asyncio.sleep(0.7)  # past the open period (0.5 s and up to 20% jitter)
                probe = await client.post("/v1/matters/x", json={}, headers=bearer(token))
                assert probe.status_code == 200 and seen == ["POST /v1/matters/x"]
                assert (await client.get("/readyz")).json()["circuits"]["matters"] == "closed"


async def test_two_gateway_replicas_share_one_limit_through_the_database(servers, tmp_path_factory) -> None:
    seen: list[str] = []
    key_dir: Path = tmp_path_factory.mktemp("issuer")
    limits = {"/v1/cockpit": {"per_client": 10, "per_ip": 1000, "window_seconds": 60}}
    async with scratch_service_database(servers.database_url, "gateway", "lvrong_gwtest") as database:
        common = dict(database_url=servers.database_url, database_name_prefix="lvrong_gwtest", rate_limit_store="database",
                      rate_limit_sync_seconds=0.05, rate_limits=limits, auth_issuer="http://lvrong-test-issuer")
        async with running_upstream(counting_upstream(seen)) as upstream_url, \
                running_gateway(key_dir, upstream_matters_url=upstream_url, **common) as first, \
                running_gateway(key_dir, upstream_matters_url=upstream_url, **common) as second:
            async with httpx.AsyncClient(base_url=first, timeout=10) as a, httpx.AsyncClient(base_url=second, timeout=10) as b:
                token = await token_for(a, grant_type="password", username="ops", password="demo")

                async def store_connected(replica: httpx.AsyncClient) -> bool:
                    return bool((await replica.get("/readyz")).json().get("rate_limits") == "shared")

                # Both replicas have synced once (on a loaded machine their first connection takes a while).
                for replica in (a, b):
                    await until(lambda replica=replica: store_connected(replica), "the replica's shared rate limits")
                seen.clear()  # the readiness checks reached the upstream too
                first_six = [(await a.get("/v1/cockpit", headers=bearer(token))).status_code for _ in range(6)]
                await asyncio.sleep(0.4)  # both replicas sync their counts
                from_second = []
                for _ in range(6):  # interleaved with the syncs, as a load balancer spreads one caller's calls
                    from_second.append((await b.get("/v1/cockpit", headers=bearer(token))).status_code)
                    await asyncio.sleep(0.12)
                assert first_six == [200] * 6 and from_second == [200] * 4 + [429] * 2 and len(seen) == 10
                await asyncio.sleep(0.4)
                assert (await a.get("/v1/cockpit", headers=bearer(token))).status_code == 429
                ready = (await a.get("/readyz")).json()
                assert ready["rate_limits"] == "shared"
        url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(url)
        try:
            stored = await connection.fetch("SELECT key, count FROM gateway_rate_counters")
        finally:
            await connection.close()
        # Both replicas' counts add up in one row per key (the caller's 10 on this route, the address's 10 on
        # it, the address's 1 on the token endpoint); keys are digests, not subjects or addresses.
        assert sorted(r["count"] for r in stored) == [1, 10, 10]
        assert not any("u-ops" in r["key"] or "127.0.0.1" in r["key"] for r in stored)


async def test_token_endpoint_is_limited_per_address(tmp_path_factory: pytest.TempPathFactory) -> None:
    async with running_gateway(tmp_path_factory.mktemp("issuer")) as gateway_url:
        async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
            form = {"grant_type": "password", "username": "applicant-person", "password": "wrong"}
            statuses = [(await client.post("/auth/token", data=form)).status_code for _ in range(31)]
            assert statuses[:30] == [400] * 30 and statuses[30] == 429


def test_sliding_window_counts_the_overlap_of_the_previous_window() -> None:
    now = [1_000_000.0 - 1_000_000.0 % 60]  # the start of a window
    limiter = RateLimiter(None, clock=lambda: now[0])
    limit = RateLimit(per_client=10, window_seconds=60)
    assert all(limiter.check("r", limit, "c", None).allowed for _ in range(10))
    assert not limiter.check("r", limit, "c", None).allowed
    now[0] += 60 + 15  # a quarter into the next window: 75% of the previous 10 still count
    assert [limiter.check("r", limit, "c", None).allowed for _ in range(4)] == [True, True, True, False]
    now[0] += 45 + 60  # two windows on: nothing counts any more
    assert all(limiter.check("r", limit, "c", None).allowed for _ in range(10))


def test_breaker_half_open_lets_one_probe_through_and_reopens_on_its_failure() -> None:
    now = [0.0]
    breaker = CircuitBreaker("svc", failures_to_open=2, open_seconds=1.0, clock=lambda: now[0])
    breaker.record(success=False)
    breaker.before_call()  # one failure: still closed
    breaker.record(success=False)
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    now[0] = 1.3
    breaker.before_call()  # the probe
    assert breaker.state == "half_open"
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # only one probe at a time
    breaker.record(success=False)
    assert breaker.state == "open"
    now[0] = 2.7
    breaker.before_call()
    breaker.record(success=True)
    assert breaker.state == "closed"


def test_retry_budget_is_a_share_of_requests_plus_a_floor() -> None:
    now = [0.0]
    budget = RetryBudget(ratio=0.5, floor_per_second=1.0, cap=2.0, clock=lambda: now[0])
    assert budget.withdraw() and budget.withdraw() and not budget.withdraw()
    budget.deposit()
    budget.deposit()  # two requests earn one retry
    assert budget.withdraw() and not budget.withdraw()
    now[0] = 1.0  # a second later the floor gives one more
    assert budget.withdraw() and not budget.withdraw()


async def test_a_body_delimited_by_the_connection_closing_arrives_whole(tmp_path_factory: pytest.TempPathFactory) -> None:
    """An HTTP/1.0-style upstream: no Content-Length, no chunking, the body ends when it closes."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n" + b"z" * 100_000)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running_gateway(tmp_path_factory.mktemp("issuer"),
                                   upstream_matters_url=f"http://127.0.0.1:{port}") as gateway_url:
            async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
                token = await token_for(client, grant_type="password", username="applicant-person", password="demo")
                r = await client.get("/v1/matters/legacy", headers=bearer(token))
                assert r.status_code == 200 and r.content == b"z" * 100_000
    finally:
        server.close()
        await server.wait_closed()
