"""Pruning the kit's bookkeeping tables by age, in every service, by one scheduled job.

| table | rows pruned | default retention | setting (``<SERVICE>_`` prefix) |
|---|---|---|---|
| ``outbox`` | published events (never an unpublished one) | 7 days | ``RETENTION_OUTBOX_DAYS`` |
| ``processed_events`` | handled-event records | 14 days (at least the event streams' max age + 1 day) | ``RETENTION_PROCESSED_EVENTS_DAYS`` |
| ``processed_events`` | scheduler ticks (``lvrong.scheduler.tick``) | 2 days | ``RETENTION_SCHEDULER_TICKS_DAYS`` |
| ``idempotency_keys`` | stored first responses | 7 days | ``RETENTION_IDEMPOTENCY_KEYS_DAYS`` |

Rows go in batches (``PRUNING_BATCH_SIZE``), each batch its own short transaction, so pruning never
holds many row locks or a long transaction against the service's own writes. The job runs every
``PRUNING_INTERVAL_SECONDS`` once across all replicas (``kit.scheduling.run_tick``). The tables have
no index on their timestamps on purpose: ``processed_events`` is written for every event handled and
an index there would cost on that hot path; the batches find old rows at the start of the heap, and
an interval with nothing to prune costs one sequential scan per table.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

import structlog
from prometheus_client import Counter
from sqlalchemy import CursorResult, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import Database
from kit.events.streams import LONGEST_EVENT_AGE_SECONDS
from kit.scheduling import TICK_EVENT_TYPE, every
from kit.settings import ServiceSettings

log = structlog.get_logger("kit.pruning")

PRUNED = Counter("lvrong_pruned_rows_total", "Rows removed by the pruning job", ["table"])

DAY = 86_400.0
# A redelivery (or a consumer created anew, which starts from the stream's first message) can bring
# any event still in its stream; its handled-event record must outlive it there or the event would be
# applied twice. So handled-event records are kept at least a day longer than the streams keep events.
MIN_PROCESSED_EVENTS_SECONDS = LONGEST_EVENT_AGE_SECONDS + DAY


@dataclass(frozen=True)
class Retention:
    outbox_seconds: float
    processed_events_seconds: float
    idempotency_keys_seconds: float
    scheduler_ticks_seconds: float

    @classmethod
    def of(cls, settings: ServiceSettings) -> Retention:
        return cls(outbox_seconds=settings.retention_outbox_days * DAY,
                   processed_events_seconds=max(settings.retention_processed_events_days * DAY,
                                                MIN_PROCESSED_EVENTS_SECONDS),
                   idempotency_keys_seconds=settings.retention_idempotency_keys_days * DAY,
                   scheduler_ticks_seconds=settings.retention_scheduler_ticks_days * DAY)


# What each kind of row is, how old is too old, and the batch that removes the oldest of them.
_OLDER_THAN = "now() - make_interval(secs => :seconds)"
_BATCHES = {
    "outbox": ("outbox_seconds", text(
        "DELETE FROM outbox WHERE position IN (SELECT position FROM outbox WHERE published_at IS NOT NULL "
        f"AND published_at < {_OLDER_THAN} ORDER BY position LIMIT :batch)")),
    "processed_events": ("processed_events_seconds", text(
        "DELETE FROM processed_events WHERE (consumer, event_id) IN (SELECT consumer, event_id FROM processed_events "
        f"WHERE event_type <> '{TICK_EVENT_TYPE}' AND handled_at < {_OLDER_THAN} LIMIT :batch)")),
    "scheduler_ticks": ("scheduler_ticks_seconds", text(
        "DELETE FROM processed_events WHERE (consumer, event_id) IN (SELECT consumer, event_id FROM processed_events "
        f"WHERE event_type = '{TICK_EVENT_TYPE}' AND handled_at < {_OLDER_THAN} LIMIT :batch)")),
    "idempotency_keys": ("idempotency_keys_seconds", text(
        "DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key FROM idempotency_keys "
        f"WHERE created_at < {_OLDER_THAN} LIMIT :batch)")),
}


async def prune(database: Database, retention: Retention, *, batch_size: int = 2000) -> dict[str, int]:
    """Remove every row older than its retention, a batch per transaction; returns the count per kind."""
    removed: dict[str, int] = {}
    for kind, (field, statement) in _BATCHES.items():
        seconds = getattr(retention, field)
        removed[kind] = 0
        while True:
            async with database.transaction() as session:
                # A DELETE's result is a cursor's, with its row count (SQLAlchemy types it as any Result).
                deleted = cast(CursorResult[Any], await session.execute(statement, {"seconds": seconds, "batch": batch_size}))
                count = deleted.rowcount
            removed[kind] += count
            PRUNED.labels(kind).inc(count)
            if count < batch_size:
                break
            await asyncio.sleep(0)  # let the service's own work in between batches
    return removed


async def prune_periodically(database: Database, settings: ServiceSettings) -> None:
    """The pruning job of a service: once per ``pruning_interval_seconds`` across its replicas."""
    retention = Retention.of(settings)

    async def claimed(_session: AsyncSession) -> int:
        return 1  # the tick is claimed in this transaction; the batches run after it, each on its own

    async def prune_now() -> None:
        removed = await prune(database, retention, batch_size=settings.pruning_batch_size)
        if any(removed.values()):
            log.info("pruned", **removed)

    await every(database, "kit-pruning", settings.pruning_interval_seconds, claimed, then=prune_now)
