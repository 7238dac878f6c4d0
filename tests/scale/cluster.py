"""A part of the platform — the gateway, svc-matters and svc-prequal, any number of replicas each —
on its own NATS server (and, when asked, its own PostgreSQL), for the scale-out and fault tests.

Its own servers on free ports: a test can stop and restart them, and no other suite's processes
share its streams or durable consumers. Replicas of a service are uvicorn workers behind one port
(``<SERVICE>_WORKERS``, see ``kit.devstack.service_command``): separate processes, each with its own
outbox relay, consumers and schedulers, sharing the service's database and durable consumers, the
kernel spreading connections between them.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from kit.devstack import LocalNats, LocalPostgres, Suite, free_port, http_ok, platform_environment, wait_for
from support import bearer, drop_databases, write_test_calendar

SERVICES = ("matters", "prequal")


@dataclass
class Cluster:
    prefix: str
    database_url: str | None = None  # None: a PostgreSQL of its own, which the test may stop and start
    replicas: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 1))
    services: tuple[str, ...] = SERVICES
    # Services whose databases live on a second PostgreSQL of the cluster's own (``isolated_postgres``,
    # ``<SERVICE>_DATABASE_URL``), which a test stops while the others' keeps running.
    isolated: tuple[str, ...] = ()
    isolated_postgres: LocalPostgres | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    nats: LocalNats | None = None
    postgres: LocalPostgres | None = None
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    suite: Suite | None = None
    var: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lvrong-cluster-")))

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def start(self) -> Cluster:
        self.nats = LocalNats(self.var / "nats", port=free_port(), monitor_port=free_port())
        self.nats.start()
        if self.database_url is None:
            # A throwaway cluster measured for scale, not durability (see the module's docstring).
            self.postgres = LocalPostgres(self.var / "postgres", port=free_port(), fsync=False)
            self.postgres.start()
            self.database_url = self.postgres.url
        if self.isolated:
            self.isolated_postgres = LocalPostgres(self.var / "postgres-isolated", port=free_port())
            self.isolated_postgres.start()
        for service in self.services:
            asyncio.run(drop_databases(self.server_of(service), [f"{self.prefix}_{service}"]))
        self.ports = {"gateway": free_port(), **{s: free_port() for s in self.services}}
        env = platform_environment(self.database_url, self.nats.url, ports=self.ports,
                                   nats_credentials_dir=self.nats.credentials_dir)
        env.update(DATABASE_NAME_PREFIX=self.prefix, GATEWAY_DEV_ISSUER_KEY_DIR=str(self.var / "dev-issuer"),
                   LOG_LEVEL="WARNING", CALENDAR_DIR=str(write_test_calendar(self.var / "calendar")["directory"]))
        env.update({f"{s.upper()}_WORKERS": str(n) for s, n in self.replicas.items()})
        # A cluster's own PostgreSQL is its alone; one shared with the other tests (100 connections for both
        # sessions' suites) gets small pools.
        pool = "2" if self.postgres is None else "6"
        env.update({f"{s.upper()}_DATABASE_POOL_SIZE": pool for s in self.services})
        env.update({f"{s.upper()}_DATABASE_URL": self.server_of(s) for s in self.isolated})
        env.update(self.extra_env)
        self.env = env
        subprocess.run([sys.executable, "-m", "kit.migrations", *self.services], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.suite = Suite(env, ports=self.ports, log_dir=self.var)
        try:
            self.suite.start(timeout=90)
            self.wait_ready()
        except Exception:
            self.stop()
            raise
        return self

    @contextlib.contextmanager
    def running(self) -> Iterator[Cluster]:
        """Started for the block (a failure to start fails the test with the processes' logs), then stopped."""
        import pytest

        try:
            self.start()
        except Exception:
            pytest.fail(f"the cluster did not start:\n{self.logs()}")
        try:
            yield self
        finally:
            self.stop()

    def server_of(self, service: str) -> str:
        """The URL of the PostgreSQL server holding ``service``'s database."""
        if service in self.isolated:
            assert self.isolated_postgres is not None
            return self.isolated_postgres.url
        assert self.database_url is not None
        return self.database_url

    def wait_ready(self, timeout: float = 60) -> None:
        for service in self.services:
            wait_for(lambda s=service: http_ok(f"http://127.0.0.1:{self.ports[s]}/readyz"), timeout, service)

    def stop(self) -> None:
        if self.suite is not None:
            self.suite.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self.isolated_postgres is not None:
            self.isolated_postgres.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.var.glob("*.log"))

    async def db(self, service: str) -> asyncpg.Connection:
        url = make_url(self.server_of(service))
        return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                     password=url.password, database=f"{self.prefix}_{service}")

    async def sql(self, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await self.db(service)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    def nats_clients(self, name: str) -> list[dict[str, Any]]:
        """The server's view of the open connections named ``name`` (one per replica process)."""
        assert self.nats is not None and self.nats.monitor_port
        url = f"http://127.0.0.1:{self.nats.monitor_port}/connz?subs=1&limit=1000"
        with urllib.request.urlopen(url, timeout=5) as r:  # loopback only
            connections = json.load(r)["connections"]
        return [c for c in connections if c.get("name") == name]

    async def replica_metrics(self, service: str, name: str, *, replicas: int, attempts: int = 30,
                              ) -> dict[Any, dict[tuple[tuple[str, str], ...], float]]:
        """The samples of the Prometheus metric ``name`` of each replica process of ``service``.

        Replicas share one listening socket and an idle one may win every accept, so connections are
        opened many at once: ask until ``replicas`` different processes have answered. Processes are
        told apart by their start time and their own values of ``name`` (workers started in the same
        clock tick share a start time): call it once the cluster is idle, so those values stand still."""
        from prometheus_client.parser import text_string_to_metric_families

        found: dict[Any, dict[tuple[tuple[str, str], ...], float]] = {}

        async def ask(client: httpx.AsyncClient) -> None:
            text = (await client.get(f"http://127.0.0.1:{self.ports[service]}/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            started = families["process_start_time_seconds"].samples[0].value
            samples = {tuple(sorted(s.labels.items())): s.value for f in families.values()
                       for s in f.samples if s.name == name}
            found[(started, tuple(sorted(samples.items())))] = samples

        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            for _ in range(attempts):
                await asyncio.gather(*(ask(client) for _ in range(16)))
                if len(found) >= replicas:
                    break
        return found

    async def token(self, client: httpx.AsyncClient, username: str) -> str:
        r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": "demo"})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


async def submit_many(client: httpx.AsyncClient, token: str, body_of: Any, count: int, *,
                      concurrency: int = 32, retry_seconds: float = 0.0) -> tuple[list[str], list[int]]:
    """POST ``count`` applications (``body_of(i)``), ``concurrency`` at a time, each with its own
    Idempotency-Key; returns the ids created and every status code answered. With ``retry_seconds``
    a refused attempt is retried with the same key until then (as a front-end would)."""
    ids: list[str | None] = [None] * count
    statuses: list[int] = []
    next_index = iter(range(count))

    async def worker() -> None:
        for i in next_index:
            key = f"{os.getpid()}-{time.monotonic_ns()}-{i}"
            deadline = time.monotonic() + retry_seconds
            while True:
                try:
                    r = await client.post("/v1/applications", json=body_of(i),
                                          headers={**bearer(token), "Idempotency-Key": key})
                    statuses.append(r.status_code)
                except httpx.TransportError:
                    statuses.append(0)
                    r = None
                if r is not None and r.status_code == 201:
                    ids[i] = r.json()["id"]
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [i for i in ids if i is not None], statuses


async def wait_until(check: Any, *, within: float, what: str, interval: float = 0.25) -> None:
    """Poll ``check`` until it returns True; anything else it returns says how far it got."""
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last is True:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {within:.0f} s (last: {last!r})")
