"""Real servers for every test: the configured PostgreSQL and NATS (``DATABASE_URL``, ``NATS_URL``),
or local ones started from the pip-installed binaries the same way ``make run`` does.

A server that cannot be reached fails the run at once; nothing is skipped.
"""
from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

from kit.devstack import Servers

ROOT = Path(__file__).resolve().parents[1]


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def servers() -> Servers:
    # fsync off for the tests' own local server only: its databases are dropped and recreated by every
    # run, so a crash loses nothing worth keeping, and the suite runs faster (`make run` keeps fsync on).
    found = Servers.configured_or_local(ROOT / "var" / "test", postgres_port=54339, nats_port=42239, durable=False)
    for url, port, what in ((found.database_url, 5432, "PostgreSQL"), (found.nats_url, 4222, "NATS")):
        if not _reachable(url, port):
            found.stop()
            pytest.exit(f"{what} at {url} is not reachable: the tests need a real server", returncode=3)
    yield found
    found.stop()  # local servers keep their data under var/test/, so the next run starts in about a second
