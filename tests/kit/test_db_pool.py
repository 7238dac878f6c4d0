"""The kit's connection pool: a pooled connection the server closed is replaced at checkout for nothing
(tests/kit/test_availability.py); one idle for a while is checked with one round trip, so one whose
server process is gone without the driver having seen its socket close is replaced before anyone uses
it; one given back moments ago is handed out unchecked."""
from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import text

import kit.db
from kit.db import Database
from support import _admin


async def backend_pid(database: Database) -> int:
    async with database.engine.connect() as connection:
        pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def terminate(servers: Any, pid: int) -> None:
    admin = await _admin(servers.database_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    finally:
        await admin.close()


async def test_a_live_pooled_connection_is_handed_out_again(make_database: Any, monkeypatch: Any) -> None:
    database = await make_database("lvrong_test_kit_pool_live")
    first = await backend_pid(database)
    assert await backend_pid(database) == first  # within the window, unchecked
    monkeypatch.setattr(kit.db, "ALIVE_WITHOUT_PING_SECONDS", 0.0)
    assert await backend_pid(database) == first  # checked, alive


async def test_an_idle_pooled_connection_whose_server_process_is_gone_is_replaced_at_checkout(
        make_database: Any, servers: Any, monkeypatch: Any) -> None:
    database = await make_database("lvrong_test_kit_pool_gone")
    gone = await backend_pid(database)
    monkeypatch.setattr(asyncpg.Connection, "is_closed", lambda self: False)  # only the ping can tell
    await terminate(servers, gone)
    monkeypatch.setattr(kit.db, "ALIVE_WITHOUT_PING_SECONDS", 0.0)  # as if it had been idle for a while
    # No error reaches the caller: the dead connection is dropped, a new one made and used.
    replacement = await backend_pid(database)
    assert replacement != gone
    assert await backend_pid(database) == replacement
