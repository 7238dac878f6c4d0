"""svc-knowledge through the gateway: the editorial flow, versions and "as of" lookups, import with
broken lines, search, the assistant (answers, clarifying questions, hand-over with its event),
unanswered questions, inspection and the reports — and bad inputs that must change nothing."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid

import httpx
import nats
import pytest

from kit.contracts.helpdesk import AnswerProposed
from kit.contracts.knowledge import AssistantHandedOver
from support import bearer, connect_nats, consumers_settled, nats_admin, settled, until

pytestmark = pytest.mark.asyncio(loop_scope="session")


def line(**fields) -> str:
    base = {"matter": None, "category": "general", "similar": [], "policy_ref": None}
    return json.dumps(base | fields, ensure_ascii=False)


async def wait_searchable(client: httpx.AsyncClient, q: str, entry_id: str, present: bool = True) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        r = await client.get("/v1/knowledge/search", params={"q": q})
        assert r.status_code == 200, r.text
        ids = [i["id"] for i in r.json()["items"]]
        if (entry_id in ids) == present or time.monotonic() > deadline:
            return r.json()["items"]
        await asyncio.sleep(0.1)


async def count_entries(suite) -> int:
    conn = await suite.db("knowledge")
    try:
        return await conn.fetchval("SELECT count(*) FROM entries")
    finally:
        await conn.close()


async def test_the_shipped_corpus_is_searchable_anonymously(client: httpx.AsyncClient) -> None:
    items = await wait_searchable(client, "挪树要什么材料", "kb-0043")
    assert items[0]["id"] == "kb-0043"  # 挪树 is the colloquial name of 迁移树木
    assert items[0]["score"] >= items[1]["score"]
    assert {"id", "question", "answer", "score"} <= set(items[0])


async def test_editor_creates_reviewer_publishes_then_a_revision_is_versioned(client, token, suite) -> None:
    editor, reviewer = bearer(await token("editor")), bearer(await token("reviewer"))
    entry_id = f"kb-it-{uuid.uuid4().hex[:8]}"
    body = {"id": entry_id, "question": "古树名木养护补贴怎么申请？", "similar": ["古树养护有没有补贴"],
            "answer": "<p>向所在区绿化管理部门申请。</p><script>alert(1)</script>", "category": "process",
            "owner_department": "市绿化市容局"}
    r = await client.post("/v1/knowledge/entries", json=body, headers=editor)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "draft" and created["version"] == 1 and not created["live"]
    assert "<script>" not in created["content"]["answer"] and "<p>" in created["content"]["answer"]
    # Not searchable and not readable by the public before it is published.
    assert entry_id not in [i["id"] for i in (await client.get("/v1/knowledge/search", params={"q": "古树名木养护补贴"})).json()["items"]]
    assert (await client.get(f"/v1/knowledge/entries/{entry_id}", headers=bearer(await token("applicant-person")))).status_code == 404
    # An editor may not publish; a reviewer may.
    assert (await client.post(f"/v1/knowledge/entries/{entry_id}/publish", headers=editor)).status_code == 403
    assert (await client.post(f"/v1/knowledge/entries/{entry_id}/submit", headers=editor)).json()["status"] == "in_review"
    r = await client.post(f"/v1/knowledge/entries/{entry_id}/publish", headers=reviewer)
    assert r.status_code == 200, r.text
    assert r.json()["live"] and r.json()["published_version"] == 1
    items = await wait_searchable(client, "古树名木养护补贴", entry_id)
    assert items[0]["id"] == entry_id

    # A revision is a new draft version; the published one stays what the public sees.
    r = await client.patch(f"/v1/knowledge/entries/{entry_id}", json={"answer": "向区绿化管理所在线申请。", "note": "渠道变更"},
                           headers=editor)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["status"] == "draft" and r.json()["published_version"] == 1
    public = (await client.get(f"/v1/knowledge/entries/{entry_id}", headers=bearer(await token("applicant-person")))).json()
    assert public["version"] == 1 and "所在区绿化管理部门" in public["answer"]
    await client.post(f"/v1/knowledge/entries/{entry_id}/publish", headers=reviewer)
    public = (await client.get(f"/v1/knowledge/entries/{entry_id}", headers=bearer(await token("applicant-person")))).json()
    assert public["version"] == 2
    # As of yesterday it was not published; as of today it is version 2.
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    r = await client.get(f"/v1/knowledge/entries/{entry_id}", params={"as_of": yesterday}, headers=editor)
    assert r.status_code == 404
    history = (await client.get(f"/v1/knowledge/entries/{entry_id}/history", headers=editor)).json()["items"]
    assert [h["action"] for h in history] == ["created", "submitted", "published", "revised", "published"]
    assert history[3]["changed_fields"] == ["answer"] and history[3]["note"] == "渠道变更"
    assert history[2]["actor"] != history[0]["actor"]

    # Retired: gone from search on every replica without a restart.
    r = await client.post(f"/v1/knowledge/entries/{entry_id}/retire", headers=reviewer)
    assert r.status_code == 200 and not r.json()["live"]
    items = await wait_searchable(client, "古树名木养护补贴", entry_id, present=False)
    assert entry_id not in [i["id"] for i in items]
    r = await client.post(f"/v1/knowledge/entries/{entry_id}/retire", headers=reviewer)
    assert r.status_code == 409 and r.json()["status"] == 409 and r.json()["status_now"] == "retired"
    assert r.json()["allowed_actions"] == [{"action": "publish", "roles": ["reviewer"], "to_status": "published"}]


async def test_bad_entries_are_refused_and_nothing_is_written(client, token, suite) -> None:
    editor = bearer(await token("editor"))
    before = await count_entries(suite)
    for body in ({"question": "", "answer": "x"}, {"question": "q", "answer": "   "},
                 {"question": "q", "answer": "a", "category": "nonsense"}, {"question": "q" * 501, "answer": "a"},
                 {"question": "q", "answer": "a", "id": "bad id!"}, {"question": "q", "answer": "a", "unknown": 1},
                 {"question": "q", "answer": "a", "effective_from": "2026-05-01", "effective_to": "2026-01-01"},
                 {"question": "q", "answer": "<script>only a script</script>"}, {"question": "q\u0000", "answer": "a"}):
        r = await client.post("/v1/knowledge/entries", json=body, headers=editor)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/v1/knowledge/entries", json={"question": "q", "answer": "a"},
                          headers=bearer(await token("applicant-person")))
    assert r.status_code == 403
    r = await client.post("/v1/knowledge/entries", json={"question": "q", "answer": "a"})
    assert r.status_code == 401
    r = await client.post("/v1/knowledge/entries", json={"id": "kb-0001", "question": "q", "answer": "a"}, headers=editor)
    assert r.status_code == 409
    assert await count_entries(suite) == before
    assert (await client.post("/v1/knowledge/entries/kb-nope/publish", headers=bearer(await token("reviewer")))).status_code == 404
    # A change that would leave the entry invalid is refused; the entry keeps its version.
    for patch in ({"similar": None}, {"category": None}, {"answer": ""}, {"note": "x" * 501}, {"id": "other"}):
        r = await client.patch("/v1/knowledge/entries/kb-0002", json=patch, headers=editor)
        assert r.status_code == 422, (patch, r.text)
    r = await client.get("/v1/knowledge/entries/kb-0002", headers=editor)
    assert r.json()["version"] == 1
    assert (await client.get("/v1/knowledge/entries/kb-0002/versions/99999999999", headers=editor)).status_code == 422


async def test_import_keeps_ids_reports_broken_lines_and_export_round_trips(client, token, suite) -> None:
    ops = bearer(await token("ops"))
    tag = uuid.uuid4().hex[:6]
    body = "\n".join([
        line(id=f"kb-imp-{tag}-1", question="绿化工程竣工验收要准备什么？", answer="准备竣工图和养护方案。", category="materials"),
        "{not json",
        line(id=f"kb-imp-{tag}-2", question="", answer="空问题"),
        json.dumps([1, 2]),
        line(id=f"kb-imp-{tag}-1", question="重复 id", answer="x"),
        line(id=f"kb-imp-{tag}-3", question="绿化工程竣工验收多久？", answer="10个工作日。", category="time_limit",
             similar=["竣工验收几天"]),
        line(id=f"kb-imp-{tag}-4", question="q", answer="a", category="bogus"),
    ]).encode()
    r = await client.post("/v1/knowledge/import", params={"publish": "true"}, content=body,
                          headers=ops | {"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["received"], report["created"], report["published"]) == (7, 2, 2)
    assert sorted(x["line"] for x in report["rejected"]) == [2, 3, 4, 5, 7]
    assert all(x["errors"] for x in report["rejected"])
    items = await wait_searchable(client, "绿化工程竣工验收要多久", f"kb-imp-{tag}-3")
    assert items[0]["id"] == f"kb-imp-{tag}-3"
    # The same file again changes nothing.
    again = (await client.post("/v1/knowledge/import", params={"publish": "true"}, content=body, headers=ops)).json()
    assert (again["created"], again["updated"], again["unchanged"], again["published"]) == (0, 0, 2, 0)
    # Export in the import format.
    r = await client.get("/v1/knowledge/export", headers=ops)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    exported = {json.loads(x)["id"]: json.loads(x) for x in r.text.splitlines()}
    assert exported[f"kb-imp-{tag}-3"]["similar"] == ["竣工验收几天"] and "kb-0001" in exported
    # An editor may import drafts but not publish; an empty body is refused and writes nothing.
    before = await count_entries(suite)
    editor = bearer(await token("editor"))
    assert (await client.post("/v1/knowledge/import", params={"publish": "true"}, content=body, headers=editor)).status_code == 403
    assert (await client.post("/v1/knowledge/import", content=b"  \n", headers=editor)).status_code == 422
    assert (await client.post("/v1/knowledge/import", content=b"\xff\xfe\x00", headers=editor)).status_code == 422
    assert await count_entries(suite) == before


async def test_search_bad_inputs(client) -> None:
    assert (await client.get("/v1/knowledge/search", params={"q": ""})).status_code == 422
    assert (await client.get("/v1/knowledge/search", params={"q": "   "})).status_code == 422
    assert (await client.get("/v1/knowledge/search", params={"q": "树" * 600})).status_code == 422
    assert (await client.get("/v1/knowledge/search", params={"q": "树", "limit": 0})).status_code == 422
    r = await client.get("/v1/knowledge/search", params={"q": "zzqx wvk"})
    assert r.status_code == 200 and r.json()["items"] == []


async def _session(client: httpx.AsyncClient, headers: dict | None = None) -> str:
    r = await client.post("/v1/assistant/sessions", json={}, headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_assistant_answers_clarifies_and_narrows(client) -> None:
    sid = await _session(client)
    r = await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "建筑垃圾处置证办下来要几个工作日"})
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["entry"]["id"] == "kb-0008" and not reply["handover"] and reply["clarify"] is None
    assert 0 < reply["confidence"] <= 1 and len(reply["suggestions"]) <= 3
    # Ambiguous: a signboard is either approved or filed. One question back, then the answer uses it.
    sid = await _session(client)
    reply = (await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "招牌"})).json()
    assert reply["clarify"] and reply["entry"] is None and not reply["handover"]
    reply = (await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "普通小店一楼的门头店招"})).json()
    reply = (await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "收费吗"})).json()
    assert reply["entry"]["id"] == "kb-0099", reply  # 户外招牌设置备案 — fees
    session = (await client.get(f"/v1/assistant/sessions/{sid}")).json()
    assert session["turns"] == 3 and len(session["messages"]) == 6
    r = await client.post(f"/v1/assistant/sessions/{sid}/feedback", json={"solved": True})
    assert r.status_code == 200 and r.json()["solved"] is True
    # Saying so in the conversation counts the same.
    sid = await _session(client)
    await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "移树要交钱吗"})
    reply = (await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "解决了，谢谢"})).json()
    assert reply["entry"] is None and not reply["handover"]
    assert (await client.get(f"/v1/assistant/sessions/{sid}")).json()["solved"] is True


async def test_assistant_hands_over_with_the_conversation_and_records_the_question(client, token, suite) -> None:
    nc = await connect_nats(suite.nats_admin)
    received: list[AssistantHandedOver] = []
    js = nc.jetstream()
    try:
        sub = await js.subscribe(AssistantHandedOver.event_type, ordered_consumer=True,
                                 deliver_policy=nats.js.api.DeliverPolicy.NEW)
        # Another department's matter goes to 12345: no ticket for the bureau's help desk.
        elsewhere = await _session(client)
        reply = (await client.post(f"/v1/assistant/sessions/{elsewhere}/messages",
                                   json={"text": "社保断缴了几个月怎么补缴"})).json()
        assert reply["handover"] and reply["handover_reason"] == "out_of_scope" and reply["entry"] is None
        assert reply["referral"]["phone"] == "12345" and "社会保障" in reply["referral"]["department"]
        assert "12345" in reply["answer"] and "12345" in reply["answer_en"] and reply["suggestions"] == []
        # The bureau's own field, with no answer in the base: the help desk gets it.
        sid = await _session(client)
        reply = (await client.post(f"/v1/assistant/sessions/{sid}/messages",
                                   json={"text": "行道树的落叶谁来扫"})).json()
        assert reply["handover"] and reply["entry"] is None and reply["referral"] is None
        assert reply["handover_reason"] in ("no_answer", "low_confidence") and reply["confidence"] < 0.5
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=1)
            except TimeoutError:
                continue
            data = json.loads(msg.data)["data"]
            # Events come in the order they were committed: one for the 社保 conversation would be first.
            assert data["conversation_id"] != elsewhere, "a question for 12345 reached the help desk"
            if data["conversation_id"] == sid:
                received.append(AssistantHandedOver.model_validate(data))
    finally:
        await nc.close()
    assert received and received[0].reason in ("no_answer", "low_confidence")
    assert received[0].turns[0].text == "行道树的落叶谁来扫" and received[0].turns[-1].role == "assistant"
    # The question is grouped with a similar one and due in 5 working days.
    sid2 = await _session(client)
    await client.post(f"/v1/assistant/sessions/{sid2}/messages", json={"text": "行道树的落叶是谁来扫的"})
    editor = bearer(await token("editor"))
    groups = (await client.get("/v1/knowledge/unanswered", headers=editor)).json()["items"]
    assert not any("社保" in g["question"] for g in groups)  # not a gap of the bureau's knowledge base
    group = next(g for g in groups if "落叶" in g["question"])
    assert group["count"] == 2 and group["status"] == "open" and not group["overdue"]
    assert dt.date.fromisoformat(group["due_date"]) > dt.date.today()
    # Asking for a human hands over at once, without recording an unanswered question.
    sid3 = await _session(client)
    reply = (await client.post(f"/v1/assistant/sessions/{sid3}/messages", json={"text": "转人工"})).json()
    assert reply["handover"]
    # An editor resolves the group by linking an entry.
    r = await client.post(f"/v1/knowledge/unanswered/{group['id']}/resolve", json={"entry_id": "kb-0124"}, headers=editor)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert (await client.post(f"/v1/knowledge/unanswered/{group['id']}/resolve", json={"entry_id": "kb-0124"},
                              headers=editor)).status_code == 409
    assert (await client.post(f"/v1/knowledge/unanswered/{'0' * 32}/resolve", json={"entry_id": "kb-0124"},
                              headers=editor)).status_code == 404
    report = (await client.get("/v1/knowledge/reports", headers=editor)).json()
    assert report["assistant"]["handed_over"] >= 3 and report["unanswered"]["resolved"] >= 1
    assert 0 <= report["assistant"]["resolution_rate"] <= 1 and report["definitions"]["assistant"]["resolution_rate"]


async def test_assistant_bad_inputs_change_nothing(client, suite) -> None:
    sid = await _session(client)
    for body in ({"text": ""}, {"text": "   "}, {"text": "树" * 10_000}, {}, {"text": 5}, {"text": "a", "x": 1},
                 {"text": "挪树\u0000"}):
        r = await client.post(f"/v1/assistant/sessions/{sid}/messages", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.post(f"/v1/assistant/sessions/{'0' * 32}/messages", json={"text": "挪树"})).status_code == 404
    assert (await client.post("/v1/assistant/sessions/not-a-session/messages", json={"text": "挪树"})).status_code == 422
    assert (await client.post(f"/v1/assistant/sessions/{'0' * 32}/feedback", json={"solved": True})).status_code == 404
    assert (await client.post(f"/v1/assistant/sessions/{sid}/feedback", json={"solved": "maybe"})).status_code == 422
    conn = await suite.db("knowledge")
    try:
        assert await conn.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1", sid) == 0
        assert await conn.fetchval("SELECT turns FROM conversations WHERE id = $1", sid) == 0
    finally:
        await conn.close()


async def test_a_logged_in_persons_conversation_is_theirs(client, token) -> None:
    person = bearer(await token("applicant-person"))
    sid = await _session(client, person)
    assert (await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "挪树"})).status_code == 403
    assert (await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "挪树"},
                              headers=bearer(await token("applicant-company")))).status_code == 403
    # "My application" while logged in is answered from svc-matters with the person's own applications.
    reply = (await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "查一下我的申请到哪一步了"},
                               headers=person)).json()
    assert reply["entry"]["id"] == "kb-0112" and reply["applications"] is not None


async def test_help_desk_answer_becomes_a_draft_entry(client, token, suite) -> None:
    proposal = AnswerProposed(proposal_id=uuid.uuid4().hex, ticket_id="t-1", conversation_id=None, matter_code="LR-XK-008",
                              question="绿化养护单位资质在哪里查？", answer="在市绿化市容局官网“行业管理”栏目查询。",
                              department="市绿化市容局", proposed_by="agent", proposed_at=dt.datetime.now(dt.UTC))
    nc = await connect_nats(suite.nats_admin)
    try:
        js = nc.jetstream()
        try:
            await js.add_stream(name="LVRONG_HELPDESK", subjects=["lvrong.helpdesk.>"])
        except Exception:  # it exists already when svc-helpdesk started first
            pass
        envelope = proposal.envelope()
        for _ in range(2):  # delivered twice: one draft
            await js.publish(AnswerProposed.event_type, envelope.to_json_bytes(), headers={"Nats-Msg-Id": envelope.id + str(_)})
    finally:
        await nc.close()
    editor = bearer(await token("editor"))
    # Both deliveries handled (svc-knowledge's consumer is through the stream): a second draft would be there now.
    await consumers_settled(nats_admin(suite.env), "LVRONG_HELPDESK", ["knowledge-answers-proposed"])
    items = (await client.get("/v1/knowledge/entries", params={"status": "draft", "limit": 100}, headers=editor)).json()["items"]
    drafts = [e for e in items if e["content"]["question"] == proposal.question]
    assert len(drafts) == 1 and drafts[0]["created_by"] == "agent" and not drafts[0]["live"]
    assert drafts[0]["content"]["matter"] == "对迁移树木的许可"  # the catalogue code named as the matter


async def test_inspection_confirm_and_policy_deadlines(client, token) -> None:
    editor, reviewer = bearer(await token("editor")), bearer(await token("reviewer"))
    r = await client.post("/v1/knowledge/entries/kb-0001/confirm", json={"note": "核对无误"}, headers=editor)
    assert r.status_code == 200, r.text
    assert dt.date.fromisoformat(r.json()["next_inspection_due"]) > dt.date.today()
    # A draft is not inspected.
    entry = (await client.post("/v1/knowledge/entries", json={"question": "新政策问答", "answer": "见通知。",
                                                             "policy_effective_date": (dt.date.today() + dt.timedelta(days=2)).isoformat()},
                               headers=editor)).json()
    r = await client.post(f"/v1/knowledge/entries/{entry['id']}/confirm", headers=editor)
    assert r.status_code == 409 and r.json()["status_now"] == "draft"
    assert "confirm" not in [a["action"] for a in r.json()["allowed_actions"]]
    # Linked to a policy taking effect in two days and not published: at risk.
    deadlines = (await client.get("/v1/knowledge/policy-deadlines", headers=editor)).json()
    risky = [i for i in deadlines["at_risk"] + deadlines["late"] if i["id"] == entry["id"]]
    assert risky and dt.date.fromisoformat(risky[0]["policy_deadline"]) < dt.date.fromisoformat(risky[0]["policy_effective_date"])
    await client.post(f"/v1/knowledge/entries/{entry['id']}/publish", headers=reviewer)
    report = (await client.get("/v1/knowledge/reports", headers=editor)).json()
    assert report["inspection"]["confirmed_in_cycle"] >= 1 and report["inspection"]["confirmation_rate"] == 1.0
    assert (await client.get("/v1/knowledge/reports", headers=bearer(await token("applicant-person")))).status_code == 403


# --- 这个回答解决了您的问题吗: the person's confirmation of each answer (issue 21) ----------------------

CONFIRMATIONS = "SELECT count(*) FROM answer_confirmations WHERE conversation_id = $1"


async def _scalar(suite, service: str, query: str, *args):
    conn = await suite.db(service)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def _knowledge_value(suite, query: str, *args):
    return await _scalar(suite, "knowledge", query, *args)


async def _answered(client: httpx.AsyncClient, headers: dict | None = None, text: str = "建筑垃圾处置证办下来要几个工作日"
                    ) -> tuple[str, int]:
    sid = await _session(client, headers)
    reply = (await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": text},
                               headers=headers or {})).json()
    assert reply["entry"] and reply["answer_seq"] == 2, reply
    assert reply["confirm"] == {"question_zh": "这个回答解决了您的问题吗？", "question_en": "Did this answer solve your problem?"}
    return sid, reply["answer_seq"]


async def _assistant_figures(client: httpx.AsyncClient, token) -> dict:
    r = await client.get("/v1/knowledge/reports", headers=bearer(await token("ops")))
    assert r.status_code == 200, r.text
    return r.json()["assistant"]


def _confirmation(sid: str, seq: int) -> str:
    return f"/v1/assistant/sessions/{sid}/answers/{seq}/confirmation"


async def test_only_a_confirmed_yes_counts_as_resolved(client, token) -> None:
    before = await _assistant_figures(client, token)
    yes, yes_seq = await _answered(client)
    unconfirmed, _ = await _answered(client)
    no, no_seq = await _answered(client)
    r = await client.put(_confirmation(yes, yes_seq), json={"resolved": True})
    assert r.status_code == 200, r.text
    assert r.json()["resolved"] is True and r.json()["handover_offer"] is None and not r.json()["handed_over"]
    r = await client.put(_confirmation(no, no_seq), json={"resolved": False})
    assert r.status_code == 200 and r.json()["resolved"] is False
    # A "no" offers a human desk, in both languages, and hands nothing over by itself.
    assert r.json()["handover_offer"]["text_zh"].startswith("很抱歉") and r.json()["handover_offer"]["text_en"]
    assert r.json()["handed_over"] is False and (await client.get(f"/v1/assistant/sessions/{no}")).json()["handed_over"] is False
    after = await _assistant_figures(client, token)
    delta = {k: after[k] - before[k] for k in ("sessions", "answered", "resolved", "not_resolved", "unconfirmed",
                                               "handed_over", "answers", "answers_confirmed_resolved",
                                               "answers_confirmed_not_resolved", "answers_unconfirmed")}
    # The unconfirmed answer is no longer counted as resolved: it is counted on its own.
    assert delta == {"sessions": 3, "answered": 3, "resolved": 1, "not_resolved": 1, "unconfirmed": 1, "handed_over": 0,
                     "answers": 3, "answers_confirmed_resolved": 1, "answers_confirmed_not_resolved": 1,
                     "answers_unconfirmed": 1}
    assert after["resolution_rate"] == round(after["resolved"] / after["sessions"], 4)
    assert after["confirmation_rate"] == round((after["resolved"] + after["not_resolved"]) / after["answered"], 4)


async def test_a_confirmation_is_given_once(client, suite) -> None:
    sid, seq = await _answered(client)
    first = await client.put(_confirmation(sid, seq), json={"resolved": True})
    again = await client.put(_confirmation(sid, seq), json={"resolved": True})
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    other = await client.put(_confirmation(sid, seq), json={"resolved": False})
    assert other.status_code == 409 and other.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"/v1/assistant/sessions/{sid}")).json()["solved"] is True
    assert await _knowledge_value(suite, CONFIRMATIONS, sid) == 1
    assert await _knowledge_value(suite, "SELECT resolved FROM answer_confirmations WHERE conversation_id = $1", sid)
    # Saying "解决了" after the answer confirms it the same way.
    sid, seq = await _answered(client)
    await client.post(f"/v1/assistant/sessions/{sid}/messages", json={"text": "解决了，谢谢"})
    assert await _knowledge_value(suite, "SELECT resolved FROM answer_confirmations WHERE conversation_id = $1 "
                                         "AND answer_seq = $2", sid, seq) is True


async def test_only_the_conversations_owner_confirms(client, token, suite) -> None:
    person = bearer(await token("applicant-person"))
    sid, seq = await _answered(client, person)
    for headers in ({}, bearer(await token("applicant-company")), bearer(await token("agent")),
                    bearer(await token("ops"))):
        r = await client.put(_confirmation(sid, seq), json={"resolved": True}, headers=headers)
        assert r.status_code == 403, (headers, r.text)
    assert await _knowledge_value(suite, CONFIRMATIONS, sid) == 0
    assert (await client.put(_confirmation(sid, seq), json={"resolved": True}, headers=person)).status_code == 200
    # Staff do not confirm an anonymous visitor's answers either.
    anonymous, seq = await _answered(client)
    assert (await client.put(_confirmation(anonymous, seq), json={"resolved": True},
                             headers=bearer(await token("agent")))).status_code == 403
    assert await _knowledge_value(suite, CONFIRMATIONS, anonymous) == 0


async def test_bad_confirmations_change_nothing(client, suite) -> None:
    sid, seq = await _answered(client)
    for path, body, status in (
        (_confirmation(sid, seq - 1), {"resolved": True}, 404),  # the person's own question, not an answer
        (_confirmation(sid, 98), {"resolved": True}, 404),
        (_confirmation(sid, 0), {"resolved": True}, 422),
        (_confirmation(sid, -2), {"resolved": True}, 422),
        (_confirmation(sid, seq), {"resolved": "yes"}, 422),
        (_confirmation(sid, seq), {"resolved": 1}, 422),
        (_confirmation(sid, seq), {}, 422),
        (_confirmation(sid, seq), {"resolved": True, "hand_over": True}, 422),
        (_confirmation(sid, seq), {"resolved": False, "extra": 1}, 422),
        (_confirmation("0" * 32, 2), {"resolved": True}, 404),
        (f"/v1/assistant/sessions/{sid}/answers/x/confirmation", {"resolved": True}, 422),
    ):
        r = await client.put(path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # A clarifying question is not an answer to confirm.
    clarified = await _session(client)
    reply = (await client.post(f"/v1/assistant/sessions/{clarified}/messages", json={"text": "招牌"})).json()
    assert reply["clarify"] and reply["answer_seq"] is None and reply["confirm"] is None
    assert (await client.put(_confirmation(clarified, 2), json={"resolved": True})).status_code == 404
    assert await _knowledge_value(suite, CONFIRMATIONS, sid) == 0
    assert await _knowledge_value(suite, CONFIRMATIONS, clarified) == 0
    assert (await client.get(f"/v1/assistant/sessions/{sid}")).json()["solved"] is None


async def test_a_no_is_handed_over_to_a_human_desk_once(client, suite) -> None:
    sid, seq = await _answered(client, text="移树要交钱吗")
    assert (await client.put(_confirmation(sid, seq), json={"resolved": False})).status_code == 200
    r = await client.put(_confirmation(sid, seq), json={"resolved": False, "hand_over": True})
    assert r.status_code == 200, r.text
    assert r.json()["handed_over"] is True and r.json()["handover_offer"] is None
    assert (await client.get(f"/v1/assistant/sessions/{sid}")).json()["handed_over"] is True
    # The help desk opens a ticket on the assistant channel with the conversation.
    await until(lambda: _fetch_helpdesk(suite, "SELECT count(*) FROM tickets WHERE conversation_id = $1", sid),
                "a ticket for the conversation")
    again = await client.put(_confirmation(sid, seq), json={"resolved": False, "hand_over": True})
    assert again.status_code == 200 and again.json() == r.json()
    await settled(suite, "knowledge", ["helpdesk-handovers"])  # kit.events.consumer.durable_name
    assert await _fetch_helpdesk(suite, "SELECT count(*) FROM tickets WHERE conversation_id = $1", sid) == 1
    events = await _knowledge_value(suite, "SELECT count(*) FROM outbox WHERE envelope->>'type' = $1 "
                                           "AND envelope->'data'->>'conversation_id' = $2",
                                    AssistantHandedOver.event_type, sid)
    assert events == 1
    reason = await _knowledge_value(suite, "SELECT envelope->'data'->>'reason' FROM outbox WHERE "
                                           "envelope->'data'->>'conversation_id' = $1", sid)
    assert reason == "not_resolved"


async def _fetch_helpdesk(suite, query: str, *args):
    return await _scalar(suite, "helpdesk", query, *args)


async def test_knowledge_reports_cover_a_period_with_definitions(client, token, suite) -> None:
    ops = bearer(await token("ops"))
    report = (await client.get("/v1/knowledge/reports", headers=ops)).json()
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    assert report["to"] in (today.isoformat(), (today - dt.timedelta(days=1)).isoformat())
    assert report["from"] == report["to"][:8] + "01" and report["timezone"] == "Asia/Shanghai"
    definition = report["definitions"]["assistant"]["resolution_rate"]
    assert definition["name_zh"] == "智能客服解决率" and definition["target"] == 0.6
    assert "确认" in definition["numerator_zh"] and "confirmed" in definition["numerator_en"]
    assert definition["denominator_zh"] and definition["denominator_en"]
    # A period with no conversation at all.
    empty = (await client.get("/v1/knowledge/reports", params={"from": "2024-01-01", "to": "2024-01-31"},
                              headers=ops)).json()
    assert empty["assistant"]["sessions"] == 0 and empty["assistant"]["resolution_rate"] is None
    assert (empty["from"], empty["to"]) == ("2024-01-01", "2024-01-31")
    audit_before = await _knowledge_value(suite, "SELECT count(*) FROM audit_log")
    for params in ({"from": "2024-02-01", "to": "2024-01-01"}, {"from": "2023-01-01", "to": "2024-01-02"},
                   {"from": "1999-01-01", "to": "1999-01-31"}, {"from": "2024-02-30"}, {"to": "today"}):
        r = await client.get("/v1/knowledge/reports", params=params, headers=ops)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await _knowledge_value(suite, "SELECT count(*) FROM audit_log") == audit_before
