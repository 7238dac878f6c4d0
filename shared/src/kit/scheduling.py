"""Periodic jobs that run once per tick across all replicas of a service.

Each tick takes a PostgreSQL transaction-level advisory lock named after the job, so two replicas
never run a job at the same time; and it claims the tick itself (the wall-clock interval it falls
in) in ``processed_events``, in the job's own transaction, so a replica whose loop comes round a
moment after another's finds the tick taken and skips it. Clock warnings, reminders and stall
detection therefore run once per interval, not once per replica, without a leader election; a tick
whose job fails is rolled back with its claim, so the next replica to come round runs it.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
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


# Claimed ticks are pruned by age with the other bookkeeping rows (``kit.pruning``).
TICK_EVENT_TYPE = "lvrong.scheduler.tick"
_CLAIM_TICK = text(
    f"INSERT INTO processed_events (consumer, event_id, event_type) VALUES (:consumer, :tick, '{TICK_EVENT_TYPE}') "
    "ON CONFLICT DO NOTHING RETURNING 1")


async def run_tick(database: Database, name: str, job: JobFn, tick_seconds: float | None = None) -> int | None:
    """Run one tick of ``job`` unless another replica holds it or (with ``tick_seconds``) already ran
    this interval; returns its count, or None when skipped."""
    async with database.transaction() as session:
        got = (await session.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": lock_id(name)})).scalar()
        if not got:
            JOB_RUNS.labels(name, "skipped").inc()
            return None
        if tick_seconds:
            tick = int(time.time() // tick_seconds)
            consumer = f"scheduler:{name}"[:128]
            claimed = (await session.execute(_CLAIM_TICK, {"consumer": consumer, "tick": str(tick)})).scalar()
            if not claimed:
                JOB_RUNS.labels(name, "already_ran").inc()
                return None
        done = await job(session)
    JOB_RUNS.labels(name, "ran").inc()
    return done


async def every(database: Database, name: str, interval_seconds: float, job: JobFn, *,
                then: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run ``job`` every ``interval_seconds`` until cancelled; a failing tick is logged and retried next tick.

    ``then`` runs after each tick this replica ran, outside the tick's transaction: work that must
    happen once per interval but in many short transactions of its own (e.g. pruning in batches)."""
    while True:
        try:
            done = await run_tick(database, name, job, tick_seconds=interval_seconds)
            if done:
                log.info("scheduled_job_ran", job=name, count=done)
            if done is not None and then is not None:
                await then()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if cancellation_requested():
                raise asyncio.CancelledError from e
            JOB_RUNS.labels(name, "failed").inc()
            log.warning("scheduled_job_failed", job=name, error=type(e).__name__)
        await asyncio.sleep(interval_seconds)
