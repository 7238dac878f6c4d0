"""Whether a service's own database is away, and waiting for it to come back.

Event consumers and the outbox relay must not treat "PostgreSQL is restarting" as a failure of the
event they were handling: JetStream counts every delivery (a ``nak`` too) towards ``max_deliver``,
so retrying through an outage would dead-letter the traffic in flight. Instead they ask
``DatabaseGate.outage(error)``, which says whether the error was the database being unreachable,
confirmed by a probe (``SELECT 1``): an error that merely looks like a connection failure (a refused
HTTP call made by a handler, say) while the database answers is an ordinary failure and retried as
usual. While the gate is closed they stop fetching and hold what they have, and ``wait()`` probes
with backoff until the database answers again.
"""
from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from prometheus_client import Gauge
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from kit.db import Database

log = structlog.get_logger("kit.availability")

DATABASE_AWAY = Gauge("lvrong_database_away", "1 while this process finds its database unreachable and holds its "
                      "event work (consumers paused, relay waiting)")

# SQLSTATE classes and codes that mean "no connection to be had", not "this statement is wrong":
# connection exceptions (08), insufficient resources (53: too many clients), the server shutting
# down or starting up (57P01-57P03).
_AWAY_SQLSTATE_CLASSES = ("08", "53")
_AWAY_SQLSTATES = ("57P01", "57P02", "57P03")


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a failure to reach the database rather than a failure
    of the work itself: refused/reset connections, timeouts, a pool with no connection to give,
    a server shutting down or refusing clients."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        e = pending.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (OSError, PoolTimeout, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                          asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
                          asyncpg.TooManyConnectionsError)):
            return True
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            return True
        sqlstate = str(getattr(e, "sqlstate", "") or "")
        if sqlstate[:2] in _AWAY_SQLSTATE_CLASSES or sqlstate in _AWAY_SQLSTATES:
            return True
        pending.extend([getattr(e, "orig", None), e.__cause__, e.__context__])
    return False


class DatabaseGate:
    """The availability of one database as the event work of one process sees it."""

    def __init__(self, database: Database, *, probe_timeout: float = 5.0, first_delay: float = 0.5,
                 max_delay: float = 5.0) -> None:
        self.database = database
        self.probe_timeout = probe_timeout
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._away_since: float | None = None
        self._probing = asyncio.Lock()

    @property
    def away(self) -> bool:
        return self._away_since is not None

    async def _answers(self) -> bool:
        """``SELECT 1`` on a connection of its own: the pool may be busy returning broken connections,
        and a probe queued behind them would report the database away for as long as the pool timeout."""
        _, options = self.database.engine.dialect.create_connect_args(self.database.engine.url)
        try:
            async with asyncio.timeout(self.probe_timeout):
                connection = await asyncpg.connect(**options, timeout=self.probe_timeout)
                try:
                    await connection.fetchval("SELECT 1")
                finally:
                    await connection.close(timeout=self.probe_timeout)
        except asyncio.CancelledError:
            raise
        except Exception:  # any failure to answer SELECT 1 means not back yet
            return False
        return True

    async def outage(self, error: BaseException) -> bool:
        """True when ``error`` was the database being unreachable (and still is): the gate closes and
        the caller should hold its work and ``wait()``; False for an ordinary failure."""
        if not database_unreachable(error):
            return False
        if self.away:
            return True
        if await self._answers():
            return False
        if not self.away:
            self._away_since = time.monotonic()
            DATABASE_AWAY.set(1)
            log.warning("database_away_pausing_event_work", error=type(error).__name__)
        return True

    async def wait(self) -> None:
        """Return at once while the database is there; else probe with backoff until it answers."""
        if not self.away:
            return
        async with self._probing:  # one probe loop per process; the other waiters return with it
            delay = self.first_delay
            while self.away:
                if await self._answers():
                    assert self._away_since is not None
                    log.info("database_back_resuming_event_work",
                             away_seconds=round(time.monotonic() - self._away_since, 1))
                    self._away_since = None
                    DATABASE_AWAY.set(0)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
