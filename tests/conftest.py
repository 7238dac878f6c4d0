"""Real servers for every test: the configured PostgreSQL and NATS (``DATABASE_URL``, ``NATS_URL``),
or local ones started from the pip-installed binaries the same way ``make run`` does.

A server that cannot be reached fails the run at once; nothing is skipped.
"""
from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import nats
import pytest

from kit.devstack import LocalNats, LocalPostgres

ROOT = Path(__file__).resolve().parents[1]
TEST_DATABASE_PREFIX = "lvrong_test"


@dataclass(frozen=True)
class Servers:
    database_url: str
    nats_url: str


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def servers() -> Servers:
    started: list[LocalPostgres | LocalNats] = []
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        postgres = LocalPostgres(ROOT / "var" / "test" / "postgres", port=54339)
        postgres.start()
        database_url = postgres.url
    nats_url = os.environ.get("NATS_URL")
    if not nats_url:
        local_nats = LocalNats(ROOT / "var" / "test" / "nats", port=42239)
        local_nats.start()
        started.append(local_nats)
        nats_url = local_nats.url
    for url, port, what in ((database_url, 5432, "PostgreSQL"), (nats_url, 4222, "NATS")):
        if not _reachable(url, port):
            pytest.exit(f"{what} at {url} is not reachable: the tests need a real server", returncode=3)
    yield Servers(database_url, nats_url)
    for server in started:
        server.stop()  # the local PostgreSQL is left running for the next test run; NATS is cheap to restart


async def recreate_database(database_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server; returns its asyncpg-style SQLAlchemy URL."""
    parsed = urlparse(database_url)
    conn = await asyncpg.connect(host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres",
                                 password=parsed.password, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    user = parsed.username or "postgres"
    auth = f"{user}:{parsed.password}@" if parsed.password else f"{user}@"
    return f"postgresql+asyncpg://{auth}{parsed.hostname}:{parsed.port or 5432}/{name}"


async def drop_test_streams(nats_url: str) -> None:
    """Remove the platform's JetStream streams so a test run starts with no events of an earlier run.

    The tests own the servers they are pointed at: never point them at a production NATS.
    """
    nc = await nats.connect(nats_url, connect_timeout=3)
    try:
        js = nc.jetstream()
        for name in await js.streams_info():
            if name.config.name.startswith("LVRONG_"):
                await js.delete_stream(name.config.name)
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def test_database_prefix() -> str:
    return TEST_DATABASE_PREFIX


def run(coro):  # noqa: ANN001, ANN201 - tiny sync bridge for session fixtures
    return asyncio.run(coro)
