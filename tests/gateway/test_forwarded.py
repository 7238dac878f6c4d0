"""Rate limits count the client behind trusted proxies: Forwarded / X-Forwarded-For are believed only
from a configured trusted proxy, walked from the right; from anyone else they change nothing."""
from __future__ import annotations

import httpx
import pytest
from aiohttp import web
from gateway_support import running_gateway, running_upstream

from gateway.forwarded import client_address, parse_networks
from gateway.settings import Settings
from support import bearer

TRUSTED = parse_networks("10.0.0.0/8, 192.168.7.1 fd00::/8")


def headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in pairs]


@pytest.mark.parametrize(("peer", "sent", "client"), [
    # From a trusted proxy: the rightmost address that is not a trusted hop.
    ("10.1.2.3", headers(("X-Forwarded-For", "203.0.113.9")), "203.0.113.9"),
    ("10.1.2.3", headers(("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.9.9.9")), "203.0.113.9"),
    ("10.1.2.3", headers(("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.9")), "203.0.113.9"),
    ("192.168.7.1", headers(("Forwarded", 'for=198.51.100.1, for="[2001:db8:cafe::17]:4711";proto=https')),
     "2001:db8:cafe::17"),
    ("10.1.2.3", headers(("Forwarded", "for=203.0.113.9:8080;by=10.1.2.3")), "203.0.113.9"),
    # Forwarded wins over X-Forwarded-For when a proxy wrote both.
    ("10.1.2.3", headers(("X-Forwarded-For", "198.51.100.1"), ("Forwarded", "for=203.0.113.9")), "203.0.113.9"),
    # A hop that cannot be read ("unknown", obfuscated): the trusted proxy that forwarded it is counted.
    ("10.1.2.3", headers(("Forwarded", "for=unknown")), "10.1.2.3"),
    ("10.1.2.3", headers(("X-Forwarded-For", "203.0.113.9, _hidden, 10.0.0.5")), "10.0.0.5"),
    # Only trusted hops (an internal caller): the leftmost.
    ("10.1.2.3", headers(("X-Forwarded-For", "10.0.0.7")), "10.0.0.7"),
    ("10.1.2.3", [], "10.1.2.3"),
    # From a peer that is not a trusted proxy the headers are ignored: spoofing changes nothing.
    ("198.51.100.77", headers(("X-Forwarded-For", "203.0.113.9")), "198.51.100.77"),
    ("198.51.100.77", headers(("Forwarded", "for=203.0.113.9")), "198.51.100.77"),
    ("fd00::1", headers(("X-Forwarded-For", "2001:db8::5")), "2001:db8::5"),
])
def test_the_client_address_is_taken_from_trusted_hops_only(peer: str, sent: list, client: str) -> None:
    assert client_address(peer, sent, TRUSTED) == client


def test_without_trusted_proxies_the_peer_counts_whatever_the_headers_say() -> None:
    assert client_address("10.1.2.3", headers(("X-Forwarded-For", "203.0.113.9")), ()) == "10.1.2.3"


def test_a_mistyped_trusted_proxy_stops_the_gateway_from_starting() -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(trusted_proxies="10.0.0.0/8, 10.300.0.0/16")


def test_the_production_profile_refuses_per_replica_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVRONG_PROFILE", "production")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    url = "postgresql://lvrong@pg.example.internal:5432/postgres"
    with pytest.raises(ValueError, match="GATEWAY_RATE_LIMIT_STORE"):
        Settings(rate_limit_store="local", database_url=url)
    with pytest.raises(ValueError, match="DATABASE_URL"):
        Settings()  # no database configured: the limits would silently be per replica
    monkeypatch.setenv("DATABASE_URL", url)
    assert Settings().rate_limit_dsn.startswith("postgresql://lvrong@pg.example.internal")
    monkeypatch.delenv("LVRONG_PROFILE")
    assert Settings(rate_limit_store="local").rate_limit_dsn is None  # development: per process is fine


def ok_upstream() -> web.Application:
    async def anything(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    return app


async def statuses(client: httpx.AsyncClient, token: str, forwarded_for: list[str]) -> list[int]:
    return [(await client.get("/v1/cockpit", headers={**bearer(token), "X-Forwarded-For": value})).status_code
            for value in forwarded_for]


@pytest.mark.parametrize("trusted", ["127.0.0.1/32", "10.0.0.0/8"])
async def test_per_address_limits_count_the_forwarded_client_only_behind_a_trusted_proxy(
        tmp_path_factory: pytest.TempPathFactory, trusted: str) -> None:
    limits = {"/v1/cockpit": {"per_client": 1000, "per_ip": 2, "window_seconds": 60}}
    async with running_upstream(ok_upstream()) as upstream, running_gateway(
            tmp_path_factory.mktemp("issuer"), upstream_matters_url=upstream, rate_limits=limits,
            trusted_proxies=trusted) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            token = (await client.post("/auth/token", data={"grant_type": "password", "username": "ops",
                                                            "password": "demo"})).json()["access_token"]
            if trusted == "127.0.0.1/32":  # the test client is the ingress: each forwarded client has its own count
                assert await statuses(client, token, ["203.0.113.1", "203.0.113.1", "203.0.113.1"]) == [200, 200, 429]
                assert await statuses(client, token, ["203.0.113.2"]) == [200]
                # A client writing its own X-Forwarded-For before the ingress appends the real one gains nothing.
                assert await statuses(client, token, ["198.51.100.9, 203.0.113.1"]) == [429]
            else:  # the test client is not a trusted proxy: its made-up addresses all count as its own
                assert await statuses(client, token, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [200, 200, 429]
