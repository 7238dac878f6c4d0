"""svc-notifications through the gateway, as a front-end and a person use it: each kind of event that
should reach a person lands in their inbox (and only theirs), goes out by e-mail and push to the real
local servers once — also when its event is delivered twice —, arrives live over SSE and again after a
reconnect with Last-Event-ID; bad input is refused and nothing is written."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kit.contracts import ApplicationStatusChanged, BenefitGranted, ClockWarning
from kit.contracts.licences import LicenceExpiring
from kit.events import CloudEvent
from kit.events.consumer import durable_name
from notifications.events import SUBSCRIPTIONS
from support import (
    COMPANY_USCC,
    another_replica,
    bearer,
    consumers_settled,
    eventually,
    publish_as,
    publish_as_licences,
    returned_application,
    stream_events,
)

pytestmark = pytest.mark.integration

COMPANY_EMAIL = "notices@greening-demo.example.org"
PERSON_EMAIL = "zhang.san@example.org"
APPLICATIONS_DURABLE = durable_name("notifications", next(s for s in SUBSCRIPTIONS if s.name == "applications"))


async def inbox(client, tok: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/notifications", params={"limit": 100, **params}, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def arrived(client, tok: str, kind: str, ref_id: str) -> dict[str, Any]:
    """The notification of ``kind`` about ``ref_id`` in the caller's inbox, once it is there."""
    async def find() -> list[dict[str, Any]]:
        return [n for n in await inbox(client, tok) if n["kind"] == kind and n["ref_id"] == ref_id]
    found = await eventually(find, lambda items: len(items) >= 1, f"a {kind} notification about {ref_id}")
    assert len(found) == 1, found
    return found[0]


async def delivered(client, tok: str, notification_id: int) -> dict[str, dict[str, Any]]:
    """The notification's deliveries once none is pending any more, by channel."""
    async def deliveries() -> list[dict[str, Any]]:
        r = await client.get(f"/v1/notifications/{notification_id}/deliveries", headers=bearer(tok))
        assert r.status_code == 200, r.text
        return list(r.json())
    rows = await eventually(deliveries, lambda rows: rows and all(d["status"] != "pending" for d in rows),
                            f"notification {notification_id} delivered")
    return {d["channel"]: d for d in rows}


async def set_preferences(client, tok: str, **body: Any) -> dict[str, Any]:
    r = await client.put("/v1/notifications/preferences", json=body, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_returned_application_is_mailed_exactly_once_even_when_its_event_comes_twice(
        suite, client, token, channel_servers) -> None:
    tok = await token("applicant-company")
    prefs = await set_preferences(client, tok, email=COMPANY_EMAIL)
    assert prefs["email"] == "n******@greening-demo.example.org"  # masked in reads
    app_id = await returned_application(client, tok)

    note = await arrived(client, tok, "application_returned", app_id)
    assert note["read"] is False and app_id in note["body_zh"] and "补正" in note["title_zh"]
    assert note["title_en"].startswith("Your application (LR-XK-002)") and note["title"] == note["title_zh"]
    channels = await delivered(client, tok, note["id"])
    assert channels["email"]["status"] == "sent" and channels["push"]["status"] == "sent"
    assert "sms" not in channels  # the company left no mobile number

    def mails() -> list[Any]:
        return [m for m in channel_servers.smtp.to(COMPANY_EMAIL) if app_id in m.get_content()]
    assert len(mails()) == 1
    mail = mails()[0]
    assert "需要补正" in mail["Subject"] and "needs corrections" in mail["Subject"]
    push = [r for r in channel_servers.http.requests("/push") if r.body["ref"] == {"type": "application", "id": app_id}]
    assert len(push) == 1 and push[0].body["to"] == f"org:{COMPANY_USCC}"

    # The same event (same id) delivered again: handled as already done, nothing more sent.
    events = await stream_events(suite.nats_admin, "LVRONG_MATTERS", ApplicationStatusChanged.subject_below("returned"))
    returned = next(e for e in events if e["data"]["application_id"] == app_id and e["data"]["to_status"] == "returned")
    await publish_as(suite, "LVRONG_MATTERS", CloudEvent.model_validate(returned), msg_id=returned["id"] + "-again")
    await consumers_settled(suite.nats_admin, "LVRONG_MATTERS", [APPLICATIONS_DURABLE])
    assert (await delivered(client, tok, note["id"]))["email"]["attempts"] == 1
    assert len(mails()) == 1
    assert len([n for n in await inbox(client, tok) if n["ref_id"] == app_id]) == 1


async def test_a_help_desk_answer_and_a_reply_to_a_bad_rating_reach_the_person(suite, client, token,
                                                                               channel_servers) -> None:
    person, agent = await token("applicant-person"), await token("agent-licensing")
    await set_preferences(client, person, email=PERSON_EMAIL, phone="13812345678")
    r = await client.put("/v1/helpdesk/agents/me", json={"available": True, "max_open": 50}, headers=bearer(agent))
    assert r.status_code == 200, r.text
    try:
        r = await client.post("/v1/tickets", json={"subject": "迁移树木许可需要哪些材料？", "matter_code": "LR-XK-008"},
                              headers=bearer(person))
        assert r.status_code == 201, r.text
        ticket = r.json()["id"]
        r = await client.post(f"/v1/tickets/{ticket}/messages", json={"body": "请看办事指南。"}, headers=bearer(agent))
        assert r.status_code == 201, r.text
        answered = await arrived(client, person, "ticket_answered", ticket)
        assert ticket in answered["body_zh"] and "请看办事指南" not in answered["body_zh"]  # the text stays on the ticket
        channels = await delivered(client, person, answered["id"])
        assert {c: d["status"] for c, d in channels.items()} == {"email": "sent", "sms": "sent", "push": "sent"}
        sms = [x for x in channel_servers.http.requests("/sms") if x.body["ref"] == {"type": "ticket", "id": ticket}]
        assert len(sms) == 1 and sms[0].body["to"] == "13812345678"
        assert sms[0].headers["Authorization"] == "Bearer itest-channel"
        assert sms[0].headers["Idempotency-Key"] == sms[0].body["id"]

        assert (await client.post(f"/v1/tickets/{ticket}/actions/resolve", json={}, headers=bearer(agent))).status_code == 200
        r = await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket, "score": 1,
                                                   "tags": ["答非所问"]}, headers=bearer(person))
        assert r.status_code == 201, r.text
        rating, case = r.json()["id"], r.json()["rectification_id"]
        r = await client.post(f"/v1/rectifications/{case}/actions/reply", json={"text": "您好，已为您重新解答。"},
                              headers=bearer(agent))
        assert r.status_code == 200, r.text
        reply = await arrived(client, person, "rectification_replied", rating)
        assert "已为您重新解答" in reply["body_zh"] and reply["title_en"] == "Your rating has been answered"
    finally:  # away again, so the suite's later tickets (the workbench's claim test) are not assigned to this agent
        r = await client.put("/v1/helpdesk/agents/me", json={"available": False, "max_open": 50}, headers=bearer(agent))
        assert r.status_code == 200, r.text


async def test_expiry_reminders_grants_and_clock_warnings_reach_their_inboxes(suite, client, token) -> None:
    person, company, officer = (await token("applicant-person"), await token("applicant-company"),
                                await token("officer"))
    now = dt.datetime.now(dt.UTC)
    licence = f"lic-{uuid.uuid4().hex[:12]}"
    expiring = LicenceExpiring(licence_id=licence, licence_number="沪绿许2026第0001号", licence_type="临时占用绿地许可",
                               holder_subject="u-applicant-person", valid_until=now + dt.timedelta(days=30),
                               days_before=30, message_zh="您的许可证将于30天后到期，请及时办理延续。",
                               message_en="Your licence expires in 30 days: apply for renewal in time.")
    await publish_as_licences(suite.env, expiring.envelope(subject=licence), licence)
    reminder = await arrived(client, person, "licence_expiring", licence)
    assert reminder["body_zh"].startswith("您的许可证将于30天后到期") and "30 days" in reminder["title_en"]

    application = f"app-{uuid.uuid4().hex[:12]}"
    granted = BenefitGranted(benefit="绿化养护补贴", uscc=COMPANY_USCC, business_name="上海演示绿化工程有限公司",
                             application_id=application, matter_code="LR-GG-001", matched_rules=["r1"], granted_at=now)
    await publish_as(suite, "LVRONG_MATTERS", granted.envelope(subject=application))
    grant = await arrived(client, company, "benefit_granted", application)
    assert "绿化养护补贴" in grant["title_zh"]
    assert not [n for n in await inbox(client, person) if n["ref_id"] == application]  # the company's, not the person's

    warned = f"app-{uuid.uuid4().hex[:12]}"
    warning = ClockWarning(application_id=warned, matter_code="LR-XK-008", department="市绿化市容局", percent=80,
                           due_date="2026-12-31", working_days_left=3, assignee_subject="u-officer")
    await publish_as(suite, "LVRONG_MATTERS", warning.envelope(subject=warned))
    note = await arrived(client, officer, "clock_warning", warned)
    assert "80%" in note["title_zh"] and "3 working days" in note["body_en"]

    # Read one, then all: the unread count follows.
    count = (await client.get("/v1/notifications/unread-count", headers=bearer(officer))).json()["unread"]
    assert count >= 1
    r = await client.post(f"/v1/notifications/{note['id']}/read", headers=bearer(officer))
    assert r.status_code == 200 and r.json()["read"] is True
    assert (await client.get("/v1/notifications/unread-count", headers=bearer(officer))).json()["unread"] == count - 1
    assert note["id"] not in [n["id"] for n in await inbox(client, officer, unread="true")]
    r = await client.post("/v1/notifications/read-all", headers=bearer(officer))
    assert r.status_code == 200 and r.json()["marked"] == count - 1
    assert (await client.get("/v1/notifications/unread-count", headers=bearer(officer))).json()["unread"] == 0


@contextlib.asynccontextmanager
async def sse(client, tok: str, base: str = "", **headers: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """The frames of the caller's notification stream, parsed, as they arrive (from ``base``: a replica
    reached directly; by default through the gateway)."""
    frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with client.stream("GET", f"{base}/v1/notifications/stream", headers={**bearer(tok), **headers}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")

        async def read() -> None:
            frame: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if line == "" and "event" in frame:
                    frames.put_nowait({**frame, "data": json.loads(frame["data"])})
                    frame = {}
                elif line and not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    frame[name] = value
        reader = asyncio.create_task(read())
        try:
            yield frames
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader


async def expiring(suite, days: int) -> str:
    licence = f"lic-{uuid.uuid4().hex[:12]}"
    await publish_as_licences(suite.env, LicenceExpiring(
        licence_id=licence, licence_number="沪绿许2026第0002号", licence_type="临时占用绿地许可",
        holder_subject="u-applicant-person", valid_until=dt.datetime.now(dt.UTC) + dt.timedelta(days=days),
        days_before=days, message_zh=f"{days}天后到期", message_en=f"expires in {days} days").envelope(), licence)
    return licence


async def test_new_notifications_arrive_live_and_again_after_a_reconnect(suite, client, token) -> None:
    person = await token("applicant-person")
    async with sse(client, person) as frames:
        first = await expiring(suite, 7)
        async with asyncio.timeout(15):
            frame = await frames.get()
        assert frame["event"] == "notification" and frame["data"]["ref_id"] == first
        assert frame["id"] == str(frame["data"]["id"])
    second, third = await expiring(suite, 3), await expiring(suite, 1)
    await arrived(client, person, "licence_expiring", third)
    # Reconnecting with the last id received: what came meanwhile first, in order, each once.
    async with sse(client, person, **{"Last-Event-ID": frame["id"]}) as frames:
        async with asyncio.timeout(15):
            replayed = [await frames.get(), await frames.get()]
        assert [f["data"]["ref_id"] for f in replayed] == [second, third]
        fourth = await expiring(suite, 2)
        async with asyncio.timeout(15):
            assert (await frames.get())["data"]["ref_id"] == fourth
    # Someone else's stream, resumed from the same id, carries none of it: it is through once the
    # company's own later notification has come (a stream sends in id order).
    async with sse(client, await token("applicant-company"), **{"Last-Event-ID": frame["id"]}) as frames:
        application = f"app-{uuid.uuid4().hex[:12]}"
        await publish_as(suite, "LVRONG_MATTERS", BenefitGranted(
            benefit="绿化养护补贴", uscc=COMPANY_USCC, business_name="上海演示绿化工程有限公司", application_id=application,
            matter_code="LR-GG-001", matched_rules=["r1"], granted_at=dt.datetime.now(dt.UTC)).envelope())
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(15):
            while not seen or seen[-1]["data"]["ref_id"] != application:
                seen.append(await frames.get())
        assert not {second, third, fourth} & {f["data"]["ref_id"] for f in seen}


async def test_a_stream_on_every_replica_gets_what_any_replica_made(suite, client, token) -> None:
    person = await token("applicant-person")
    with another_replica(suite.env, "notifications", Path(tempfile.mkdtemp(prefix="lvrong-notifications-2-"))) as url:
        async with sse(client, person) as through_gateway, sse(client, person, url) as on_second:
            licence = await expiring(suite, 5)  # made by whichever replica's consumer takes the event
            async with asyncio.timeout(15):
                frames = [await through_gateway.get(), await on_second.get()]
    assert [f["data"]["ref_id"] for f in frames] == [licence, licence]
    assert frames[0]["id"] == frames[1]["id"]


async def test_preferences_switch_a_channel_off_per_kind(suite, client, token, channel_servers) -> None:
    person = await token("applicant-person")
    prefs = await set_preferences(client, person, email=PERSON_EMAIL, phone="13812345678",
                                  channels={"licence_expiring": {"sms": False, "push": False}})
    assert prefs["phone"] == "138****5678" and prefs["email"] == "z********@example.org"
    assert prefs["channels"]["licence_expiring"] == {"email": True, "sms": False, "push": False}
    assert prefs["channels"]["ticket_answered"] == {"email": True, "sms": True, "push": True}
    licence = await expiring(suite, 14)
    note = await arrived(client, person, "licence_expiring", licence)
    assert set(await delivered(client, person, note["id"])) == {"email"}
    # Stored encrypted: neither the address nor the number is in the table in clear.
    conn = await suite.db("notifications")
    try:
        row = await conn.fetchrow("SELECT email, phone FROM recipients WHERE recipient = 'subject:u-applicant-person'")
    finally:
        await conn.close()
    assert PERSON_EMAIL not in row["email"] and "13812345678" not in row["phone"]
    await set_preferences(client, person, channels={"licence_expiring": {"sms": True, "push": True}})


async def test_bad_input_is_refused_and_writes_nothing(suite, client, token) -> None:
    person, company = await token("applicant-person"), await token("applicant-company")
    before = (await client.get("/v1/notifications/preferences", headers=bearer(company))).json()
    for body in ({"email": "not-an-address"}, {"phone": "12345"}, {"phone": "138123456789"},
                 {"channels": {"no_such_kind": {"email": False}}}, {"channels": {"ticket_answered": {"fax": True}}},
                 {"channels": {"ticket_answered": {"sms": "perhaps"}}}, {"channels": {"ticket_answered": {"sms": 0}}},
                 {"colour": "green"}):
        r = await client.put("/v1/notifications/preferences", json=body, headers=bearer(company))
        assert r.status_code == 422, (body, r.text)
    assert (await client.get("/v1/notifications/preferences", headers=bearer(company))).json() == before

    licence = await expiring(suite, 10)
    mine = await arrived(client, person, "licence_expiring", licence)
    # Someone else's notification is as if it did not exist, and stays unread.
    assert (await client.post(f"/v1/notifications/{mine['id']}/read", headers=bearer(company))).status_code == 404
    assert (await client.get(f"/v1/notifications/{mine['id']}/deliveries", headers=bearer(company))).status_code == 404
    assert not [n for n in await inbox(client, company) if n["id"] == mine["id"]]
    assert [n for n in await inbox(client, person) if n["id"] == mine["id"]][0]["read"] is False
    for path in ("/v1/notifications/abc/read", "/v1/notifications/0/read"):
        assert (await client.post(path, headers=bearer(person))).status_code == 422
    for params in ({"limit": 0}, {"limit": 101}, {"unread": "maybe"}):
        assert (await client.get("/v1/notifications", params=params, headers=bearer(person))).status_code == 422
    assert (await client.get("/v1/notifications", params={"cursor": "!!"}, headers=bearer(person))).status_code == 400
    r = await client.get("/v1/notifications/stream", headers={**bearer(person), "Last-Event-ID": "abc"})
    assert r.status_code == 422
    assert (await client.get("/v1/notifications")).status_code == 401
    assert [n for n in await inbox(client, person) if n["id"] == mine["id"]][0]["read"] is False
