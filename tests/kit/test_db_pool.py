"""The kit's connection pool: a pooled connection idle for a while is checked at checkout with one round
trip, and one whose server process is gone is replaced before anyone uses it (as after a database
restart); one given back moments ago is handed out unchecked, and if it died meanwhile its first
statement fails and the pool makes new connections for the next checkout."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import exc, text

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
    await terminate(servers, gone)
    monkeypatch.setattr(kit.db, "ALIVE_WITHOUT_PING_SECONDS", 0.0)  # as if it had been idle for a while
    # No error reaches the caller: the dead connection is dropped, a new one made and used.
    replacement = await backend_pid(database)
    assert replacement != gone
    assert await backend_pid(database) == replacement


async def test_a_connection_that_died_moments_after_its_last_use_fails_once_then_is_replaced(
        make_database: Any, servers: Any, monkeypatch: Any) -> None:
    database = await make_database("lvrong_test_kit_pool_recent")
    gone = await backend_pid(database)
    monkeypatch.setattr(kit.db, "ALIVE_WITHOUT_PING_SECONDS", 3600.0)  # given back "moments" ago
    await terminate(servers, gone)
    with pytest.raises(exc.DBAPIError) as failed:
        await backend_pid(database)
    assert failed.value.connection_invalidated
    assert await backend_pid(database) != gone
