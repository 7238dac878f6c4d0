"""Fault tests start their own servers on free ports so that they can stop, kill and restart them,
and so that a shared server's capacity (its connections) is not what they measure; the shared
PostgreSQL and NATS of the other tests are never touched."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.devstack import LocalNats, LocalPostgres, free_port
from support import own_local_nats

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_faults"


@pytest.fixture(scope="session")
def own_nats() -> Iterator[LocalNats]:
    with own_local_nats("faults") as server:
        yield server


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres(Path(tempfile.mkdtemp(prefix="lvrong-faults-postgres-")), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_prefix() -> str:
    return PREFIX
