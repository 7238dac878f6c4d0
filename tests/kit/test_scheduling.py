"""Scheduled jobs run once per tick across replicas: never at the same time (advisory lock) and never
twice in one interval (the tick claimed in the job's transaction), on a real database."""
from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from sqlalchemy import text

import kit.scheduling
from kit.db import Database
from kit.scheduling import run_tick


@pytest.fixture
async def replicas(make_database) -> list[Database]:
    first = await make_database(os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_test") + "_kit_scheduling")
    second = Database(first.engine.url.render_as_string(hide_password=False), pool_size=2)
    yield [first, second]
    await second.dispose()


async def test_a_replica_coming_round_later_in_the_same_interval_skips_the_tick(replicas, monkeypatch) -> None:
    now = [6_000.5]
    monkeypatch.setattr(kit.scheduling.time, "time", lambda: now[0])
    ran: list[int] = []

    async def job(_session: Any) -> int:
        ran.append(1)
        return 1

    assert await run_tick(replicas[0], "test-job", job, tick_seconds=60) == 1
    now[0] += 30  # the other replica's loop comes round half an interval later: same tick
    assert await run_tick(replicas[1], "test-job", job, tick_seconds=60) is None
    now[0] += 30  # the next interval
    assert await run_tick(replicas[1], "test-job", job, tick_seconds=60) == 1
    assert len(ran) == 2


async def test_a_failed_tick_gives_its_claim_back_so_another_replica_runs_it(replicas, monkeypatch) -> None:
    monkeypatch.setattr(kit.scheduling.time, "time", lambda: 12_000.0)

    async def failing(_session: Any) -> int:
        await _session.execute(text("SELECT 1"))
        raise RuntimeError("the job failed")

    async def working(_session: Any) -> int:
        return 3

    with pytest.raises(RuntimeError):
        await run_tick(replicas[0], "flaky-job", failing, tick_seconds=60)
    assert await run_tick(replicas[1], "flaky-job", working, tick_seconds=60) == 3


async def test_two_replicas_at_the_same_moment_run_the_tick_once(replicas, monkeypatch) -> None:
    monkeypatch.setattr(kit.scheduling.time, "time", lambda: 18_000.0)
    ran: list[int] = []

    async def slow(_session: Any) -> int:
        ran.append(1)
        await asyncio.sleep(0.3)
        return 1

    results = await asyncio.gather(*(run_tick(db, "same-moment", slow, tick_seconds=60) for db in replicas))
    assert sorted(results, key=lambda r: r is None) == [1, None] and ran == [1]
