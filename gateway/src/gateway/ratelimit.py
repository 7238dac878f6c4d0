"""Per-client and per-IP rate limits, shared by every replica of the gateway through PostgreSQL.

Each limit is a sliding window approximated from two fixed windows (the current one and the one
before it, weighted by how much of it still overlaps the sliding window), as Cloudflare and
nginx's ``limit_req`` community modules do: one counter per key and window, no per-request log.

Why PostgreSQL and not NATS KV: replicas must add up their counts. PostgreSQL adds any number of
counters atomically in one statement (``INSERT … ON CONFLICT DO UPDATE SET count = count + …``);
NATS KV only offers compare-and-set per key (the server here, 2.9, predates its counters), which
under concurrency is a read-modify-write loop per key per replica. The hot path never waits for the
database: each replica decides from the totals it last saw plus its own requests since, and every
``sync_seconds`` sends its new counts and reads the totals back in one round trip. The error is
bounded by what the other replicas admitted during one sync interval. When the database is away the
gateway keeps limiting with its own counts only (fail open to local limits, logged), never blocks.
"""
from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import structlog
from prometheus_client import Counter

log = structlog.get_logger("gateway.ratelimit")

LIMITED = Counter("lvrong_gateway_rate_limited_total", "Requests refused with 429", ["route", "kind"])

_SYNC = """
INSERT INTO gateway_rate_counters (key, window_start, count)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::integer[])
ON CONFLICT (key, window_start) DO UPDATE SET count = gateway_rate_counters.count + EXCLUDED.count
RETURNING key, window_start, count
"""
_PURGE = "DELETE FROM gateway_rate_counters WHERE window_start < $1"


@dataclass(frozen=True)
class RateLimit:
    """At most ``per_client`` requests per authenticated caller and ``per_ip`` per address in any
    ``window_seconds``; 0 means no limit of that kind."""

    per_client: int = 0
    per_ip: int = 0
    window_seconds: int = 60


@dataclass
class _Counter:
    window_start: int
    window: int
    synced_total: int = 0  # every replica's count for window_start, as of the last sync
    previous_total: int = 0  # every replica's count for the window before
    unsynced: int = 0  # this replica's requests not yet sent


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0
    kind: str = ""


_ALLOWED = Decision(True)  # the answer to almost every request: one shared, unchangeable instance


@dataclass
class RateLimiter:
    dsn: str | None
    sync_seconds: float = 0.2
    max_keys: int = 200_000
    counters: dict[str, _Counter] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    _pool: asyncpg.Pool | None = None
    _task: asyncio.Task[None] | None = None
    store_ok: bool = False

    async def start(self) -> None:
        if self.dsn:
            self._task = asyncio.create_task(self._sync_forever(), name="rate-limit-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()

    def check(self, route_label: str, limit: RateLimit, client_key: str | None, ip: str | None) -> Decision:
        """Count this request against its limits, unless one of them is already reached."""
        now = self.clock()
        checks = []
        if limit.per_client and client_key:
            checks.append(("client", f"c|{route_label}|{client_key}", limit.per_client))
        if limit.per_ip and ip:
            checks.append(("ip", f"i|{route_label}|{ip}", limit.per_ip))
        counters = []
        for kind, key, allowed in checks:
            counter, estimate = self._estimate(key, limit.window_seconds, now)
            if estimate >= allowed:
                LIMITED.labels(route_label, kind).inc()
                retry_after = max(1, math.ceil(counter.window_start + limit.window_seconds - now))
                return Decision(False, retry_after, kind)
            counters.append(counter)
        for counter in counters:
            counter.unsynced += 1
        return _ALLOWED

    def _estimate(self, key: str, window: int, now: float) -> tuple[_Counter, float]:
        window_start = int(now // window) * window
        counter = self.counters.get(key)
        if counter is None:
            if len(self.counters) >= self.max_keys:
                self._forget_old(now, window)
            counter = self.counters[key] = _Counter(window_start, window)
        elif counter.window_start != window_start:
            # The window moved on: what was current becomes the previous window (if adjacent).
            previous = counter.synced_total + counter.unsynced if counter.window_start == window_start - window else 0
            counter.window_start, counter.previous_total = window_start, previous
            counter.synced_total = counter.unsynced = 0
        elapsed = (now - window_start) / window
        estimate = counter.previous_total * (1 - elapsed) + counter.synced_total + counter.unsynced
        return counter, estimate

    def _forget_old(self, now: float, window: int) -> None:
        horizon = now - 2 * window
        for key in [k for k, c in self.counters.items() if c.window_start < horizon]:
            del self.counters[key]

    async def _sync_forever(self) -> None:
        last_purge = 0.0
        while True:
            await asyncio.sleep(self.sync_seconds)
            try:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=1, timeout=2)
                await self.sync()
                if not self.store_ok:
                    log.info("rate_limit_store_connected")
                self.store_ok = True
                if self.clock() - last_purge > 60:
                    last_purge = self.clock()
                    await self._pool.execute(_PURGE, int(self.clock()) - 3600)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the limits go on locally; say so once, not every interval
                if self.store_ok or self._pool is None:
                    log.warning("rate_limit_store_unavailable", error=type(e).__name__)
                self.store_ok = False
                if self._pool is not None:
                    await self._pool.close()
                    self._pool = None
                await asyncio.sleep(min(5.0, self.sync_seconds * 10))

    async def sync(self) -> None:
        """Send this replica's new counts and take back every replica's totals, in one statement.

        Counters touched in the current window are sent even with nothing new, so their totals
        include what the other replicas counted.
        """
        now = self.clock()
        keys, windows, deltas, sent = [], [], [], []
        for key, counter in self.counters.items():
            if counter.unsynced or now < counter.window_start + counter.window:
                keys.append(_stored_key(key))
                windows.append(counter.window_start)
                deltas.append(counter.unsynced)
                sent.append((key, counter, counter.window_start, counter.unsynced))
        if not keys:
            return
        assert self._pool is not None
        rows = await self._pool.fetch(_SYNC, keys, windows, deltas)
        totals = {(r["key"], r["window_start"]): r["count"] for r in rows}
        for key, counter, window_start, delta in sent:
            total = totals.get((_stored_key(key), window_start), 0)
            if counter.window_start == window_start:
                counter.unsynced -= delta  # requests counted while the statement ran stay unsynced
                counter.synced_total = total
            elif counter.window_start == window_start + counter.window:
                counter.previous_total = total  # the window rolled while the statement ran


def _stored_key(key: str) -> str:
    """Keys hold subjects and addresses: the store keeps a digest of them, not the identifiers."""
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
