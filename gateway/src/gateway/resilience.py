"""Circuit breaking and a retry budget for the gateway's hop to each service.

The breaker opens after ``failures_to_open`` failures in a row (no connection, a timeout, a broken
exchange, or a 502/503/504 from the service) and then answers at once, without touching the
service, for ``open_seconds`` plus a little jitter so that replicas of the gateway do not probe in
step. Then it lets one request through (half-open): its success closes the breaker, its failure
opens it again. A probe that never reports (its client left) is replaced after another
``open_seconds``.

Retries are for safe methods only and spend a budget filled by ordinary requests (20% of them, plus
a small floor per second), so retries can never multiply the load on a service that is already
struggling (the retry storms of the Google SRE book, ch. 22).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable

from prometheus_client import Gauge

BREAKER_STATE = Gauge("lvrong_gateway_circuit_state", "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open",
                      ["upstream"])
_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}


class CircuitOpen(Exception):
    def __init__(self, upstream: str, retry_after: float) -> None:
        super().__init__(f"circuit of {upstream} is open")
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(self, upstream: str, *, failures_to_open: int = 5, open_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.upstream = upstream
        self.failures_to_open = failures_to_open
        self.open_seconds = open_seconds
        self.clock = clock
        self.state = "closed"
        self.consecutive_failures = 0
        self.opened_until = 0.0
        self.probe_started = 0.0
        BREAKER_STATE.labels(upstream).set(0)

    def _set(self, state: str) -> None:
        self.state = state
        BREAKER_STATE.labels(self.upstream).set(_STATE_VALUE[state])

    def before_call(self) -> None:
        """Raises CircuitOpen when the call must not reach the upstream now."""
        if self.state == "closed":
            return
        now = self.clock()
        if self.state == "open":
            if now < self.opened_until:
                raise CircuitOpen(self.upstream, self.opened_until - now)
            self._set("half_open")
            self.probe_started = now
            return
        # half-open: one probe at a time; a probe silent for too long is replaced
        if now - self.probe_started < self.open_seconds:
            raise CircuitOpen(self.upstream, self.open_seconds)
        self.probe_started = now

    def record(self, *, success: bool) -> None:
        if success:
            self.consecutive_failures = 0
            if self.state != "closed":
                self._set("closed")
            return
        self.consecutive_failures += 1
        if self.state == "half_open" or self.consecutive_failures >= self.failures_to_open:
            self.opened_until = self.clock() + self.open_seconds * random.uniform(1.0, 1.2)
            self._set("open")


class RetryBudget:
    """Retries allowed: ``ratio`` of recent requests plus ``floor_per_second``, at most ``cap`` saved up."""

    def __init__(self, ratio: float = 0.2, floor_per_second: float = 5.0, cap: float = 100.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ratio = ratio
        self.floor_per_second = floor_per_second
        self.cap = cap
        self.clock = clock
        self.tokens = cap
        self.updated = clock()

    def deposit(self) -> None:
        self.tokens = min(self.cap, self.tokens + self.ratio)

    def withdraw(self) -> bool:
        now = self.clock()
        self.tokens = min(self.cap, self.tokens + (now - self.updated) * self.floor_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
