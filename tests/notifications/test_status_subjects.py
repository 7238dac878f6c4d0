"""svc-notifications receives only the status changes that notify (issue 18): svc-matters publishes each
status change on ``lvrong.matters.application.status_changed.<to_status>``, and the durable of
svc-notifications filters on the notifying statuses' subjects (derived from the intake's own list) and the
bare subject of the events published before. On real PostgreSQL and a NATS of this module's own with the
platform's identities: svc-matters' relay publishes as ``matters``, each consumer reads as its service.

The evidence that a status change never reached svc-notifications is the server's own account of its
durable (what it delivered, nothing pending or unacknowledged), not a sleep."""
from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from sqlalchemy import text

from kit.contracts import ApplicationStatusChanged
from kit.db import Database
from kit.devstack import LocalNats
from kit.events import CloudEvent, ConsumerSpec, EventConsumer, JetStreamBus, OutboxRelay, add_event
from kit.events.bus import ORDERING_KEY_HEADER
from kit.events.consumer import durable_name
from kit.events.deadletters import DeadLetters
from kit.events.envelope import stream_name, stream_subjects
from kit.events.streams import subject_matches
from kit.natsauth import ops_identity, platform_buses
from matters.schemas import ApplicationStatus
from notifications.events import SUBSCRIPTIONS
from notifications.service import intake
from support import identity_buses, scratch_service_database, until

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_test") + "_nfsubj"
STREAM = stream_name("matters")
BARE = ApplicationStatusChanged.event_type
APPLICATIONS = next(s for s in SUBSCRIPTIONS if s.name == "applications")
DURABLE = durable_name("notifications", APPLICATIONS)


def status_change(to_status: str, *, from_status: str = "submitted", app: str | None = None) -> ApplicationStatusChanged:
    return ApplicationStatusChanged(
        application_id=app or f"app-{uuid.uuid4().hex[:10]}", matter_code="LR-XK-002", applicant_subject="u-nf-person",
        from_status=from_status, to_status=to_status, action="test", actor="u-officer", reason="请补充材料",
        occurred_at=datetime.now(UTC))


# --- the subscription follows the intake's list ------------------------------------------------------------

def test_the_subscription_covers_exactly_the_statuses_that_make_a_notification() -> None:
    """For every status an application can reach: a change to it makes a notification exactly when its
    subject passes the durable's filter. A notifying status added to the intake without its subject (or
    a subject left for a status that no longer notifies) fails here."""
    assert intake.NOTIFYING_STATUSES  # not vacuous
    for status in ApplicationStatus:
        change = status_change(status.value, from_status="under_review" if status.value != "under_review" else "accepted")
        notifies = intake.from_status_change(change.envelope(subject=change.application_id)) is not None
        received = any(subject_matches(f, change.nats_subject()) for f in APPLICATIONS.subjects)
        assert notifies == received == (status.value in intake.NOTIFYING_STATUSES), status
    # Events from before the status was in the subject may be of any status: the bare subject stays.
    assert BARE in APPLICATIONS.subjects
    assert sorted(APPLICATIONS.subjects) == sorted(
        [BARE, *(f"{BARE}.{s}" for s in intake.NOTIFYING_STATUSES)])


def test_a_status_change_names_its_status_in_its_subject_and_keeps_its_type() -> None:
    change = status_change("returned")
    assert change.nats_subject() == f"{BARE}.returned"
    assert change.envelope().type == BARE  # the CloudEvents type every handler dispatches on
    assert ApplicationStatusChanged.subjects() == [BARE, f"{BARE}.>"]
    with pytest.raises(ValueError, match="cannot name a NATS subject token"):
        status_change("a.b").nats_subject()
    with pytest.raises(ValueError, match="cannot name a NATS subject token"):
        status_change("*").nats_subject()


def test_every_other_consumer_of_status_changes_subscribes_to_all_of_them() -> None:
    others = [(bus.service, c) for bus in platform_buses() for c in bus.consumes
              if c.producer == "matters" and any(subject_matches(s, BARE) for s in c.subjects)
              and c.durable != DURABLE]
    assert {c.durable for _, c in others} == {"prequal-status-changes", "licences-matters-applications"}
    for _, consumes in others:
        assert {BARE, f"{BARE}.>"} <= set(consumes.subjects), consumes


# --- on the real bus ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def databases(servers) -> AsyncIterator[dict[str, Database]]:
    async with (scratch_service_database(servers.database_url, "matters", PREFIX) as matters,
                scratch_service_database(servers.database_url, "notifications", PREFIX) as notifications):
        yield {"matters": matters, "notifications": notifications}


@pytest.fixture
async def buses(own_nats: LocalNats) -> AsyncIterator[dict[str, JetStreamBus]]:
    async with identity_buses(own_nats, ("matters", "notifications", "prequal", "licences")) as made:
        yield made


async def handled(database: Database) -> set[str]:
    async with database.session() as session:
        return set((await session.scalars(text("SELECT event_id FROM processed_events WHERE consumer = :c"),
                                          {"c": DURABLE})).all())


async def notified(database: Database) -> set[str]:
    async with database.session() as session:
        return set((await session.scalars(text("SELECT event_id FROM notifications"))).all())


async def test_notifications_never_receive_a_status_change_that_does_not_notify(
        own_nats: LocalNats, js: nats.js.JetStreamContext, buses: dict[str, JetStreamBus],
        databases: dict[str, Database]) -> None:
    matters, matters_db, notifications_db = buses["matters"], databases["matters"], databases["notifications"]
    await matters.ensure_stream(STREAM, stream_subjects("matters"))  # as svc-matters does at start

    # The durable as the release before this one left it: filtered on the bare subject only, with events
    # published there before (a returned one, which notifies, and an accepted one, which does not).
    before = ConsumerSpec(stream=STREAM, durable=DURABLE, subjects=[BARE], stream_subjects=stream_subjects("matters"))
    await (await buses["notifications"]._ensure_consumer(before)).unsubscribe()
    legacy = {}
    for status in ("returned", "accepted"):
        change = status_change(status)
        event = change.envelope(subject=change.application_id)
        await matters.publish(BARE, event.to_json_bytes(), msg_id=event.id,
                              headers={ORDERING_KEY_HEADER: change.application_id})
        legacy[status] = event

    # This release: every step of two applications through svc-matters' outbox and relay.
    steps = [("submitted", "prereviewed"), ("prereviewed", "accepted"), ("accepted", "under_review"),
             ("under_review", "correction_requested"), ("correction_requested", "under_review"),
             ("under_review", "approved"), ("submitted", "returned")]
    written: list[CloudEvent] = []
    async with matters_db.transaction() as session:
        for n, (from_status, to_status) in enumerate(steps):
            app = "app-nf-a" if n < 6 else "app-nf-b"
            written.append(await add_event(session, status_change(to_status, from_status=from_status, app=app),
                                           subject=app))
    relay = OutboxRelay(matters_db, matters)
    while await relay.publish_pending():
        pass
    counts = (await js.stream_info(STREAM, subjects_filter=f"{BARE}.>")).state.subjects or {}
    assert counts == {f"{BARE}.prereviewed": 1, f"{BARE}.accepted": 1, f"{BARE}.under_review": 2,
                      f"{BARE}.correction_requested": 1, f"{BARE}.approved": 1, f"{BARE}.returned": 1}

    notifying = {e.id for e in written if e.data["to_status"] in intake.NOTIFYING_STATUSES}
    assert len(notifying) == 2
    wanted = notifying | {e.id for e in legacy.values()}

    consumer = asyncio.create_task(EventConsumer(notifications_db, buses["notifications"], "notifications",
                                                 APPLICATIONS).run())
    try:
        async def through() -> bool:
            # Its filter brought to this release's, then nothing it matches left undelivered or unacknowledged.
            info = await js.consumer_info(STREAM, DURABLE)
            return (sorted(info.config.filter_subjects or []) == sorted(APPLICATIONS.subjects)
                    and info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.consumer_seq > 0)
        await until(through, "svc-notifications' durable through the stream", within=30)
        info = await js.consumer_info(STREAM, DURABLE)
        # The server delivered it the two legacy events and the two notifying ones, nothing else.
        assert info.delivered.consumer_seq == len(wanted) == 4
        assert info.num_redelivered == 0
        assert await handled(notifications_db) == wanted
        # The legacy returned one and both notifying ones made a notification; the legacy accepted one none.
        assert await notified(notifications_db) == notifying | {legacy["returned"].id}

        # A dead letter keeps the status subject it came on; ops replay it there as ops-notifications (whose
        # permissions are the consumer's subjects) and the durable receives it again: handled once already.
        original = await js.get_msg(STREAM, seq=1, subject=f"{BARE}.returned", next=True)
        assert original.seq is not None and original.data is not None
        await buses["notifications"]._publish_dead_letter(
            DURABLE, original_subject=f"{BARE}.returned", original_stream=STREAM, original_sequence=original.seq,
            data=original.data, headers=original.headers, reason="test")
        letters = DeadLetters(buses["notifications"], [DURABLE], ops_client=own_nats.client(ops_identity("notifications")))
        (letter,), _ = await letters.list()
        assert letter.original_subject == f"{BARE}.returned"
        await letters.replay(letter.sequence)

        async def replay_handled() -> bool:
            info = await js.consumer_info(STREAM, DURABLE)
            return info.delivered.consumer_seq == len(wanted) + 1 and info.num_pending == 0 and info.num_ack_pending == 0
        await until(replay_handled, "the replayed dead letter delivered and acknowledged", within=30)
        assert await handled(notifications_db) == wanted
        assert await notified(notifications_db) == notifying | {legacy["returned"].id}
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)

    # The other consumers of status changes still get every one, old and new (and the replay), as their own
    # identities.
    everything = len(written) + len(legacy) + 1
    for service, name in (("prequal", "status-changes"), ("licences", "matters-applications")):
        durable = f"{service}-{name}"
        subjects = next(c.subjects for bus in platform_buses() if bus.service == service
                        for c in bus.consumes if c.durable == durable)
        spec = ConsumerSpec(stream=STREAM, durable=durable, subjects=list(subjects),
                            stream_subjects=stream_subjects("matters"))
        await (await buses[service]._ensure_consumer(spec)).unsubscribe()
        assert (await js.consumer_info(STREAM, durable)).num_pending == everything, durable
