"""Real servers for every test: the configured PostgreSQL and NATS (``DATABASE_URL``, ``NATS_URL``),
or local ones started from the pip-installed binaries the same way ``make run`` does.

A server that cannot be reached fails the run at once; nothing is skipped.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from kit.devstack import LocalNats, LocalPostgres

ROOT = Path(__file__).resolve().parents[1]


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
