"""A bus only the platform can write to (issue 14): the suite's NATS authenticates every client and lets
each service publish only its own subjects; consumers refuse an event whose source is not the
producer of its subject.

The attack being closed: one JetStream publish of a forged ``lvrong.matters.application.status_changed``
(action approve) made svc-licences issue a licence for an application nobody had accepted.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import nats
import pytest
from nats.js.errors import NotFoundError

from kit.contracts import ApplicationStatusChanged
from kit.events.envelope import DEAD_LETTER_STREAM, stream_name
from kit.natsauth import NatsClient
from support import all_materials, bearer, connect_nats, eventually, matter, valid_form, wait_status

SUBJECT = ApplicationStatusChanged.event_type
# Where svc-matters publishes an approval now (the subject names the status); the bare subject is still
# consumed (events from before), so a forgery is tried on both.
APPROVED_SUBJECT = ApplicationStatusChanged.subject_below("approved")
STATUS_CHANGES = f"{SUBJECT}.>"
MATTERS_STREAM = stream_name("matters")
LICENCES_CONSUMER = "licences-matters-applications"  # svc-licences' one consumer of svc-matters' stream


def forged_approval(app_id: str, *, source: str = "/lvrong/matters") -> tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    now = dt.datetime.now(dt.UTC).isoformat()
    event = ApplicationStatusChanged(
        application_id=app_id, matter_code="LR-XK-008", applicant_subject="u-applicant-person",
        from_status="submitted", to_status="approved", action="approve", actor="u-reviewer", occurred_at=now,
    ).envelope(subject=app_id, event_id=event_id)
    return event_id, event.model_copy(update={"source": source}).to_json_bytes()


def identity(suite: Any, name: str) -> NatsClient:
    return NatsClient.from_directory(suite.env["NATS_URL"], suite.env["NATS_CREDENTIALS_DIR"], name)


async def submitted_application(client: httpx.AsyncClient, token: Any, suite: Any) -> str:
    """A licence matter's application, submitted and known to svc-licences, never accepted."""
    tok = await token("applicant-person")
    m = await matter(client, tok, "LR-XK-008")
    r = await client.post("/v1/applications", json={"matter_code": "LR-XK-008", "form": valid_form(m, 1408),
                                                    "materials": await all_materials(client, tok, m)},
                          headers=bearer(tok))
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    await wait_status(client, tok, app_id, {"prereviewed", "returned"})

    async def known_to_licences() -> int:
        conn = await suite.db("licences")
        try:
            return await conn.fetchval("SELECT count(*) FROM known_applications WHERE application_id = $1", app_id)
        finally:
            await conn.close()

    await eventually(known_to_licences, lambda n: n == 1, what="svc-licences has read the submission")
    return app_id


async def licences_of(suite: Any, app_id: str) -> int:
    conn = await suite.db("licences")
    try:
        return await conn.fetchval("SELECT count(*) FROM licences WHERE application_id = $1", app_id)
    finally:
        await conn.close()


async def stored_ids(js: Any, after: int, subject: str = SUBJECT) -> set[str]:
    """The event ids of the status changes (on ``subject``, a filter) svc-matters' stream stored after ``after``."""
    found, seq = set(), after + 1
    while True:
        try:
            msg = await js.get_msg(MATTERS_STREAM, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return found
        found.add(msg.headers.get("Nats-Msg-Id") if msg.headers else None)
        seq = msg.seq + 1


async def test_no_client_but_svc_matters_can_publish_its_status_changes_and_nothing_is_issued(
        suite, client, token) -> None:
    assert suite.env.get("NATS_CREDENTIALS_DIR"), "needs the suite's own authenticated NATS: do not set NATS_URL"
    app_id = await submitted_application(client, token, suite)
    admin = await connect_nats(suite.nats_admin)
    js = admin.jetstream(timeout=5)
    before = (await js.stream_info(MATTERS_STREAM)).state.last_seq
    attempts: list[str] = []

    # Without credentials: the server refuses the connection itself, so neither a core nor a JetStream
    # publish can be attempted.
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(suite.env["NATS_URL"], allow_reconnect=False, connect_timeout=3)

    # As svc-helpdesk (valid credentials, another service's subject): both kinds of publish refused.
    errors: list[Exception] = []

    async def record(e: Exception) -> None:
        errors.append(e)

    helpdesk = await connect_nats(identity(suite, "helpdesk"), allow_reconnect=False, error_cb=record)
    try:
        for subject in (SUBJECT, APPROVED_SUBJECT):
            core_id, core_forgery = forged_approval(app_id)
            await helpdesk.publish(subject, core_forgery, headers={"Nats-Msg-Id": core_id})
            await helpdesk.flush()
            js_id, js_forgery = forged_approval(app_id)
            with pytest.raises(nats.errors.TimeoutError):  # no stream acknowledges what the server dropped
                await helpdesk.jetstream(timeout=2).publish(subject, js_forgery, headers={"Nats-Msg-Id": js_id})
            attempts += [core_id, js_id]
        refusals = [str(e) for e in errors if "permissions violation" in str(e).lower()]
        assert len(refusals) == 4, errors
        assert sum(f'publish to "{SUBJECT}"' in r for r in refusals) == 2, errors
        assert sum(f'publish to "{APPROVED_SUBJECT}"' in r for r in refusals) == 2, errors
        assert helpdesk.is_connected  # refused, not disconnected: the helpdesk keeps its own work going
    finally:
        await helpdesk.close()

    # As svc-matters (the right credentials) but claiming another source: stored, then refused by
    # every consumer of the subject — svc-licences' among them — and dead-lettered, never applied.
    wrong_id, wrong_source = forged_approval(app_id, source="/lvrong/helpdesk")
    matters = await connect_nats(identity(suite, "matters"))
    try:
        await matters.jetstream(timeout=5).publish(APPROVED_SUBJECT, wrong_source, headers={"Nats-Msg-Id": wrong_id})
    finally:
        await matters.close()

    ops = await token("ops")

    async def licences_dead_letters() -> list[dict[str, Any]]:
        r = await client.get("/v1/ops/licences/deadletters", params={"consumer": LICENCES_CONSUMER},
                             headers=bearer(ops))
        assert r.status_code == 200, r.text
        return [d for d in r.json()["items"] if (d.get("event") or {}).get("id") == wrong_id]

    [letter] = await eventually(licences_dead_letters, lambda found: len(found) == 1,
                                what="svc-licences refused the event claiming another source")
    assert "is not the producer of" in letter["error"] and letter["original_subject"] == APPROVED_SUBJECT

    # Nothing issued: the refused publishes never reached the stream, the wrong source was not applied.
    assert (await stored_ids(js, before) | await stored_ids(js, before, STATUS_CHANGES)) & set(attempts) == set()
    assert wrong_id in await stored_ids(js, before, APPROVED_SUBJECT)
    assert await licences_of(suite, app_id) == 0
    conn = await suite.db("licences")
    try:
        assert await conn.fetchval("SELECT count(*) FROM processed_events WHERE event_id = $1", wrong_id) == 0
    finally:
        await conn.close()
    status = (await client.get(f"/v1/applications/{app_id}", headers=bearer(await token("applicant-person")))).json()
    assert status["status"] in ("prereviewed", "returned")

    # Ops replay it through the service, which republishes on svc-matters' subject with its ops identity
    # (svc-licences' own may not): the consumers refuse it again; then ops discard it.
    r = await client.post(f"/v1/ops/licences/deadletters/{letter['sequence']}/replay", headers=bearer(ops))
    assert r.status_code == 200, r.text
    [again] = await eventually(licences_dead_letters, lambda found: len(found) == 1 and found[0]["sequence"] !=
                               letter["sequence"], what="the replayed forgery refused again")
    assert await licences_of(suite, app_id) == 0
    r = await client.delete(f"/v1/ops/licences/deadletters/{again['sequence']}", headers=bearer(ops))
    assert r.status_code == 200, r.text
    seq = 1
    while True:
        try:
            msg = await js.get_msg(DEAD_LETTER_STREAM, seq=seq, next=True, subject="lvrong.deadletter.>")
        except NotFoundError:
            break
        if wrong_id.encode() in msg.data:
            await js.delete_msg(DEAD_LETTER_STREAM, msg.seq)
        seq = msg.seq + 1
    await admin.close()


async def test_every_service_watches_its_consumers_unsettled_messages_under_its_own_identity(suite) -> None:
    """Each consumer's watcher of MaxDeliver advisories (``<durable>-unsettled`` on ``LVRONG_UNSETTLED``) is
    created by its service with the service's own NATS identity: were a JetStream call it makes not in the
    identity's permissions, the watcher would not exist and an unsettled message could be lost silently."""
    from kit.events.streams import UNSETTLED_STREAM
    from kit.natsauth import platform_buses

    expected = {f"{c.durable}-unsettled" for bus in platform_buses() for c in bus.consumes}
    nc = await connect_nats(suite.nats_admin)
    try:
        js = nc.jetstream()

        async def watchers() -> set[str]:
            try:
                return {c.name for c in await js.consumers_info(UNSETTLED_STREAM)}
            except NotFoundError:
                return set()

        await eventually(watchers, lambda found: expected <= found, seconds=30,
                         what="every consumer's unsettled-message watcher")
    finally:
        await nc.close()
