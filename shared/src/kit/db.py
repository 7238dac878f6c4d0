"""Async SQLAlchemy on PostgreSQL (asyncpg): one database per service, created when missing."""
from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import Depends, Request
from sqlalchemy import MetaData, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations can refer to them on every PostgreSQL version.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


# Tables of the kit itself (outbox, processed events, idempotency keys), created in every
# service's own database by its first migration (``kit.migrations.create_platform_tables``).
platform_metadata = new_metadata()


class Base(DeclarativeBase):
    """Base of a service's ORM models; each service subclasses it to get its own metadata."""

    __abstract__ = True


# libpq's TLS parameters; asyncpg takes them as one ``ssl`` argument (``ssl`` is asyncpg's own spelling).
_TLS_PARAMETERS = ("sslmode", "ssl", "sslrootcert", "sslcert", "sslkey")


def _last(value: str | tuple[str, ...]) -> str:
    """A query parameter's value; given more than once, the last one counts (as in libpq)."""
    return value if isinstance(value, str) else value[-1]


def asyncpg_tls(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` without libpq's TLS parameters, and asyncpg's ``ssl`` connect argument made of them.

    Ops paste a libpq URL (``?sslmode=verify-full&sslrootcert=/run/secrets/pg/ca.crt``); SQLAlchemy
    would hand each query parameter to ``asyncpg.connect``, which knows none of them but ``ssl``.
    ``verify-ca`` checks the server's certificate against the CA, ``verify-full`` its name too;
    ``require`` encrypts without checking (as in libpq, unless a root certificate is given)."""
    parsed = make_url(url)
    tls = {k: _last(parsed.query[k]) for k in _TLS_PARAMETERS if k in parsed.query}
    if not tls:
        return url, {}
    bare = parsed.difference_update_query(_TLS_PARAMETERS).render_as_string(hide_password=False)
    mode = str(tls.get("sslmode") or tls.get("ssl") or "prefer")
    if mode == "require" and "sslrootcert" in tls:
        mode = "verify-ca"  # as libpq does
    verified = mode in ("verify-ca", "verify-full")
    if not verified and not (mode == "require" and "sslcert" in tls):
        return bare, {"ssl": mode}  # asyncpg's own modes: disable, allow, prefer, require
    # Without sslrootcert the system's CAs (a managed server with a public CA).
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.get("sslrootcert"))
    context.check_hostname = mode == "verify-full"
    if not verified:
        context.verify_mode = ssl.CERT_NONE
    if "sslcert" in tls:
        context.load_cert_chain(tls["sslcert"], tls.get("sslkey"))
    return bare, {"ssl": context}


def json_text(value: Any) -> str:
    """The JSON text of a JSON(B) column's value. orjson rather than ``json.dumps``: every outbox envelope,
    verdict and read-model row goes through here, and the standard library's encoder was a visible share
    of the event consumers' CPU. Non-string keys become strings, as ``json.dumps`` makes them."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# A connection given back this recently, and not closed by the server, is taken to be alive without a
# ping (HikariCP's "alive bypass window" is 500 ms too): under load every checkout would otherwise cost a
# round trip. A connection that died within the window without the server closing it (a network
# partition) fails its first statement, which invalidates the pool as a failed ping does.
ALIVE_WITHOUT_PING_SECONDS = 0.5


def _mark_fresh(dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()  # just made: alive


def _mark_returned(dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


def _alive_on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection is alive before it is handed out (what ``pool_pre_ping`` does, after a
    database restart, a failover or a terminated backend), at the least cost:

    * one the server closed is replaced for nothing: asyncpg learns of the closed socket as soon as the
      event loop reads it, so asking the driver costs no round trip;
    * one idle for over ``ALIVE_WITHOUT_PING_SECONDS`` is pinged with ``SELECT 1`` as a simple query
      outside a transaction (one round trip, nothing prepared, so a transaction-mode pooler is fine
      too); if that fails, every pooled connection is dropped.

    SQLAlchemy's own asyncpg ping is three round trips (BEGIN, ``;`` prepared, ROLLBACK) on every
    checkout: before every request's and every batch's statements — about a third of a submission's
    statements, and 6% of svc-licences' CPU per verification (tests/bench/RESULTS.md, issue 18).
    """
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this connection")
    if time.monotonic() - record.info.get("returned_at", float("-inf")) < ALIVE_WITHOUT_PING_SECONDS:
        return
    try:
        dbapi_connection.run_async(lambda connection: connection.execute("SELECT 1"))
    except Exception as e:
        raise exc.InvalidatePoolError(f"pooled connection is gone: {type(e).__name__}") from e


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        bare, tls = asyncpg_tls(url)
        # No overflow: overflow connections are closed on return, and under a burst reconnecting
        # (TLS negotiation, backend start-up) cost more CPU than waiting for a pooled connection.
        self.engine: AsyncEngine = create_async_engine(
            # Liveness checked at checkout by ``_alive_on_checkout`` (no round trip under load), not ``pool_pre_ping``.
            bare, pool_size=pool_size, max_overflow=0, pool_timeout=15, pool_recycle=1800, echo=echo,
            # Prepared statements kept per connection: 100 (the default) was too few once batched inserts
            # (one text per number of rows) joined a service's fixed statements, which were then evicted and
            # prepared again by the server and the driver, batch after batch.
            connect_args={"timeout": 5, "command_timeout": 30, "prepared_statement_cache_size": 1000, **tls},
            json_serializer=json_text, json_deserializer=orjson.loads,
        )
        event.listen(self.engine.sync_engine, "connect", _mark_fresh)
        event.listen(self.engine.sync_engine, "checkin", _mark_returned)
        event.listen(self.engine.sync_engine, "checkout", _alive_on_checkout)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Same pool; each statement commits by itself (the driver sends no BEGIN and no COMMIT).
        self.statement_sessionmaker = async_sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                                                         expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on any exception."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def one_write(self) -> AsyncIterator[AsyncSession]:
        """A session for work that reads, then writes with **one statement at most**, which PostgreSQL
        makes atomic and durable by itself: no ``BEGIN`` and no ``COMMIT``, two round trips fewer than
        ``transaction()`` (they were a fifth of a submission's CPU in svc-matters, tests/bench/RESULTS.md).

        The reads see what was committed before each of them (as in a READ COMMITTED transaction, which
        takes no locks on reads either), and the ORM's ``after_commit`` still fires after the work, so the
        outbox relays wake. Never for two writes: the first would stay when the second fails."""
        async with self.statement_sessionmaker() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def ensure_database(admin_url: str, name: str) -> bool:
    """Create database ``name`` on the server of ``admin_url`` unless it exists; True when created."""
    bare, tls = asyncpg_tls(admin_url)
    url = make_url(bare)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres",
        password=url.password, database=url.database or "postgres", timeout=10, **tls,
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_database(request: Request) -> Database:
    # async: a plain ``def`` dependency would cost a hop to FastAPI's thread pool per request (kit.app).
    return database_of(request)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with database_of(request).session() as session:
        yield session


# The one rule for the database in a service (README, "Layout"): a route takes ``SessionDep`` to read
# or ``DatabaseDep`` to write and hands it to the service layer. A service function that writes
# opens the request's one transaction itself (``database.transaction()``, or
# ``kit.idempotency.create_once`` for a creating POST), so the effect, its events (outbox) and its
# audit record commit together or not at all; routes never begin, commit or roll back.
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
