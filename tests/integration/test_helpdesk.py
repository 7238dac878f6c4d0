"""svc-helpdesk through the gateway, as front-ends and the help desk use it: help tickets with their
clocks, assignment and re-assignment, an agent of another department refused, the assistant's
hand-over, proposed answers, hotline transfers, ratings and their rectification, hall bookings and
queues, the calendar kept by two ops people, and the reports — with bad input refused and nothing
written."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest

from kit.calendar import CALENDAR_BUCKET, SHANGHAI
from kit.contracts.knowledge import AssistantHandedOver, ConversationTurn
from kit.events import JetStreamBus, stream_name, stream_subjects
from support import all_materials, bearer, connect_nats, matter, submit_for_verdict, valid_form

pytestmark = pytest.mark.integration

LICENSING = "市绿化市容局许可处"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
async def problems(client: httpx.AsyncClient) -> AsyncIterator[list[tuple[str, int, Any]]]:
    """Every problem the help desk answers in these tests, as (request, response code, body's ``status``);
    that each ``status`` is its code is checked for every test by the shared client (tests/integration/conftest.py)."""
    seen: list[tuple[str, int, Any]] = []

    async def record(response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith(PROBLEM):
            await response.aread()
            seen.append((f"{response.request.method} {response.request.url.path}", response.status_code,
                         response.json().get("status")))

    client.event_hooks["response"].append(record)
    try:
        yield seen
    finally:
        client.event_hooks["response"].remove(record)


def problem(response: httpx.Response, code: int) -> dict[str, Any]:
    """The problem+json body of ``response``, answered with ``code`` and saying that code as its ``status``."""
    assert response.status_code == code, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == code and body["title_zh"] and body["title_en"]
    return body


async def count(suite, sql: str, *args: Any) -> int:
    conn = await suite.db("helpdesk")
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def execute(suite, sql: str, *args: Any) -> None:
    conn = await suite.db("helpdesk")
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def go_available(client, token, *users: str) -> None:
    for user in users:
        r = await client.put("/v1/helpdesk/agents/me", json={"available": True, "max_open": 50},
                             headers=bearer(await token(user)))
        assert r.status_code == 200, r.text
        assert r.json()["available"] is True


async def open_ticket(client, token, user: str = "applicant-person", **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/tickets", json={"subject": "迁移树木许可需要哪些材料？", "matter_code": "LR-XK-008", **body},
                          headers=bearer(await token(user)))
    assert r.status_code == 201, r.text
    return r.json()


async def answer(client, token, ticket: dict[str, Any]) -> None:
    """A bureau agent answers, so no ticket of a test is left for the re-assignment job to move."""
    r = await client.post(f"/v1/tickets/{ticket['id']}/messages", json={"body": "您好，已收到。"},
                          headers=bearer(await token("agent")))
    assert r.status_code == 201, r.text


def clock(ticket: dict[str, Any], kind: str, cycle: int = 0) -> dict[str, Any]:
    return next(c for c in ticket["clocks"] if c["kind"] == kind and c["cycle"] == cycle)


async def eventually(probe, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while True:
        result = await probe()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


async def test_help_session_from_question_to_rating(suite, client, token) -> None:
    await go_available(client, token, "agent-licensing", "agent")
    ticket = await open_ticket(client, token, contact_name="张三", contact_phone="13812345678")
    # The matter's department (from svc-matters) answers, by its own agent before the bureau's.
    assert ticket["department"] == LICENSING and ticket["status"] == "assigned"
    assert ticket["assigned_agent"] == "u-agent-licensing"
    first = clock(ticket, "first_response")
    assert (first["unit"], first["amount"], first["stopped_at"]) == ("seconds", 60, None)
    assert clock(ticket, "resolution")["unit"] == "working_days"
    assert ticket["contact_phone"] == "13812345678"  # the person sees their own number

    agent = bearer(await token("agent-licensing"))
    seen = (await client.get(f"/v1/tickets/{ticket['id']}", headers=agent)).json()
    assert seen["contact_phone"] == "138****5678" and seen["contact_name"] == "张*"
    queue = (await client.get("/v1/helpdesk/queue", headers=agent)).json()["items"]
    assert ticket["id"] in [t["id"] for t in queue]

    r = await client.post(f"/v1/tickets/{ticket['id']}/messages", json={"body": "需要申请表和现场照片。"}, headers=agent)
    assert r.status_code == 201, r.text
    answered = (await client.get(f"/v1/tickets/{ticket['id']}", headers=agent)).json()
    first = clock(answered, "first_response")
    assert first["stopped_at"] is not None and first["met"] is True and first["elapsed_seconds"] < 60

    person = bearer(await token("applicant-person"))
    r = await client.post(f"/v1/tickets/{ticket['id']}/actions/wait_for_applicant", json={"note": "请补充树种"},
                          headers=agent)
    assert r.status_code == 200 and clock(r.json(), "resolution")["paused"] is True
    r = await client.post(f"/v1/tickets/{ticket['id']}/messages", json={"body": "是香樟。"}, headers=person)
    assert r.status_code == 201
    resumed = (await client.get(f"/v1/tickets/{ticket['id']}", headers=person)).json()
    assert resumed["status"] == "assigned" and clock(resumed, "resolution")["paused"] is False
    assert clock(resumed, "next_response")["stopped_at"] is None  # the agent owes an answer again
    await client.post(f"/v1/tickets/{ticket['id']}/messages", json={"body": "好的，可以办理。"}, headers=agent)

    # Rating before the help has finished is refused.
    r = await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], "score": 5},
                          headers=person)
    problem(r, 409)
    r = await client.post(f"/v1/tickets/{ticket['id']}/actions/resolve", json={}, headers=agent)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert all(c["stopped_at"] for c in r.json()["clocks"])

    r = await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], "score": 5,
                                               "tags": ["专业", "及时"]}, headers=person)
    assert r.status_code == 201, r.text
    assert r.json()["rectification_id"] is None
    again = await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], "score": 1},
                              headers=person)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert await count(suite, "SELECT count(*) FROM ratings WHERE target_id = $1", ticket["id"]) == 1
    assert await count(suite, "SELECT count(*) FROM rectifications r JOIN ratings g ON g.id = r.rating_id "
                              "WHERE g.target_id = $1", ticket["id"]) == 0

    # Reopening starts new clocks; the steps are all in the history.
    r = await client.post(f"/v1/tickets/{ticket['id']}/actions/reopen", json={}, headers=person)
    assert r.status_code == 200 and r.json()["status"] == "reopened" and r.json()["reopen_count"] == 1
    assert clock(r.json(), "resolution", cycle=1)["stopped_at"] is None
    assert clock(r.json(), "next_response", cycle=1)["stopped_at"] is None
    history = (await client.get(f"/v1/tickets/{ticket['id']}/history", headers=person)).json()
    assert [s["action"] for s in history] == ["opened", "assigned", "wait_for_applicant", "applicant_replied",
                                              "resolve", "reopen"]


async def test_agent_of_another_department_is_refused(suite, client, token) -> None:
    await go_available(client, token, "agent-licensing")
    ticket = await open_ticket(client, token)
    forestry = bearer(await token("agent-forestry"))
    messages = await count(suite, "SELECT count(*) FROM ticket_messages WHERE ticket_id = $1", ticket["id"])
    steps = await count(suite, "SELECT count(*) FROM ticket_steps WHERE ticket_id = $1", ticket["id"])
    assert (await client.get(f"/v1/tickets/{ticket['id']}", headers=forestry)).status_code == 403
    r = await client.post(f"/v1/tickets/{ticket['id']}/messages", json={"body": "我来回答"}, headers=forestry)
    assert r.status_code == 403 and r.json()["title_en"] == "Not allowed"
    for action in ("claim", "resolve", "transfer"):
        r = await client.post(f"/v1/tickets/{ticket['id']}/actions/{action}", json={"department": "市林业总站"},
                              headers=forestry)
        assert r.status_code == 403, (action, r.text)
    assert await count(suite, "SELECT count(*) FROM ticket_messages WHERE ticket_id = $1", ticket["id"]) == messages
    assert await count(suite, "SELECT count(*) FROM ticket_steps WHERE ticket_id = $1", ticket["id"]) == steps
    listed = (await client.get("/v1/tickets", headers=forestry)).json()["items"]
    assert ticket["id"] not in [t["id"] for t in listed]
    # Another applicant does not even see it exists.
    company = bearer(await token("applicant-company"))
    assert (await client.get(f"/v1/tickets/{ticket['id']}", headers=company)).status_code == 404
    await answer(client, token, ticket)


async def test_bad_ticket_input_writes_nothing(suite, client, token) -> None:
    person = bearer(await token("applicant-person"))
    before = await count(suite, "SELECT count(*) FROM tickets")
    cases = [
        ({"subject": ""}, 422),
        ({"subject": "问题", "matter_code": "LR-XK-999"}, 422),  # svc-matters knows no such matter
        ({"subject": "问题", "contact_phone": "12345"}, 422),
        ({"subject": "问题", "priority": "whenever"}, 422),
        ({"subject": "问题", "channel": "hotline"}, 422),  # applicants ask online
        ({"subject": "问题", "applicant_subject": "u-someone-else"}, 403),
        ({"subject": "问题", "unexpected": 1}, 422),
    ]
    for body, status in cases:
        r = await client.post("/v1/tickets", json=body, headers=person)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["title_zh"] and r.json()["title_en"]
    assert await count(suite, "SELECT count(*) FROM tickets") == before
    ticket = await open_ticket(client, token)
    for action, status in (("fly", 404), ("close", 409), ("resolve", 403)):
        problem(await client.post(f"/v1/tickets/{ticket['id']}/actions/{action}", json={}, headers=person), status)
    unknown = problem(await client.post(f"/v1/tickets/{ticket['id']}/actions/fly", json={}, headers=person), 404)
    assert "close" in unknown["actions"] and "fly" not in unknown["actions"]
    refused = problem(await client.post(f"/v1/tickets/{ticket['id']}/actions/close", json={}, headers=person), 409)
    assert refused["status_now"] == "assigned"
    assert {"action": "resolve", "roles": ["helpdesk_agent"], "to_status": "resolved"} in refused["allowed_actions"]
    assert await count(suite, "SELECT count(*) FROM ticket_steps WHERE ticket_id = $1 AND action = 'close'",
                       ticket["id"]) == 0
    await answer(client, token, ticket)
    # The list pages newest first with an opaque cursor; a forged cursor is refused.
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        page = (await client.get("/v1/tickets", params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                                 headers=person)).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
    assert seen[0] == ticket["id"] and len(set(seen)) == 3
    assert (await client.get("/v1/tickets?cursor=!!", headers=person)).status_code == 400


async def test_unanswered_ticket_is_reassigned(suite, client, token) -> None:
    await go_available(client, token, "agent-licensing", "agent")
    ticket = await open_ticket(client, token)
    assert ticket["assigned_agent"] == "u-agent-licensing"
    # Nobody answered for two minutes (moved back in time rather than waited for).
    await execute(suite, "UPDATE tickets SET assigned_at = assigned_at - interval '2 minutes' WHERE id = $1", ticket["id"])
    await execute(suite, "UPDATE sla_clocks SET started_at = started_at - interval '2 minutes' WHERE ticket_id = $1",
                  ticket["id"])
    person = bearer(await token("applicant-person"))

    async def moved() -> dict[str, Any] | None:
        body = (await client.get(f"/v1/tickets/{ticket['id']}", headers=person)).json()
        return body if body["assigned_agent"] != "u-agent-licensing" else None

    body = await moved() or await eventually(moved)
    assert body and body["assigned_agent"] == "u-agent"  # the bureau's desk, since the office has nobody else
    history = (await client.get(f"/v1/tickets/{ticket['id']}/history", headers=person)).json()
    assert history[-1]["action"] == "reassigned" and "u-agent-licensing" in history[-1]["note"]
    # The agent who did not answer is away until they say otherwise.
    agents = (await client.get("/v1/helpdesk/agents", headers=bearer(await token("ops")))).json()
    assert next(a for a in agents if a["subject"] == "u-agent-licensing")["available"] is False
    await answer(client, token, ticket)


async def test_assistant_hand_over_and_proposed_answer(suite, client, token) -> None:
    conversation = uuid.uuid4().hex
    now = dt.datetime.now(dt.UTC)
    event = AssistantHandedOver(
        conversation_id=conversation, user_subject="u-applicant-person", matter_code="LR-XK-008",
        question="临时占用绿地要多久审批？", reason="no_answer",
        turns=[ConversationTurn(role="user", text="临时占用绿地要多久审批？", at=now),
               ConversationTurn(role="assistant", text="抱歉，我还不知道。为您转人工。", at=now)],
        handed_over_at=now).envelope(subject=conversation)
    bus = JetStreamBus(suite.nats_admin, name="test-knowledge")
    await bus.connect()
    try:
        await bus.ensure_stream(stream_name("knowledge"), stream_subjects("knowledge"))
        await bus.publish(event.type, event.to_json_bytes(), msg_id=event.id)
        await bus.publish(event.type, event.to_json_bytes(), msg_id=event.id)  # a redelivery changes nothing
    finally:
        await bus.close()
    person = bearer(await token("applicant-person"))

    async def arrived() -> list[dict[str, Any]]:
        items = (await client.get("/v1/tickets?channel=assistant&limit=100", headers=person)).json()["items"]
        return [t for t in items if t["subject"] == "临时占用绿地要多久审批？"]

    found = await eventually(arrived)
    assert len(found) == 1
    ticket = (await client.get(f"/v1/tickets/{found[0]['id']}", headers=person)).json()
    assert ticket["conversation_id"] == conversation and ticket["channel"] == "assistant"
    messages = (await client.get(f"/v1/tickets/{ticket['id']}/messages", headers=person)).json()
    assert [m["author_kind"] for m in messages] == ["applicant", "assistant"]

    agent = bearer(await token("agent"))
    r = await client.post(f"/v1/tickets/{ticket['id']}/actions/claim", json={}, headers=agent)
    assert r.status_code == 200, r.text
    # Claimed, so the status allows a proposal whatever earlier tests left the agents' loads at (a ticket
    # that arrived while nobody was free is still new, and a proposal on it is refused with 409 first).
    r = await client.post(f"/v1/tickets/{ticket['id']}/actions/propose_answer", json={}, headers=agent)
    assert r.status_code == 422  # an answer is required
    await answer(client, token, ticket)
    r = await client.post(f"/v1/tickets/{ticket['id']}/actions/propose_answer",
                          json={"answer": "临时使用绿地许可的法定时限为 20 个工作日，承诺 10 个工作日。"}, headers=agent)
    assert r.status_code == 200, r.text
    nc = await connect_nats(suite.nats_admin)
    try:
        sub = await nc.jetstream().pull_subscribe("lvrong.helpdesk.answer.proposed", durable=None,
                                                  stream=stream_name("helpdesk"))

        async def published() -> list[Any]:
            try:
                return [m for m in await sub.fetch(10, timeout=1) if conversation.encode() in m.data]
            except nats.errors.TimeoutError:
                return []

        assert await eventually(published)
    finally:
        await nc.close()


async def test_hotline_connect_rate_is_computed(suite, client, token) -> None:
    agent = bearer(await token("agent"))
    now = dt.datetime.now(SHANGHAI)
    call_a, call_b = uuid.uuid4().hex, uuid.uuid4().hex
    department = "市绿化市容局环卫处"
    attempts = [(call_a, False, None, 40), (call_a, True, "u-agent", 12), (call_b, False, None, 60)]
    for call, connected, answered_by, wait in attempts:
        r = await client.post("/v1/hotline/transfers", json={
            "call_id": call, "department": department, "attempted_at": now.isoformat(), "connected": connected,
            "wait_seconds": wait, "agent_subject": answered_by}, headers=agent | {"Idempotency-Key": f"{call}-{wait}"})
        assert r.status_code == 201, r.text
    replay = await client.post("/v1/hotline/transfers", json={
        "call_id": call_b, "department": department, "attempted_at": now.isoformat(), "connected": False,
        "wait_seconds": 60, "agent_subject": None}, headers=agent | {"Idempotency-Key": f"{call_b}-60"})
    assert replay.status_code == 201  # the same attempt once, not twice
    before = await count(suite, "SELECT count(*) FROM hotline_transfers")
    for body in ({"attempted_at": (now + dt.timedelta(hours=1)).isoformat()},
                 {"connected": False, "agent_subject": "u-agent"},
                 {"wait_seconds": -1},
                 {"attempted_at": now.replace(tzinfo=None).isoformat()}):
        r = await client.post("/v1/hotline/transfers", json={
            "call_id": call_b, "department": department, "attempted_at": now.isoformat(), "connected": True,
            "wait_seconds": 5, **body}, headers=agent)
        assert r.status_code == 422, (body, r.text)
    person = bearer(await token("applicant-person"))
    assert (await client.post("/v1/hotline/transfers", json={
        "call_id": call_b, "department": department, "attempted_at": now.isoformat(), "connected": True,
        "wait_seconds": 5}, headers=person)).status_code == 403
    assert await count(suite, "SELECT count(*) FROM hotline_transfers") == before

    ops = bearer(await token("ops"))
    today = now.date().isoformat()
    report = (await client.get(f"/v1/helpdesk/reports?from={today}&to={today}&group_by=department", headers=ops)).json()
    hotline = next(g for g in report["groups"] if g["key"] == department)["hotline"]
    assert (hotline["calls"], hotline["calls_connected"], hotline["attempts"]) == (2, 1, 3)
    assert hotline["connect_rate"] == 0.5 and hotline["attempt_connect_rate"] == pytest.approx(0.3333, abs=1e-4)


async def test_bad_rating_is_answered_and_put_right(suite, client, token) -> None:
    await go_available(client, token, "agent-licensing")
    ticket = await open_ticket(client, token)
    agent = bearer(await token("agent-licensing"))
    person = bearer(await token("applicant-person"))
    await client.post(f"/v1/tickets/{ticket['id']}/messages", json={"body": "请看办事指南。"}, headers=agent)
    await client.post(f"/v1/tickets/{ticket['id']}/actions/resolve", json={}, headers=agent)
    for body in ({"score": 0}, {"score": 6}, {"score": 3, "tags": ["x" * 21]}, {"score": 3, "step": "accepted"}):
        r = await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], **body},
                              headers=person)
        assert r.status_code == 422, (body, r.text)
    assert (await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], "score": 1},
                              headers=agent)).status_code == 403  # staff do not rate
    company = bearer(await token("applicant-company"))
    assert (await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], "score": 1},
                              headers=company)).status_code == 404  # not their interaction
    assert await count(suite, "SELECT count(*) FROM ratings WHERE target_id = $1", ticket["id"]) == 0

    r = await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], "score": 1,
                                               "tags": ["答非所问"], "comment": "没有解决问题"}, headers=person)
    assert r.status_code == 201, r.text
    case_id = r.json()["rectification_id"]
    assert case_id
    cases = (await client.get("/v1/rectifications?status=open", headers=agent)).json()["items"]
    case = next(c for c in cases if c["id"] == case_id)
    assert case["owner_subject"] == "u-agent-licensing" and case["late"] is False and case["score"] == 1
    assert dt.date.fromisoformat(case["due_on"]) > dt.datetime.now(SHANGHAI).date()  # 5 working days
    r = await client.post(f"/v1/rectifications/{case_id}/actions/close", json={"text": "已回访"}, headers=agent)
    assert r.status_code == 409  # not replied to nor put right yet
    assert (await client.post(f"/v1/rectifications/{case_id}/actions/reply", json={"text": "抱歉"},
                              headers=bearer(await token("agent-forestry")))).status_code == 403
    for action, text in (("reply", "您好，已为您重新解答。"), ("rectify", "补充了办事指南中的材料说明。"),
                         ("close", "回访：申请人表示满意。")):
        r = await client.post(f"/v1/rectifications/{case_id}/actions/{action}",
                              json={"text": text, "satisfied": True}, headers=agent)
        assert r.status_code == 200, (action, r.text)
    assert r.json()["status"] == "closed" and r.json()["late"] is False
    closed = (await client.get("/v1/rectifications?status=closed", headers=agent)).json()["items"]
    assert case_id in [c["id"] for c in closed]
    # The person sees the answer to their rating.
    mine = (await client.get("/v1/ratings?target_kind=ticket&score=1", headers=person)).json()["items"]
    rated = next(x for x in mine if x["rectification_id"] == case_id)
    assert rated["reply"] == "您好，已为您重新解答。" and rated["replied_at"]


async def test_hall_booking_queue_and_waits(suite, client, token) -> None:
    ops = bearer(await token("ops"))
    hall_id = f"hall-{uuid.uuid4().hex[:8]}"
    hall = {"id": hall_id, "name": "市民中心绿化市容窗口", "district": "浦东新区", "windows": 2,
            "opening_periods": [{"opens": "00:00", "closes": "23:59"}], "open_on_rest_days": True, "slot_minutes": 30,
            "slot_capacity": 1, "daily_cap_per_person": 2, "matters": {"LR-XK-008": "general", "LR-XK-014": "complex"}}
    for bad in ({**hall, "opening_periods": [{"opens": "12:00", "closes": "09:00"}]}, {**hall, "windows": 0},
                {**hall, "opening_periods": [{"opens": "9:00", "closes": "12:00"}]},
                {**hall, "matters": {"LR-XK-008": "easy"}}):
        assert (await client.post("/v1/halls", json=bad, headers=ops)).status_code == 422
    assert (await client.post("/v1/halls", json=hall, headers=bearer(await token("applicant-person")))).status_code == 403
    r = await client.post("/v1/halls", json=hall, headers=ops)
    assert r.status_code == 201, r.text
    assert (await client.post("/v1/halls", json=hall, headers=ops)).status_code == 409

    tomorrow = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=1)).date()
    person = bearer(await token("applicant-person"))
    company = bearer(await token("applicant-company"))
    slots = (await client.get(f"/v1/halls/{hall_id}/slots?date={tomorrow}", headers=person)).json()
    assert len(slots) == 47 and slots[0]["available"] == 1
    first, second, third = (s["slot_start"] for s in slots[:3])
    r = await client.post("/v1/appointments", json={"hall_id": hall_id, "matter_code": "LR-XK-008", "slot_start": first},
                          headers=person)
    assert r.status_code == 201, r.text
    appointment = r.json()
    full = await client.post("/v1/appointments", json={"hall_id": hall_id, "matter_code": "LR-XK-008",
                                                        "slot_start": first}, headers=company)
    assert full.status_code == 409 and full.json()["reason"] == "slot_full"
    assert (await client.post("/v1/appointments", json={"hall_id": hall_id, "matter_code": "LR-XK-008",
                                                         "slot_start": second}, headers=person)).status_code == 201
    capped = await client.post("/v1/appointments", json={"hall_id": hall_id, "matter_code": "LR-XK-008",
                                                          "slot_start": third}, headers=person)
    assert capped.status_code == 409 and capped.json()["reason"] == "daily_cap"
    for bad in ({"slot_start": "2020-01-01T09:00:00+08:00"}, {"matter_code": "LR-XK-001"},
                {"slot_start": first.replace(":00+08:00", ":07+08:00")}, {"slot_start": first[:19]}):
        r = await client.post("/v1/appointments", json={"hall_id": hall_id, "matter_code": "LR-XK-008",
                                                         "slot_start": third, **bad}, headers=company)
        assert r.status_code == 422, (bad, r.text)
    assert await count(suite, "SELECT count(*) FROM appointments WHERE hall_id = $1", hall_id) == 2
    assert await count(suite, "SELECT booked FROM hall_slots WHERE hall_id = $1 AND slot_start = $2::timestamptz",
                       hall_id, dt.datetime.fromisoformat(first)) == 1
    # Cancelling frees the place; a cancelled booking cannot be cancelled again.
    r = await client.post(f"/v1/appointments/{appointment['id']}/cancel", headers=person)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await client.post(f"/v1/appointments/{appointment['id']}/cancel", headers=person)).status_code == 409
    assert (await client.post("/v1/appointments", json={"hall_id": hall_id, "matter_code": "LR-XK-008",
                                                         "slot_start": first}, headers=company)).status_code == 201
    # An appointment for tomorrow cannot be checked in today.
    tomorrow_booking = (await client.get(f"/v1/appointments?hall_id={hall_id}", headers=person)).json()
    booked = next(a for a in tomorrow_booking if a["status"] == "booked")
    r = await client.post("/v1/queue/checkins", json={"hall_id": hall_id, "appointment_id": booked["id"]}, headers=person)
    assert r.status_code == 409, r.text

    # Walk-ins: a general and a complex matter, then an elderly visitor who is called first.
    r = await client.post("/v1/queue/checkins", json={"hall_id": hall_id, "matter_code": "LR-XK-008"}, headers=person)
    assert r.status_code == 201, r.text
    general = r.json()
    assert general["number"].startswith("G") and general["wait_target_minutes"] == 10
    complex_visit = (await client.post("/v1/queue/checkins", json={"hall_id": hall_id, "matter_code": "LR-XK-014"},
                                       headers=company)).json()
    assert complex_visit["number"].startswith("C") and complex_visit["wait_target_minutes"] == 30
    elderly = (await client.post("/v1/queue/checkins", json={"hall_id": hall_id, "matter_code": "LR-XK-008",
                                                              "priority_reason": "elderly"}, headers=company)).json()
    assert elderly["number"].startswith("P") and elderly["waiting_ahead"] == 0
    assert (await client.post("/v1/queue/checkins", json={"hall_id": hall_id}, headers=person)).status_code == 422
    assert (await client.post("/v1/queue/checkins", json={"hall_id": hall_id, "matter_code": "LR-XK-001"},
                              headers=person)).status_code == 422
    officer = bearer(await token("officer"))
    assert (await client.post(f"/v1/halls/{hall_id}/calls", json={"window": 3}, headers=officer)).status_code == 422
    assert (await client.post(f"/v1/halls/{hall_id}/calls", json={"window": 1}, headers=person)).status_code == 403
    called = [(await client.post(f"/v1/halls/{hall_id}/calls", json={"window": 1}, headers=officer)).json()
              for _ in range(3)]
    assert [c["id"] for c in called] == [elderly["id"], general["id"], complex_visit["id"]]
    assert (await client.post(f"/v1/halls/{hall_id}/calls", json={"window": 1}, headers=officer)).status_code == 409
    assert (await client.post(f"/v1/queue/visits/{general['id']}/actions/finish", headers=officer)).status_code == 409
    for action in ("start", "finish"):
        r = await client.post(f"/v1/queue/visits/{general['id']}/actions/{action}", headers=officer)
        assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "done" and done["wait_minutes"] is not None and done["handling_minutes"] is not None
    # A finished hall visit can be rated by its visitor, once.
    r = await client.post("/v1/ratings", json={"target_kind": "hall_visit", "target_id": general["id"], "score": 4},
                          headers=person)
    assert r.status_code == 201, r.text
    assert (await client.post("/v1/ratings", json={"target_kind": "hall_visit", "target_id": elderly["id"],
                                                   "score": 4}, headers=company)).status_code == 409  # not finished

    today = dt.datetime.now(SHANGHAI).date().isoformat()
    report = (await client.get(f"/v1/helpdesk/reports?from={today}&to={today}&group_by=department",
                               headers=ops)).json()
    halls = next(g for g in report["groups"] if g["key"] == f"hall:{hall_id}")["halls"]
    assert (halls["visits"], halls["called"], halls["finished"]) == (3, 3, 1)
    assert halls["wait_compliance_rate"] == 1.0 and halls["handling_compliance_rate"] == 1.0


async def test_reports_json_csv_and_refusals(suite, client, token) -> None:
    await answer(client, token, await open_ticket(client, token))
    ops = bearer(await token("ops"))
    today = dt.datetime.now(SHANGHAI).date().isoformat()
    r = await client.get(f"/v1/helpdesk/reports?from={today}&to={today}", headers=ops)
    assert r.status_code == 200, r.text
    group = r.json()["groups"][0]
    assert group["key"] == "all" and group["tickets"]["tickets"] >= 1
    assert 0 <= group["tickets"]["first_response_within_60s_rate"] <= 1
    csv_text = (await client.get(f"/v1/helpdesk/reports?from={today}&to={today}&format=csv&group_by=agent",
                                 headers=ops)).text
    header = csv_text.splitlines()[0].split(",")
    assert header[0] == "key" and "tickets.first_response_within_60s_rate" in header and "hotline.connect_rate" in header
    # Each rate with its definition beside it; every figure of a group's section is defined or a count.
    definitions = r.json()["definitions"]
    resolution = definitions["tickets"]["resolution_rate"]
    assert resolution["name_zh"] == "帮办解决率" and resolution["target"] == 0.9
    assert resolution["numerator_en"] and resolution["denominator_zh"] == "期间内创建的帮办工单"
    for section, figures in group.items():
        if section != "key":
            assert {k for k in figures if k.endswith("_rate")} <= set(definitions[section]), section
    # No period: this month up to today.
    default = (await client.get("/v1/helpdesk/reports", headers=ops)).json()
    assert (default["from"], default["to"]) == (today[:8] + "01", today) and default["timezone"] == "Asia/Shanghai"
    for query, status in ((f"from={today}&to=2020-01-01", 422), ("from=yesterday&to=today", 422),
                          (f"from={today}&to={today}&group_by=planet", 422), ("from=1999-12-01&to=1999-12-31", 422),
                          ("from=2024-01-01&to=2025-01-01", 422)):
        assert (await client.get(f"/v1/helpdesk/reports?{query}", headers=ops)).status_code == status
    assert (await client.get(f"/v1/helpdesk/reports?from={today}&to={today}",
                             headers=bearer(await token("applicant-person")))).status_code == 403


async def test_clock_into_a_year_without_calendar_fails_loudly(suite, client, token) -> None:
    ops = bearer(await token("ops"))
    r = await client.post("/v1/helpdesk/policies", json={
        "id": f"long-{uuid.uuid4().hex[:6]}", "name": "超长时限（测试）", "matter_code": "LR-ZZ-999",
        "first_response": {"amount": 60, "unit": "seconds"}, "next_response": {"amount": 60, "unit": "seconds"},
        "resolution": {"amount": 600, "unit": "working_days"}}, headers=ops)
    assert r.status_code == 201, r.text
    before = await count(suite, "SELECT count(*) FROM tickets")
    # A matter code of its own (with the department named), so no other test's tickets get this policy.
    r = await client.post("/v1/tickets", json={"subject": "户外广告设施备案怎么办？", "matter_code": "LR-ZZ-999",
                                               "department": "市绿化市容局景观处"},
                          headers=bearer(await token("applicant-person")))
    assert r.status_code == 503, r.text
    assert r.json()["missing_year"] > dt.date.today().year and "CALENDAR" in r.json()["detail"]
    assert await count(suite, "SELECT count(*) FROM tickets") == before


async def test_calendar_year_submitted_and_approved_by_two_people(suite, client, token) -> None:
    year = 2099  # far from any clock: synthetic data, not an official schedule
    ops, ops2 = bearer(await token("ops")), bearer(await token("ops-2"))
    view = (await client.get(f"/v1/calendar/{year}", headers=ops)).json()
    assert view["known"] is False and view["missing_year"] >= dt.date.today().year
    today = dt.datetime.now(SHANGHAI).date()
    alarm_expected = (dt.date(view["missing_year"] - 1, 12, 31) - today).days <= 92
    assert view["alarm"] is alarm_expected
    before = await count(suite, "SELECT count(*) FROM calendar_submissions")
    document = {"holidays": [f"{year}-01-01", f"{year}-01-02"], "workdays": [f"{year}-01-03"],
                "source": "集成测试数据（非官方安排）"}
    for bad in ({**document, "holidays": ["2098-12-31"]}, {**document, "workdays": [f"{year}-01-05"]},
                {**document, "workdays": [f"{year}-01-01"]}, {**document, "holidays": []}):
        r = await client.put(f"/v1/calendar/{year}", json=bad, headers=ops)
        assert r.status_code == 422, (bad, r.text)
    assert (await client.put(f"/v1/calendar/{year}", json=document,
                             headers=bearer(await token("agent")))).status_code == 403
    assert await count(suite, "SELECT count(*) FROM calendar_submissions") == before
    r = await client.put(f"/v1/calendar/{year}", json=document, headers=ops)
    assert r.status_code == 202 and r.json()["status"] == "pending"
    assert (await client.post(f"/v1/calendar/{year}/approve", headers=ops)).status_code == 403  # not their own
    try:
        r = await client.post(f"/v1/calendar/{year}/approve", headers=ops2)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["approved_by"] == "u-ops-2" and r.json()["kv_revision"]
        view = (await client.get(f"/v1/calendar/{year}", headers=ops)).json()
        assert view["known"] is True and view["origin"].startswith(f"{CALENDAR_BUCKET}/{year}@")
        assert view["holidays"] == document["holidays"] and view["workdays"] == document["workdays"]
        assert (await client.post(f"/v1/calendar/{year}/approve", headers=ops2)).status_code == 409
    finally:
        nc = await connect_nats(suite.nats_admin)
        try:
            kv = await nc.jetstream().key_value(CALENDAR_BUCKET)
            await kv.purge(str(year))
        finally:
            await nc.close()


async def test_an_application_step_is_rated_once_by_its_applicant(suite, client, token) -> None:
    person_token = await token("applicant-person")
    detail = await matter(client, person_token, "LR-XK-008")
    application = await submit_for_verdict(client, person_token, detail, valid_form(detail, seed=61),
                                           await all_materials(client, person_token, detail))
    step = application["status"]  # prereviewed or returned: a step the application has been through
    person = bearer(person_token)
    body = {"target_kind": "application_step", "target_id": application["id"], "step": step, "score": 2,
            "comment": "预审退回的理由不清楚"}
    for bad, status in (({"step": "approved"}, 409), ({"step": None}, 422), ({"target_id": "nope"}, 404)):
        r = await client.post("/v1/ratings", json={**body, **bad}, headers=person)
        assert r.status_code == status, (bad, r.text)
    assert (await client.post("/v1/ratings", json=body,
                              headers=bearer(await token("applicant-company")))).status_code == 404  # not theirs
    r = await client.post("/v1/ratings", json=body, headers=person)
    assert r.status_code == 201, r.text
    assert r.json()["matter_code"] == "LR-XK-008" and r.json()["department"] == LICENSING
    assert r.json()["rectification_id"]  # a bad rating of a step is put right like any other
    assert (await client.post("/v1/ratings", json=body, headers=person)).status_code == 409
    assert await count(suite, "SELECT count(*) FROM ratings WHERE target_id LIKE $1", f"{application['id']}%") == 1


async def test_the_hotline_system_records_transfers_with_its_own_client(suite, client) -> None:
    r = await client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "hotline-12345",
                                               "client_secret": "demo"})
    assert r.status_code == 200 and r.json()["scope"] == "hotline:write"
    system = bearer(r.json()["access_token"])
    call = uuid.uuid4().hex
    recorded = await client.post("/v1/hotline/transfers", json={
        "call_id": call, "department": "市绿化市容局环卫处", "attempted_at": dt.datetime.now(SHANGHAI).isoformat(),
        "connected": False, "wait_seconds": 25}, headers=system)
    assert recorded.status_code == 201, recorded.text
    # Its scope opens the hotline and nothing else.
    assert (await client.get("/v1/tickets", headers=system)).status_code == 403


async def test_rating_an_unfinished_ticket_is_409_whose_status_is_the_code(
        suite, client, token, problems) -> None:
    """Issue 15: the 409 said the ticket's status ("assigned") where RFC 9457 puts the response's code."""
    await go_available(client, token, "agent-licensing")
    ticket = await open_ticket(client, token)
    assert ticket["status"] == "assigned"
    person = bearer(await token("applicant-person"))
    r = await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], "score": 1},
                          headers=person)
    body = problem(r, 409)
    assert body["status_now"] == "assigned"
    english = await client.post("/v1/ratings", json={"target_kind": "ticket", "target_id": ticket["id"], "score": 1},
                                headers={**person, "Accept-Language": "en"})
    assert problem(english, 409)["detail"] == "The ticket is not finished yet"
    assert body["detail"] == "工单尚未办结，不能评价"
    assert await count(suite, "SELECT count(*) FROM ratings WHERE target_id = $1", ticket["id"]) == 0
    assert await count(suite, "SELECT count(*) FROM rectifications r JOIN ratings g ON g.id = r.rating_id "
                              "WHERE g.target_id = $1", ticket["id"]) == 0
    # The fixture checks every problem of every test here; this one saw these two at least.
    assert [p for p in problems if p[0] == "POST /v1/ratings"] == [("POST /v1/ratings", 409, 409)] * 2
    await answer(client, token, ticket)
