"""The catalogue survives the ageing of ``LVRONG_MATTERS`` (max age 7 days like every event stream): svc-matters
announces every current matter version again once per round (``matters.catalogue-announcements``), so a
svc-prequal installed from scratch after the original ``matter.published`` events aged out still learns
every matter. On real PostgreSQL and a NATS of this module's own (its stream's max age is shortened to
age the announcements out for real), with the platform's identities: svc-matters' relay publishes as
``matters``, svc-prequal's durable ``prequal-catalogue`` consumes as ``prequal``."""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
import time_machine
from pydantic import ValidationError
from sqlalchemy import select, text

from kit.auth import Principal, Role, SubjectKind
from kit.contracts import MatterPublished
from kit.db import Database
from kit.devstack import LocalNats
from kit.events import EventConsumer, JetStreamBus, OutboxRelay
from kit.events.envelope import stream_name, stream_subjects
from kit.events.streams import DAY, EVENT_STREAM_LIMITS, declared_config, limits_of
from kit.scheduling import run_tick
from matters.models import MatterVersion
from matters.service import catalogue
from matters.settings import Settings as MattersSettings
from prequal import events
from prequal.models import MatterRequirementsRow
from prequal.service import prefill
from support import (
    identity_buses,
    public_service_item,
    scratch_service_database,
    until,
)

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_catage"
JOB = "matters.catalogue-announcements"
CONSUMER = "prequal-catalogue"
STREAM = "LVRONG_MATTERS"
OPS = Principal(subject="u-ops", kind=SubjectKind.STAFF, roles=frozenset({Role.OPS_ADMIN}))
NOON = datetime(2026, 12, 6, 12, tzinfo=UTC)
CATALOGUE = next(s for s in events.SUBSCRIPTIONS if s.name == "catalogue")


@pytest.fixture(scope="module")
async def matters_db(servers) -> AsyncIterator[Database]:
    async with scratch_service_database(servers.database_url, "matters", PREFIX) as db:
        yield db


@pytest.fixture(scope="module")
async def prequal_db(servers) -> AsyncIterator[Database]:
    async with scratch_service_database(servers.database_url, "prequal", PREFIX) as db:
        yield db


@pytest.fixture
async def buses(own_nats: LocalNats) -> AsyncIterator[dict[str, JetStreamBus]]:
    async with identity_buses(own_nats, ("matters", "prequal")) as made:
        yield made


async def relay_everything(relay: OutboxRelay) -> None:
    while await relay.publish_pending():
        pass


async def current_versions(matters_db: Database) -> dict[str, int]:
    async with matters_db.session() as session:
        return dict((await session.execute(select(MatterVersion.code, MatterVersion.version)
                                           .where(MatterVersion.is_current.is_(True)))).all())


async def handled_ids(prequal_db: Database, ids: set[str]) -> set[str]:
    async with prequal_db.session() as session:
        return set((await session.scalars(text("SELECT event_id FROM processed_events WHERE consumer = :c "
                                               "AND event_id = ANY(:ids)"), {"c": CONSUMER, "ids": list(ids)})).all())


async def requirements_kept(prequal_db: Database) -> dict[tuple[str, int], Any]:
    async with prequal_db.session() as session:
        return {(r.code, r.version): (r.requirements, r.seen_at)
                for r in (await session.scalars(select(MatterRequirementsRow))).all()}


async def test_a_fresh_prequal_learns_every_matter_after_the_announcements_aged_out(
        js: nats.js.JetStreamContext, buses: dict[str, JetStreamBus], matters_db: Database, prequal_db: Database) -> None:
    assert limits_of(STREAM) == EVENT_STREAM_LIMITS  # the catalogue's stream is bounded by age like the others
    # The shipped catalogue (announced by revision 0009) and an imported matter with a second version.
    await catalogue.import_matters(matters_db, OPS, [public_service_item("LR-GG-981")], dry_run=False, idempotency_key=None)
    site = {"key": "site_address", "label": "养护地点", "label_en": "Site", "type": "address", "required": True}
    v2 = public_service_item("LR-GG-981", fields=[*public_service_item("LR-GG-981")["fields"], site])
    report = await catalogue.import_matters(matters_db, OPS, [v2], dry_run=False, idempotency_key=None)
    assert report.results[0].outcome == "new_version"
    current = await current_versions(matters_db)
    assert current["LR-GG-981"] == 2 and len(current) > 10

    assert stream_name("matters") == STREAM
    await buses["matters"].ensure_stream(STREAM, stream_subjects("matters"))  # as svc-matters does at start
    relay = OutboxRelay(matters_db, buses["matters"])
    await relay_everything(relay)
    declared = declared_config(STREAM, stream_subjects("matters"))
    original = (await js.stream_info(STREAM)).state.messages
    assert original == len(current) + 1  # every shipped version 1, and the import's two versions

    # Age them out for real: the stream's max age shortened to a second, then back to the declared 7 days.
    info = await js.stream_info(STREAM)
    await js.update_stream(replace(info.config, max_age=1.0, duplicate_window=1.0))

    async def aged_out() -> bool:
        return (await js.stream_info(STREAM)).state.messages == 0
    await until(aged_out, "the original announcements aging out", within=30)
    await js.update_stream(replace((await js.stream_info(STREAM)).config, max_age=declared.max_age,
                                   duplicate_window=declared.duplicate_window))
    assert (await js.stream_info(STREAM)).config.max_age == pytest.approx(7 * DAY)

    # svc-matters' daily round (wall clock frozen: the round is the day's), then a second replica's try.
    job = catalogue.reannouncement_job(DAY)
    with time_machine.travel(NOON, tick=False):
        assert await run_tick(matters_db, JOB, job, tick_seconds=DAY) == len(current)
        assert await run_tick(matters_db, JOB, job, tick_seconds=DAY) is None  # the round is taken
    await relay_everything(relay)
    day = int(NOON.timestamp() // DAY)
    ids = {MatterPublished.announcement_id_for(code, version, day) for code, version in current.items()}
    assert len(ids) == len(current) and not ids & {MatterPublished.event_id_for(c, v) for c, v in current.items()}
    assert (await js.stream_info(STREAM)).state.messages == len(current)

    # svc-prequal installed from scratch: an empty database, its durable created now from the stream's start.
    consumer = asyncio.create_task(EventConsumer(prequal_db, buses["prequal"], "prequal", CATALOGUE).run())
    try:
        async def all_handled() -> bool:
            return await handled_ids(prequal_db, ids) == ids
        await until(all_handled, "svc-prequal handling every announcement", within=30)
        kept = await requirements_kept(prequal_db)
        async with matters_db.session() as session:
            for code, version in current.items():
                row = await session.get(MatterVersion, (code, version))
                assert kept[(code, version)][0] == catalogue.requirements_of(row).model_dump(mode="json")
        assert set(kept) == set(current.items())  # current versions only: LR-GG-981's first is superseded
        async with prequal_db.session() as session:
            latest = await prefill.latest_requirements(session, "LR-GG-981")
        assert latest.version == 2 and "site_address" in [f.key for f in latest.fields]

        # The same round again (two replicas at the boundary) writes nothing: its ids are taken.
        async with matters_db.transaction() as session:
            assert await catalogue.reannounce_current(session, day) == 0
        # The next round is new events, which svc-prequal handles as versions it already keeps: nothing written.
        async with matters_db.transaction() as session:
            assert await catalogue.reannounce_current(session, day + 1) == len(current)
        await relay_everything(relay)
        tomorrow = {MatterPublished.announcement_id_for(code, version, day + 1) for code, version in current.items()}

        async def tomorrow_handled() -> bool:
            return await handled_ids(prequal_db, tomorrow) == tomorrow
        await until(tomorrow_handled, "svc-prequal handling the next round", within=30)
        assert await requirements_kept(prequal_db) == kept  # same documents, same seen_at: not rewritten
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)


@pytest.mark.parametrize("seconds", ["0", "-1", str(3.5 * DAY + 1)])
def test_an_interval_that_would_let_the_catalogue_age_out_is_refused_at_start(seconds: str, monkeypatch) -> None:
    monkeypatch.setenv("MATTERS_CATALOGUE_ANNOUNCE_INTERVAL_SECONDS", seconds)
    with pytest.raises(ValidationError, match="catalogue_announce_interval_seconds"):
        MattersSettings()


def test_the_interval_defaults_to_a_day_and_may_be_up_to_half_the_stream_age(monkeypatch) -> None:
    assert MattersSettings().catalogue_announce_interval_seconds == DAY
    monkeypatch.setenv("MATTERS_CATALOGUE_ANNOUNCE_INTERVAL_SECONDS", str(3.5 * DAY))
    assert MattersSettings().catalogue_announce_interval_seconds == 3.5 * DAY
