"""Real servers for every test: the configured PostgreSQL and NATS (``DATABASE_URL``, ``NATS_URL`` with
``NATS_CREDENTIALS_DIR``), or local ones started from the pip-installed binaries the same way ``make run``
does — the local NATS with authentication and the platform's permissions (kit.natsauth).

A server that cannot be reached fails the run at once; nothing is skipped.
"""
from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from kit.devstack import Servers, free_port

ROOT = Path(__file__).resolve().parents[1]

# One test session runs several suites of the platform at once on one PostgreSQL (the integration
# suite lives for the whole session while the calendar-boundary, production, fault and scale suites
# start their own), and CI's server allows 100 connections: each service process pools 6 here instead
# of production's 20, unless the environment says otherwise. Every suite inherits it (platform_environment).
# `make test` runs two sessions at once (tests/run_sessions.py: the integration suite with the browser in
# one, everything else in the other), so each process pools 4 on a server of 100 connections.
SESSION = os.environ.get("LVRONG_TEST_SESSION", "")
for _service in ("gateway", "matters", "prequal", "licences", "helpdesk", "knowledge", "notifications", "booking"):
    os.environ.setdefault(f"{_service.upper()}_DATABASE_POOL_SIZE", "4" if SESSION else "6")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def servers() -> Servers:
    # NATS: unless NATS_URL is set (then with the seeds in NATS_CREDENTIALS_DIR, if any), the suite's own
    # server on a free port with the platform's generated identities and permissions, as in production.
    # fsync off for the tests' own local PostgreSQL only: its databases are dropped and recreated by every
    # run, so a crash loses nothing worth keeping, and the suite runs faster (`make run` keeps fsync on).
    try:
        # Each session its own local servers (data directory and PostgreSQL port), when they are local.
        found = Servers.configured_or_local(ROOT / "var" / (f"test-{SESSION}" if SESSION else "test"),
                                            postgres_port=54339 + (SESSION == "others"), nats_port=free_port(),
                                            durable=False)
    except Exception as e:  # said once, plainly, instead of an error in every test
        pytest.exit(f"the test servers could not be started: {type(e).__name__}: {e}", returncode=3)
    for url, port, what in ((found.database_url, 5432, "PostgreSQL"), (found.nats_url, 4222, "NATS")):
        if not _reachable(url, port):
            found.stop()
            pytest.exit(f"{what} at {url} is not reachable: the tests need a real server", returncode=3)
    yield found
    found.stop()  # local servers keep their data under var/test/, so the next run starts in about a second


@pytest.fixture(scope="module")
def own_nats(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A NATS of the test module's own (``support.own_local_nats``: the platform's identities and permissions),
    for tests that age or read back streams no other module may see. tests/faults has a session-wide one."""
    from support import own_local_nats

    with own_local_nats(request.module.__name__.rsplit(".", 1)[-1]) as server:
        yield server


@pytest.fixture
async def js(own_nats: Any) -> AsyncIterator[Any]:
    """The test's own admin JetStream connection to ``own_nats``, to change streams and read them back
    (tests/kit has its own ``js``, on the suite's NATS)."""
    from support import admin_jetstream

    async with admin_jetstream(own_nats) as connection:
        yield connection
