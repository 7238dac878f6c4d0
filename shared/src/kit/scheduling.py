"""Periodic jobs that run once per tick across all replicas of a service.

Each tick takes a PostgreSQL transaction-level advisory lock named after the job; a replica that
does not get it skips the tick, so clock warnings, reminders and stall detection run once, not
once per replica, without a separate leader election.
"""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import Database
from kit.tasks import cancellation_requested

log = structlog.get_logger("kit.scheduling")

JOB_RUNS = Counter("lvrong_scheduled_job_runs_total", "Scheduled job ticks", ["job", "outcome"])

JobFn = Callable[[AsyncSession], Awaitable[int]]


def lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def run_tick(database: Database, name: str, job: JobFn) -> int | None:
    """Run one tick of ``job`` unless another replica holds it; returns its count, or None when skipped."""
    async with database.transaction() as session:
        got = (await session.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": lock_id(name)})).scalar()
        if not got:
            JOB_RUNS.labels(name, "skipped").inc()
            return None
        done = await job(session)
    JOB_RUNS.labels(name, "ran").inc()
    return done


async def every(database: Database, name: str, interval_seconds: float, job: JobFn) -> None:
    """Run ``job`` every ``interval_seconds`` until cancelled; a failing tick is logged and retried next tick."""
    while True:
        try:
            done = await run_tick(database, name, job)
            if done:
                log.info("scheduled_job_ran", job=name, count=done)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if cancellation_requested():
                raise asyncio.CancelledError from e
            JOB_RUNS.labels(name, "failed").inc()
            log.warning("scheduled_job_failed", job=name, error=type(e).__name__)
        await asyncio.sleep(interval_seconds)
