"""What counts as "the database is away" for the event work: errors that are failures to reach the
database, confirmed by a probe of the real server; an error that only looks like one (a refused
call to another system) while the database answers is an ordinary failure, retried and in the end
dead-lettered as usual."""
from __future__ import annotations

import os

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from kit.availability import DatabaseGate, database_unreachable
from kit.db import Database
from kit.devstack import free_port


def _wrapped(orig: BaseException) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(("error", "unreachable"), [
    (ConnectionRefusedError(111, "refused"), True),
    (ConnectionResetError(104, "reset"), True),
    (PoolTimeout("QueuePool limit reached"), True),
    (_wrapped(asyncpg.CannotConnectNowError("the database system is starting up")), True),
    (_wrapped(asyncpg.AdminShutdownError("terminating connection due to administrator command")), True),
    (_wrapped(asyncpg.TooManyConnectionsError("sorry, too many clients already")), True),
    (_wrapped(asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")), True),
    (ValueError("a bad event"), False),
    (IntegrityError("INSERT", {}, asyncpg.UniqueViolationError("duplicate key")), False),
    (_wrapped(asyncpg.SerializationError("could not serialize access")), False),
])
def test_which_errors_are_the_database_being_away(error: BaseException, unreachable: bool) -> None:
    assert database_unreachable(error) is unreachable


def test_the_cause_of_an_error_counts() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as e:
            raise RuntimeError("while handling the event") from e
    except RuntimeError as outer:
        assert database_unreachable(outer)


async def test_a_connection_error_while_the_database_answers_is_an_ordinary_failure(make_database) -> None:
    database = await make_database(os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_test") + "_kit_availability")
    gate = DatabaseGate(database)
    assert await gate.outage(ConnectionRefusedError(111, "another system refused")) is False
    assert not gate.away
    await gate.wait()  # returns at once: nothing to wait for


async def test_an_unreachable_database_closes_the_gate() -> None:
    nowhere = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres", pool_size=1)
    try:
        gate = DatabaseGate(nowhere, probe_timeout=2)
        try:
            async with nowhere.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception as e:  # whatever the driver raises for a refused connection
            refused = e
        assert await gate.outage(refused) is True and gate.away
        assert await gate.outage(ValueError("a bad event")) is False  # still an ordinary failure
    finally:
        await nowhere.dispose()


async def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout(make_database, eventually) -> None:
    """No ping before each transaction: a pooled connection the server ended (a restart, a terminated
    backend) is known closed to the driver and replaced when checked out, so no transaction fails on it."""
    database = await make_database(os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_test") + "_kit_closed")
    async with database.transaction() as session:
        first = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
    admin = await asyncpg.connect(database.url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)

        async def ended() -> bool:
            return not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first)

        await eventually(ended, what="the terminated backend gone")
    finally:
        await admin.close()

    # The backend leaves pg_stat_activity before its process exits and closes the socket: wait until the
    # driver has read the close too (the premise of the rule: the closed connection is known for nothing);
    # before that, the connection is mid-way through the server's FATAL message and a statement would fail.
    async def known_closed() -> bool:
        return driver.is_closed()

    await eventually(known_closed, what="the driver has read that the server closed the connection")
    async with database.transaction() as session:
        second = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert second != first
