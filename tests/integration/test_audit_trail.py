"""The audit trail through the gateway: staff reads of pre-review verdicts, ticket messages and
assistant conversations each leave exactly one audit entry (who, role, department, what, which id —
no personal data), the person's own reads none; verdicts are scoped to the staff member's department
as applications are; and every audited service anchors its chain head in the gateway's database,
which the verification command checks."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from support import all_materials, bearer, eventually, matter, submit_for_verdict, valid_form

pytestmark = pytest.mark.integration

LICENSING = "市绿化市容局许可处"
AUDITED = ("matters", "prequal", "licences", "helpdesk", "knowledge", "notifications", "booking")


async def entries(suite, service: str, action: str, resource_id: str) -> list[dict[str, Any]]:
    conn = await suite.db(service)
    try:
        rows = await conn.fetch("SELECT * FROM audit_log WHERE action = $1 AND resource_id = $2 ORDER BY position",
                                action, resource_id)
    finally:
        await conn.close()
    return [dict(r) for r in rows]


@pytest.fixture(scope="module")
async def application(client, token) -> dict[str, Any]:
    """An application of the licensing division (LR-XK-008) with its verdict."""
    person = await token("applicant-person")
    detail = await matter(client, person, "LR-XK-008")
    return await submit_for_verdict(client, person, detail, valid_form(detail, seed=1414),
                                    await all_materials(client, person, detail))


async def test_verdicts_are_scoped_to_the_department_like_applications(suite, client, token,
                                                                       application) -> None:
    app_id = application["id"]
    assert application["department"] == LICENSING
    forestry = bearer(await token("agent-forestry"))
    for path in (f"/v1/applications/{app_id}", f"/v1/prequal/reviews/{app_id}",
                 f"/v1/prequal/applications/{app_id}/verdicts"):
        r = await client.get(path, headers=forestry)
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["title_zh"] and r.json()["title_en"]
    other = await client.get(f"/v1/prequal/reviews/{app_id}", headers=bearer(await token("applicant-company")))
    assert other.status_code == 404
    for user in ("agent-licensing", "officer", "reviewer", "applicant-person"):
        r = await client.get(f"/v1/prequal/reviews/{app_id}", headers=bearer(await token(user)))
        assert r.status_code == 200, (user, r.text)
        assert r.json()["application_id"] == app_id
    # Refused reads read nothing and leave nothing; the applicant's own read neither.
    recorded = await entries(suite, "prequal", "prereview.read", app_id)
    assert [e["actor_subject"] for e in recorded] == ["u-agent-licensing", "u-officer", "u-reviewer"]
    conn = await suite.db("prequal")
    try:
        assert await conn.fetchval("SELECT DISTINCT department FROM verdicts WHERE application_id = $1",
                                   app_id) == LICENSING
    finally:
        await conn.close()


async def test_a_staff_read_of_a_verdict_leaves_exactly_one_entry_the_applicants_none(suite, client, token,
                                                                                    application) -> None:
    app_id = application["id"]
    before = len(await entries(suite, "prequal", "prereview.read", app_id))
    person = bearer(await token("applicant-person"))
    assert (await client.get(f"/v1/prequal/applications/{app_id}/verdicts", headers=person)).status_code == 200
    assert len(await entries(suite, "prequal", "prereview.read", app_id)) == before
    r = await client.get(f"/v1/prequal/applications/{app_id}/verdicts", headers=bearer(await token("agent-licensing")))
    assert r.status_code == 200
    recorded = await entries(suite, "prequal", "prereview.read", app_id)
    assert len(recorded) == before + 1
    entry = recorded[-1]
    assert (entry["actor_subject"], entry["actor_roles"], entry["actor_department"]) == (
        "u-agent-licensing", "helpdesk_agent", LICENSING)
    assert (entry["resource_type"], entry["owner_subject"]) == ("application", "u-applicant-person")
    assert json.loads(entry["details"]) == {"verdicts": len(r.json()["items"])}
    assert entry["key_id"] and entry["request_id"]


async def test_a_staff_read_of_ticket_messages_leaves_exactly_one_entry(suite, client, token) -> None:
    person = bearer(await token("applicant-person"))
    r = await client.post("/v1/tickets", json={"subject": "迁移树木许可需要哪些材料？", "matter_code": "LR-XK-008",
                                                "contact_name": "张三", "contact_phone": "13812345678"}, headers=person)
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["department"] == LICENSING
    r = await client.post(f"/v1/tickets/{ticket['id']}/messages", json={"body": "我的电话是13812345678，请回电。"},
                          headers=person)
    assert r.status_code == 201, r.text
    last = r.json()["id"]
    assert len((await client.get(f"/v1/tickets/{ticket['id']}/messages", headers=person)).json()) >= 1
    assert await entries(suite, "helpdesk", "ticket.messages_read", ticket["id"]) == []
    refused = await client.get(f"/v1/tickets/{ticket['id']}/messages", headers=bearer(await token("agent-forestry")))
    assert refused.status_code == 403
    assert await entries(suite, "helpdesk", "ticket.messages_read", ticket["id"]) == []
    agent = bearer(await token("agent-licensing"))
    r = await client.get(f"/v1/tickets/{ticket['id']}/messages", headers=agent)
    assert r.status_code == 200 and last in [m["id"] for m in r.json()]
    recorded = await entries(suite, "helpdesk", "ticket.messages_read", ticket["id"])
    assert len(recorded) == 1
    # Polling for newer messages that finds none reads nothing and leaves nothing.
    r = await client.get(f"/v1/tickets/{ticket['id']}/messages", params={"after": last}, headers=agent)
    assert r.status_code == 200 and r.json() == []
    assert len(await entries(suite, "helpdesk", "ticket.messages_read", ticket["id"])) == 1
    entry = recorded[0]
    assert (entry["actor_subject"], entry["actor_department"], entry["owner_subject"]) == (
        "u-agent-licensing", LICENSING, "u-applicant-person")
    # Never the personal data itself: not the contact's name or number, not the messages' text.
    assert "张三" not in json.dumps(entry, default=str) and "13812345678" not in json.dumps(entry, default=str)


async def test_a_staff_read_of_a_conversation_leaves_exactly_one_entry(suite, client, token) -> None:
    person = bearer(await token("applicant-person"))
    r = await client.post("/v1/assistant/sessions", json={"channel": "web"}, headers=person)
    assert r.status_code == 201, r.text
    conversation = r.json()["id"]
    r = await client.post(f"/v1/assistant/sessions/{conversation}/messages", json={"text": "迁移树木需要什么材料"},
                          headers=person)
    assert r.status_code == 200, r.text
    assert (await client.get(f"/v1/assistant/sessions/{conversation}", headers=person)).status_code == 200
    assert await entries(suite, "knowledge", "conversation.read", conversation) == []
    r = await client.get(f"/v1/assistant/sessions/{conversation}", headers=bearer(await token("agent")))
    assert r.status_code == 200 and r.json()["messages"]
    recorded = await entries(suite, "knowledge", "conversation.read", conversation)
    assert len(recorded) == 1
    assert (recorded[0]["actor_subject"], recorded[0]["owner_subject"]) == ("u-agent", "u-applicant-person")
    assert json.loads(recorded[0]["details"]) == {"messages": len(r.json()["messages"])}
    entries_page = await client.get("/v1/audit/knowledge/entries", params={"resource_id": conversation},
                                    headers=bearer(await token("inspector")))
    assert entries_page.status_code == 200
    assert [e["action"] for e in entries_page.json()["items"]] == ["conversation.read"]


async def test_every_audited_service_anchors_its_head_and_the_chains_verify(suite, client, token,
                                                                          application) -> None:
    async def anchored() -> dict[str, int]:
        conn = await suite.db("gateway")
        try:
            rows = await conn.fetch("SELECT service, max(position) AS position FROM audit_checkpoints GROUP BY service")
        finally:
            await conn.close()
        return {r["service"]: r["position"] for r in rows}

    # The verdict read above is in prequal's chain; wait until a checkpoint covers it.
    conn = await suite.db("prequal")
    try:
        head = await conn.fetchval("SELECT max(position) FROM audit_log")
    finally:
        await conn.close()
    await eventually(anchored, lambda got: set(got) == set(AUDITED) and got["prequal"] >= head,
                     "a checkpoint of every audited service, prequal's covering its head", seconds=30)
    r = await client.get("/v1/audit/prequal/verify", headers=bearer(await token("inspector")))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["valid"] and report["checkpoints_matched"] >= 1 and report["keyed_from"] == 1
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "kit.audit_anchor", "--json"],
                                     env=suite.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    verified = [json.loads(line) for line in result.stdout.splitlines()]
    assert [v["service"] for v in verified] == list(AUDITED)
    assert all(v["valid"] and v["checkpoints"] >= 1 and not v["stale"] for v in verified)
