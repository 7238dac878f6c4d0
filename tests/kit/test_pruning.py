"""The pruning job on a real PostgreSQL: rows older than their retention go, in batches; recent ones,
unpublished outbox rows and handled-event records the streams could still redeliver stay."""
from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

import pytest
from pydantic_settings import SettingsConfigDict
from sqlalchemy import text

from kit.db import Database
from kit.pruning import MIN_PROCESSED_EVENTS_SECONDS, Retention, prune, prune_periodically
from kit.settings import ServiceSettings

DAY = 86_400.0


class PruneSettings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="PRUNETEST_")
    service_name: ClassVar[str] = "prunetest"


@pytest.fixture
async def database(make_database) -> Database:
    return await make_database(os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_test") + "_kit_pruning")


async def _rows(database: Database, query: str) -> list[Any]:
    async with database.session() as session:
        return sorted((await session.execute(text(query))).scalars())


async def _fill(database: Database) -> None:
    """Rows named by their age in days: 'old-*' past every retention below, 'new-*' within them."""
    async with database.transaction() as session:
        for name, age_days, published in [("old-published", 10, True), ("old-unpublished", 10, False),
                                          ("new-published", 1, True)]:
            await session.execute(text(
                "INSERT INTO outbox (event_id, subject, envelope, created_at, published_at) VALUES "
                "(:id, 'lvrong.x.y.z', '{}', now() - make_interval(days => :age), "
                "CASE WHEN :published THEN now() - make_interval(days => :age) END)"),
                {"id": name, "age": age_days, "published": published})
        for consumer, event_id, event_type, age_days in [
                ("svc-things", "old-handled", "lvrong.x.y.z", 20), ("svc-things", "week-handled", "lvrong.x.y.z", 7.5),
                ("svc-things", "new-handled", "lvrong.x.y.z", 1),
                ("scheduler:job", "old-tick", "lvrong.scheduler.tick", 3), ("scheduler:job", "new-tick",
                                                                            "lvrong.scheduler.tick", 0.5)]:
            await session.execute(text(
                "INSERT INTO processed_events (consumer, event_id, event_type, handled_at) VALUES "
                "(:consumer, :id, :type, now() - make_interval(secs => :age))"),
                {"consumer": consumer, "id": event_id, "type": event_type, "age": age_days * DAY})
        for key, age_days in [("old-key", 8), ("new-key", 2)]:
            await session.execute(text(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, status_code, response, created_at) VALUES "
                "('person:1', :key, 'f', 201, '{}', now() - make_interval(days => :age))"), {"key": key, "age": age_days})
        for i in range(7):  # more old keys than one batch holds
            await session.execute(text(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, status_code, response, created_at) VALUES "
                "('person:2', :key, 'f', 201, '{}', now() - interval '30 days')"), {"key": f"old-batch-{i}"})


async def test_old_rows_go_in_batches_and_recent_ones_stay(database: Database) -> None:
    await _fill(database)
    retention = Retention(outbox_seconds=7 * DAY, processed_events_seconds=MIN_PROCESSED_EVENTS_SECONDS,
                          idempotency_keys_seconds=7 * DAY, scheduler_ticks_seconds=2 * DAY)
    removed = await prune(database, retention, batch_size=3)
    assert removed == {"outbox": 1, "processed_events": 1, "scheduler_ticks": 1, "idempotency_keys": 8}
    # An unpublished event is never pruned, however old: the relay has yet to send it.
    assert await _rows(database, "SELECT event_id FROM outbox") == ["new-published", "old-unpublished"]
    # A record 7.5 days old stays: the event can still be redelivered from a stream that keeps events 7 days.
    assert await _rows(database, "SELECT event_id FROM processed_events") == ["new-handled", "new-tick", "week-handled"]
    assert await _rows(database, "SELECT key FROM idempotency_keys") == ["new-key"]
    assert await prune(database, retention, batch_size=3) == dict.fromkeys(removed, 0)  # nothing left to do


async def test_handled_event_records_are_kept_at_least_as_long_as_the_streams_keep_events() -> None:
    settings = PruneSettings(retention_processed_events_days=1, retention_outbox_days=2)
    retention = Retention.of(settings)
    assert retention.processed_events_seconds == MIN_PROCESSED_EVENTS_SECONDS > 7 * DAY
    assert retention.outbox_seconds == 2 * DAY
    longer = Retention.of(PruneSettings(retention_processed_events_days=30))
    assert longer.processed_events_seconds == 30 * DAY


async def test_retention_comes_from_the_services_environment(monkeypatch) -> None:
    monkeypatch.setenv("PRUNETEST_RETENTION_IDEMPOTENCY_KEYS_DAYS", "3")
    monkeypatch.setenv("PRUNETEST_PRUNING_BATCH_SIZE", "500")
    settings = PruneSettings()
    assert Retention.of(settings).idempotency_keys_seconds == 3 * DAY and settings.pruning_batch_size == 500


async def test_the_scheduled_job_prunes_once_per_interval(database: Database, eventually, stop_task) -> None:
    await _fill(database)
    settings = PruneSettings(pruning_interval_seconds=3600, pruning_batch_size=2)
    task = asyncio.create_task(prune_periodically(database, settings))
    try:
        async def pruned() -> bool:
            return await _rows(database, "SELECT key FROM idempotency_keys") == ["new-key"]

        await eventually(pruned, within=15, what="the first tick's pruning")
    finally:
        await stop_task(task)
    ticks = await _rows(database, "SELECT consumer FROM processed_events WHERE consumer = 'scheduler:kit-pruning'")
    assert ticks == ["scheduler:kit-pruning"]  # claimed for this interval: another replica skips it
