"""svc-notifications' intake and delivery against a real database and real local channel servers
(SMTP: aiosmtpd; SMS and push: an HTTP server), with the clock frozen where the time of day matters:
quiet hours defer SMS and push (never drop them), failures are retried with a doubling wait, a refusal
is given up at once, an event made into a notification twice queues nothing more, and the person's
preferences and contacts decide the channels."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import time_machine
from notification_servers import HttpGateway, SmtpServer
from sqlalchemy import delete, select, text

from kit.calendar import SHANGHAI
from kit.contracts import ApplicationStatusChanged
from kit.contracts.booking import BookingExpired, BookingPromoted
from kit.contracts.licences import LicenceExpiring
from kit.events.consumer import handle_batch_once
from notifications.events import SUBSCRIPTIONS
from notifications.models import Delivery, Notification, Recipient
from notifications.service import channels, delivery, intake
from notifications.service.channels import EmailChannel, HttpChannel, Outgoing, Refused, RetryLater
from notifications.settings import Settings
from support import scratch_service_database


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "notifications", "hno_unit_delivery") as db:
        yield db


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http():
    server = HttpGateway().start()
    yield server
    server.stop()


@pytest.fixture
def settings(smtp, http) -> Settings:
    configured = Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, sms_url=http.url("/sms"),
                          push_url=http.url("/push"), channel_token="unit-token", quiet_hours="22:00-08:00",
                          retry_base_seconds=30, retry_max_seconds=600, delivery_max_attempts=4)
    channels.configure(configured)
    return configured


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


async def notify(database, subject: str, *, email: str | None = "li.si@example.org", phone: str | None = "13900001111",
                 chosen: dict | None = None) -> tuple[str, int | None]:
    """A licence-expiry event for ``subject`` (who has these contacts and choices) taken in by the intake."""
    key = intake.person(subject)
    event = LicenceExpiring(licence_id=f"lic-{uuid.uuid4().hex[:8]}", licence_number="沪绿许2026第0009号",
                            licence_type="临时占用绿地许可", holder_subject=subject, valid_until=at(31, 0),
                            days_before=30, message_zh="三十天后到期", message_en="expires in 30 days").envelope()
    async with database.transaction() as session:
        if await session.get(Recipient, key) is None:
            session.add(Recipient(recipient=key, email=email, phone=phone, channels=chosen or {},
                                  updated_at=dt.datetime.now(dt.UTC)))
            await session.flush()
        made = await intake.deliver(session, event, intake.from_expiring(event))
    return event.id, made


async def rows(database, event_id: str) -> dict[str, Delivery]:
    async with database.session() as session:
        return {d.channel: d for d in (await session.scalars(select(Delivery).where(Delivery.event_id == event_id))).all()}


async def tick(database, settings: Settings) -> int:
    async with database.transaction() as session:
        return await delivery.send_due(session, dt.datetime.now(dt.UTC), channels.configured_channels(settings), settings)


@pytest.fixture(autouse=True)
async def clean(database):
    async with database.transaction() as session:
        for table in (Delivery, Notification, Recipient):
            await session.execute(delete(table))


async def test_quiet_hours_defer_sms_and_push_to_the_morning_and_mail_goes_at_once(database, settings, smtp,
                                                                                 http) -> None:
    with time_machine.travel(at(7, 23, 15), tick=False):
        event_id, _ = await notify(database, "u-quiet")
        assert await tick(database, settings) == 1
        queued = await rows(database, event_id)
        assert queued["email"].status == "sent" and len(smtp.to("li.si@example.org")) >= 1
        for channel in ("sms", "push"):
            assert queued[channel].status == "pending" and queued[channel].last_error == "quiet_hours"
            assert queued[channel].next_attempt_at == at(8, 8)  # deferred to 08:00, not dropped
            assert queued[channel].attempts == 0
        assert not [r for r in http.requests() if r.body["id"].startswith(event_id)]
    with time_machine.travel(at(8, 7, 59), tick=False):
        assert await tick(database, settings) == 0  # still quiet, and not due before 08:00 anyway
    with time_machine.travel(at(8, 8, 0), tick=False):
        assert await tick(database, settings) == 2
    sent = await rows(database, event_id)
    assert {c: d.status for c, d in sent.items()} == {"email": "sent", "sms": "sent", "push": "sent"}
    sms = [r for r in http.requests("/sms") if r.body["id"] == f"{event_id}-sms"]
    assert len(sms) == 1 and sms[0].body["to"] == "13900001111" and sms[0].body["text_en"] == "expires in 30 days"


async def test_failures_are_retried_with_a_doubling_wait_and_given_up_after_the_last_attempt(database, settings,
                                                                                          http) -> None:
    with time_machine.travel(at(9, 10), tick=False):
        event_id, _ = await notify(database, "u-retry", email=None, chosen={"licence_expiring": {"push": False}})
        assert set(await rows(database, event_id)) == {"sms"}
        http.fail(4, 503)
        await tick(database, settings)
    waits = []
    moment = at(9, 10)
    for attempt in range(1, 4):
        d = (await rows(database, event_id))["sms"]
        assert d.status == "pending" and d.attempts == attempt and d.last_error == "http 503"
        waits.append((d.next_attempt_at - moment).total_seconds())
        moment = d.next_attempt_at
        with time_machine.travel(moment, tick=False):
            await tick(database, settings)
    assert waits == [30, 60, 120]
    d = (await rows(database, event_id))["sms"]
    assert d.status == "failed" and d.attempts == 4  # delivery_max_attempts
    with time_machine.travel(moment + dt.timedelta(hours=1), tick=False):
        assert await tick(database, settings) == 0  # a failed delivery is not tried again
    assert (await rows(database, event_id))["sms"].attempts == 4


async def test_a_refusal_is_not_retried(database, settings, http) -> None:
    with time_machine.travel(at(9, 11), tick=False):
        event_id, _ = await notify(database, "u-refused", email=None, chosen={"licence_expiring": {"push": False}})
        http.fail(1, 400)
        await tick(database, settings)
    d = (await rows(database, event_id))["sms"]
    assert d.status == "failed" and d.attempts == 1 and d.last_error == "http 400"


async def test_an_event_taken_in_twice_makes_one_notification_and_one_delivery_per_channel(database,
                                                                                        settings) -> None:
    event = LicenceExpiring(licence_id="lic-twice", licence_number="N1", licence_type="T", holder_subject="u-twice",
                            valid_until=at(31, 0), days_before=7, message_zh="七天后到期",
                            message_en="expires in 7 days").envelope()
    async with database.transaction() as session:
        session.add(Recipient(recipient="subject:u-twice", email="w@example.org", phone=None, channels={},
                              updated_at=dt.datetime.now(dt.UTC)))
    made = []
    for _ in range(2):
        async with database.transaction() as session:
            made.append(await intake.deliver(session, event, intake.from_expiring(event)))
    assert made[0] is not None and made[1] is None
    async with database.session() as session:
        assert len((await session.scalars(select(Notification).where(Notification.event_id == event.id))).all()) == 1
    assert set(await rows(database, event.id)) == {"email", "push"}  # no phone: no SMS


async def test_switched_off_or_removed_after_queuing_means_not_sent(database, settings, http) -> None:
    with time_machine.travel(at(9, 12), tick=False):
        event_id, _ = await notify(database, "u-changed")
        async with database.transaction() as session:
            recipient = await session.get(Recipient, "subject:u-changed")
            assert recipient is not None
            recipient.phone = None
            recipient.channels = {"licence_expiring": {"push": False}}
        await tick(database, settings)
    assert {c: d.status for c, d in (await rows(database, event_id)).items()} == {
        "email": "sent", "sms": "skipped", "push": "skipped"}


async def test_the_adapters_speak_to_real_servers(settings, smtp, http) -> None:
    message = Outgoing(key="evt-1-email", kind="ticket_answered", title_zh="帮办人员已答复", title_en="Answered",
                       body_zh="工单 t1 有新的答复", body_en="Ticket t1 has a new answer", ref_type="ticket", ref_id="t1")
    await EmailChannel(settings).send("wang.wu@example.org", message)
    mail = smtp.to("wang.wu@example.org")[-1]
    assert mail["Subject"] == "帮办人员已答复 / Answered" and "工单 t1 有新的答复" in mail.get_content()
    assert mail["Message-ID"] == "<evt-1-email@lvrong.notifications>"
    await HttpChannel("push", http.url("/push"), settings).send("subject:u-1", message)
    request = http.requests("/push")[-1]
    assert request.body == {"id": "evt-1-email", "to": "subject:u-1", "kind": "ticket_answered",
                            "title_zh": "帮办人员已答复", "title_en": "Answered", "text_zh": "工单 t1 有新的答复",
                            "text_en": "Ticket t1 has a new answer", "ref": {"type": "ticket", "id": "t1"}}
    assert request.headers["Authorization"] == "Bearer unit-token" and request.headers["Idempotency-Key"] == "evt-1-email"
    http.fail(1, 429)
    with pytest.raises(RetryLater):
        await HttpChannel("sms", http.url("/sms"), settings).send("13900001111", message)
    http.fail(1, 422)
    with pytest.raises(Refused):
        await HttpChannel("sms", http.url("/sms"), settings).send("13900001111", message)
    closed = Settings(smtp_host="127.0.0.1", smtp_port=1, channel_timeout_seconds=2)
    with pytest.raises(RetryLater):
        await EmailChannel(closed).send("wang.wu@example.org", message)


def test_quiet_hours_across_midnight_and_within_a_day() -> None:
    night = (dt.time(22), dt.time(8))
    assert delivery.in_quiet_hours(at(7, 22), night) and delivery.in_quiet_hours(at(8, 7, 59), night)
    assert not delivery.in_quiet_hours(at(8, 8), night) and not delivery.in_quiet_hours(at(7, 21, 59), night)
    assert delivery.quiet_hours_end(at(7, 23), night) == at(8, 8)
    assert delivery.quiet_hours_end(at(8, 3), night) == at(8, 8)
    lunch = (dt.time(12), dt.time(13))
    assert delivery.in_quiet_hours(at(7, 12, 30), lunch) and not delivery.in_quiet_hours(at(7, 13), lunch)
    assert not delivery.in_quiet_hours(at(7, 23), None)


async def test_a_batch_of_status_changes_is_taken_in_once_in_one_transaction(database) -> None:
    """The consumer's batch handler: only the returned application makes a notification (one, whether the
    event comes twice in the batch or again in a later one); the other steps make nothing."""
    subscription = next(s for s in SUBSCRIPTIONS if s.name == "applications")
    assert subscription.batch_handler is not None
    subject = f"u-{uuid.uuid4().hex[:8]}"

    def changed(app: str, from_status: str | None, to_status: str) -> ApplicationStatusChanged:
        return ApplicationStatusChanged(application_id=app, matter_code="LR-XK-002", applicant_subject=subject,
                                        from_status=from_status, to_status=to_status, actor="svc-prequal",
                                        reason="缺少材料", occurred_at=dt.datetime.now(dt.UTC))

    passed, returned = uuid.uuid4().hex, uuid.uuid4().hex
    batch = [changed(passed, None, "submitted").envelope(subject=passed),
             changed(returned, None, "submitted").envelope(subject=returned),
             changed(passed, "submitted", "prereviewed").envelope(subject=passed),
             changed(returned, "submitted", "returned").envelope(subject=returned)]
    batch.append(batch[-1])
    handled = await handle_batch_once(database, "notifications-applications", batch, subscription.batch_handler)
    assert [e.id for e in handled] == [e.id for e in batch[:4]]
    assert await handle_batch_once(database, "notifications-applications", batch[2:], subscription.batch_handler) == []
    async with database.session() as session:
        made = (await session.scalars(select(Notification).where(Notification.recipient == intake.person(subject)))).all()
    assert [(n.kind, n.ref_id, n.event_id) for n in made] == [("application_returned", returned, batch[3].id)]


async def test_a_batch_of_returned_applications_gives_each_recipient_their_own_channels_and_event(database,
                                                                                               settings) -> None:
    """The batch path (one statement per table) queues for each notification exactly the channels its
    recipient wants and has an address for, and announces each notification once."""
    subscription = next(s for s in SUBSCRIPTIONS if s.name == "applications")
    assert subscription.batch_handler is not None
    everything, nobody_known, mail_off = (f"u-{uuid.uuid4().hex[:8]}" for _ in range(3))
    async with database.transaction() as session:
        session.add_all([
            Recipient(recipient=intake.person(everything), email="a@example.org", phone="13900002222", channels={},
                      updated_at=dt.datetime.now(dt.UTC)),
            Recipient(recipient=intake.person(mail_off), email="c@example.org", phone=None,
                      channels={"application_returned": {"email": False}}, updated_at=dt.datetime.now(dt.UTC))])
    batch = [ApplicationStatusChanged(application_id=uuid.uuid4().hex, matter_code="LR-XK-002", applicant_subject=who,
                                      from_status="submitted", to_status="returned", actor="svc-prequal",
                                      reason="缺少材料", occurred_at=dt.datetime.now(dt.UTC)).envelope()
             for who in (everything, nobody_known, mail_off, everything)]
    handled = await handle_batch_once(database, "notifications-applications", batch, subscription.batch_handler)
    assert len(handled) == 4
    assert {e.id: set(await rows(database, e.id)) for e in batch} == {
        batch[0].id: {"email", "sms", "push"}, batch[1].id: {"push"}, batch[2].id: {"push"},
        batch[3].id: {"email", "sms", "push"}}
    async with database.session() as session:
        made = {n.event_id: n for n in (await session.scalars(
            select(Notification).where(Notification.event_id.in_([e.id for e in batch])))).all()}
        announced = (await session.execute(text(
            "SELECT envelope->'data'->>'notification_id', envelope->>'subject' FROM outbox "
            "WHERE envelope->>'type' = 'lvrong.notifications.notification.created' "
            "AND (envelope->'data'->>'notification_id')::bigint = ANY(:ids)"), {"ids": [n.id for n in made.values()]})).all()
    assert {e.id: made[e.id].recipient for e in batch} == {e.id: intake.person(e.data["applicant_subject"]) for e in batch}
    assert sorted(announced) == sorted((str(n.id), n.recipient) for n in made.values())
    # Delivered again (a redelivery after a lost ack): nothing more is made, queued or announced.
    assert await handle_batch_once(database, "notifications-applications", batch, subscription.batch_handler) == []
    # Even past the handled-event record (a batch retried after its ids were pruned): the notifications' own
    # unique event id makes the intake add nothing.
    async with database.transaction() as session:
        await intake.on_status_changes(session, batch)
    assert {e.id: set(await rows(database, e.id)) for e in batch}[batch[0].id] == {"email", "sms", "push"}
    async with database.session() as session:
        assert len((await session.scalars(select(Notification).where(
            Notification.event_id.in_([e.id for e in batch])))).all()) == 4
        assert (await session.execute(text("SELECT count(*) FROM outbox WHERE envelope->>'type' = "
                                           "'lvrong.notifications.notification.created' AND "
                                           "(envelope->'data'->>'notification_id')::bigint = ANY(:ids)"),
                                      {"ids": [n.id for n in made.values()]})).scalar() == 4


def booking_facts(channel: str, booked_by: str) -> dict:
    return {"booking_id": f"bk-{uuid.uuid4().hex[:8]}", "code": "K7Q2M9", "venue_id": "sh-zoo", "day": dt.date(2026, 12, 9),
            "slot_start": "09:00", "channel": channel, "booked_by": booked_by, "at": at(8, 7)}


async def test_the_waiting_lists_outcome_reaches_the_family_once_and_a_partners_bookings_are_the_partners(
        database, settings, smtp) -> None:
    """候补成功 and 候补未成功 (svc-booking's promoted and expired) become a notification in the inbox of the person who
    booked with our login, with the venue, day, slot and code, in Chinese and English; taken in twice it is one. A
    booking a partner province's app made is told by that app: nothing here."""
    async with database.transaction() as session:
        session.add(Recipient(recipient=intake.person("u-family"), email="family@example.org", phone=None, channels={},
                              updated_at=dt.datetime.now(dt.UTC)))
    promoted = BookingPromoted(**booking_facts("web", "u-family"), freed_by="bk-gone", venue_name="上海动物园").envelope()
    expired = BookingExpired(**booking_facts("web", "u-family"), venue_name="上海动物园").envelope()
    partners = BookingExpired(**booking_facts("partner:JS", "partner-js"), venue_name="上海动物园").envelope()
    subscription = next(s for s in SUBSCRIPTIONS if s.name == "booking-outcomes")
    assert set(subscription.subjects) == {promoted.type, expired.type}
    for event in (promoted, expired, partners, promoted):  # the promotion taken in twice
        async with database.transaction() as session:
            await subscription.handler(session, event)
    async with database.session() as session:
        made = (await session.scalars(select(Notification).order_by(Notification.kind))).all()
    assert [(n.recipient, n.kind, n.ref_type) for n in made] == [
        ("subject:u-family", "booking_expired", "booking"), ("subject:u-family", "booking_promoted", "booking")]
    expired_note, promoted_note = made
    assert promoted_note.title_zh == "候补成功：上海动物园" and promoted_note.title_en == "Off the waiting list: 上海动物园"
    assert "2026-12-09 09:00" in promoted_note.body_zh and "K7Q2M9" in promoted_note.body_zh
    assert expired_note.title_zh == "候补未成功：上海动物园" and "未获得名额" in expired_note.body_zh
    assert "ended without a place" in expired_note.body_en
    assert sorted(d.channel for d in (await rows(database, promoted.id)).values()) == ["email", "push"]  # no phone: no SMS
    assert await rows(database, partners.id) == {}

