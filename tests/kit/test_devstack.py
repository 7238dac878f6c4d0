"""The local servers ``make run`` starts when no ``DATABASE_URL`` is set: its PostgreSQL keeps fsync on."""
from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import asyncpg
import pytest

from kit.devstack import Servers, free_port


def _setting(url: str, name: str) -> str:
    async def read() -> str:
        connection = await asyncpg.connect(url)
        try:
            return await connection.fetchval(f"SHOW {name}")
        finally:
            await connection.close()

    return asyncio.run(read())


def test_make_run_starts_its_local_postgresql_with_fsync_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    # The same call `lvrong-run` makes, on free ports and a scratch directory.
    servers = Servers.configured_or_local(Path(tempfile.mkdtemp(prefix="lvrong-devstack-")),
                                          postgres_port=free_port(), nats_port=free_port())
    try:
        assert len(servers.started) == 2
        assert _setting(servers.database_url, "fsync") == "on"
    finally:
        servers.stop()


def test_a_disposable_local_postgresql_may_turn_fsync_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:1")  # not started: only PostgreSQL is under test
    servers = Servers.configured_or_local(Path(tempfile.mkdtemp(prefix="lvrong-devstack-")),
                                          postgres_port=free_port(), durable=False)
    try:
        assert _setting(servers.database_url, "fsync") == "off"
    finally:
        servers.stop()
