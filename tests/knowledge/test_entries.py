"""The knowledge base's rules on a real database: versions and "as of" lookups, the index kept equal
across replicas, the import's report, the policy deadline on the platform calendar, and the late
event raised once."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from sqlalchemy import select, update

from kit.auth import Principal, Role, SubjectKind
from kit.calendar import default_calendar
from kit.errors import Conflict, Forbidden
from kit.events import outbox
from knowledge.models import Entry, EntryEvent
from knowledge.schemas import EntryCreate, EntryPatch
from knowledge.service import entries
from knowledge.service.index import IndexHolder
from knowledge.service.retrieval import analyzer
from support import scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_kb"
EDITOR = Principal(subject="editor-1", kind=SubjectKind.STAFF, roles=frozenset({Role.KNOWLEDGE_EDITOR}))
REVIEWER = Principal(subject="reviewer-1", kind=SubjectKind.STAFF, roles=frozenset({Role.REVIEWER}))


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "knowledge", PREFIX) as db:
        yield db


def test_rich_text_is_sanitised() -> None:
    cleaned = entries.sanitise('<p onclick="x()">见<a href="javascript:alert(1)">链接</a><script>bad()</script>'
                               '<a href="https://example.gov.cn">通知</a></p>')
    assert "script" not in cleaned and "onclick" not in cleaned and "javascript" not in cleaned
    assert 'href="https://example.gov.cn"' in cleaned and cleaned.startswith("<p>")


def test_the_policy_deadline_is_the_working_day_before_on_the_platform_calendar() -> None:
    calendar = default_calendar()
    for effective in (dt.date(2026, 10, 8), dt.date(2026, 6, 1), dt.date(2026, 2, 24)):
        deadline = entries.policy_deadline(effective)
        assert deadline < effective and calendar.is_working_day(deadline)
        assert calendar.working_days_between(deadline, effective) <= 1
    assert entries.policy_deadline(None) is None
    # A year the calendar has no data for: no deadline yet (never a guess from weekends alone).
    assert entries.policy_deadline(dt.date(2999, 3, 1)) is None


def test_import_reports_each_bad_line_with_its_reasons() -> None:
    body = "\n".join([
        json.dumps({"id": "kb-a", "question": "问", "answer": "答", "category": "fees"}, ensure_ascii=False),
        "", "[1]", "{broken", json.dumps({"id": "kb-b", "question": "问"}, ensure_ascii=False),
        json.dumps({"id": "kb-a", "question": "再问", "answer": "答"}, ensure_ascii=False),
    ]).encode()
    good, rejected, received = entries.parse_lines(body)
    assert received == 5 and [n for n, _ in good] == [1]
    assert {r.line: r.id for r in rejected} == {3: None, 4: None, 5: "kb-b", 6: "kb-a"}
    assert any("answer" in e for e in next(r for r in rejected if r.line == 5).errors)


async def test_versions_history_and_as_of(database) -> None:
    async with database.transaction() as s:
        await entries.create(s, EDITOR, EntryCreate(id="kb-v", question="移树要多久？", answer="5个工作日。", category="time_limit"))
        await entries.publish(s, REVIEWER, "kb-v")
    # Make version 1's publication ten days old, then revise and publish version 2 today.
    ten_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    async with database.transaction() as s:
        await s.execute(update(EntryEvent).where(EntryEvent.entry_id == "kb-v").values(at=ten_days_ago))
        await entries.change(s, EDITOR, "kb-v", EntryPatch(answer="3个工作日。", note="承诺时限缩短"))
    async with database.transaction() as s:
        live = await entries.published_as_of(s, "kb-v", None)
        assert live["version"] == 1 and live["answer"] == "5个工作日。"  # the draft is not live yet
        await entries.publish(s, REVIEWER, "kb-v")
    async with database.session() as s:
        assert (await entries.published_as_of(s, "kb-v", None))["answer"] == "3个工作日。"
        five_days_ago = (dt.datetime.now(entries.SHANGHAI) - dt.timedelta(days=5)).date()
        assert (await entries.published_as_of(s, "kb-v", five_days_ago))["version"] == 1
        with pytest.raises(entries.NotFound):
            await entries.published_as_of(s, "kb-v", five_days_ago - dt.timedelta(days=30))
        actions = [(h.action, h.version, h.actor) for h in await entries.history(s, "kb-v")]
    assert actions == [("created", 1, "editor-1"), ("published", 1, "reviewer-1"), ("revised", 2, "editor-1"),
                       ("published", 2, "reviewer-1")]
    # An unchanged patch makes no new version.
    async with database.transaction() as s:
        assert (await entries.change(s, EDITOR, "kb-v", EntryPatch(answer="3个工作日。"))).version == 2


async def test_every_replica_sees_a_publication_without_a_restart(database) -> None:
    replica_a, replica_b = IndexHolder(), IndexHolder()
    await replica_a.refresh(database, force=True)
    await replica_b.refresh(database, force=True)
    async with database.transaction() as s:
        await entries.create(s, EDITOR, EntryCreate(id="kb-r", question="古树名木认养怎么报名？", answer="向区绿化所报名。"))
        await entries.publish(s, REVIEWER, "kb-r")
    assert await replica_b.refresh(database)  # the generation moved: rebuilt
    assert replica_b.index.search(analyzer(), "古树名木认养报名")[0].entry.id == "kb-r"
    assert not await replica_b.refresh(database)  # nothing changed since: not rebuilt
    async with database.transaction() as s:
        await entries.retire(s, REVIEWER, "kb-r", None)
    assert await replica_a.refresh(database)
    assert "kb-r" not in [h.entry.id for h in replica_a.index.search(analyzer(), "古树名木认养报名")]


async def test_the_review_steps_follow_the_state_machine(database) -> None:
    async with database.transaction() as s:
        await entries.create(s, EDITOR, EntryCreate(id="kb-sm", question="树木修剪要审批吗？", answer="视情况。"))
    # Only a draft goes to review; a draft never published is not inspected (confirm needs a live entry).
    async with database.transaction() as s:
        with pytest.raises(Conflict) as refused:
            await entries.confirm(s, EDITOR, "kb-sm", None)
    assert refused.value.extensions["status_now"] == "draft"
    assert [a["action"] for a in refused.value.extensions["allowed_actions"]] == ["submit", "publish", "retire"]
    async with database.transaction() as s:
        with pytest.raises(Forbidden):
            await entries.submit(s, REVIEWER, "kb-sm", None)
        assert (await entries.submit(s, EDITOR, "kb-sm", "请审核")).status == "in_review"
    async with database.transaction() as s:
        with pytest.raises(Conflict):
            await entries.submit(s, EDITOR, "kb-sm", None)
        await entries.publish(s, REVIEWER, "kb-sm")
    # Revised after publication: a draft again, still live, so it is inspected and stays a draft.
    async with database.transaction() as s:
        await entries.change(s, EDITOR, "kb-sm", EntryPatch(answer="跨区修剪需审批。"))
        confirmed = await entries.confirm(s, EDITOR, "kb-sm", "核对无误")
        assert (confirmed.status, confirmed.live) == ("draft", True)
        assert confirmed.next_inspection_due > entries.today()
    async with database.transaction() as s:
        await entries.retire(s, REVIEWER, "kb-sm", None)
        with pytest.raises(Conflict) as refused:
            await entries.retire(s, REVIEWER, "kb-sm", None)
    assert refused.value.extensions["status_now"] == "retired"
    async with database.session() as s:
        actions = [h.action for h in await entries.history(s, "kb-sm")]
    assert actions == ["created", "submitted", "published", "revised", "confirmed", "retired"]


async def test_a_late_policy_entry_raises_one_event(database) -> None:
    effective = dt.date.today() - dt.timedelta(days=3)
    async with database.transaction() as s:
        await entries.create(s, EDITOR, EntryCreate(id="kb-p", question="新规何时施行？", answer="见通知。",
                                                     policy_effective_date=effective))
    async with database.transaction() as s:
        deadlines = await entries.policy_deadlines(s)
        assert "kb-p" in [i["id"] for i in deadlines["late"]]
        assert await entries.report_late_policies(s) == 1
    async with database.transaction() as s:
        assert await entries.report_late_policies(s) == 0
        rows = (await s.execute(select(outbox.c.envelope).where(outbox.c.subject == "lvrong.knowledge.entry.policy_late"))).all()
    assert len(rows) == 1 and rows[0].envelope["data"]["entry_id"] == "kb-p"
    assert rows[0].envelope["data"]["deadline"] == entries.policy_deadline(effective).isoformat()
    async with database.session() as s:
        assert (await s.execute(select(Entry.policy_late_reported_at).where(Entry.id == "kb-p"))).scalar_one()


async def test_a_policy_in_a_year_without_calendar_data_waits_for_the_calendar(database) -> None:
    async with database.transaction() as s:
        entry = await entries.create(s, EDITOR, EntryCreate(id="kb-far", question="远期新规？", answer="待定。",
                                                            policy_effective_date=dt.date(2999, 3, 1)))
        assert entry.policy_deadline is None
    async with database.transaction() as s:
        deadlines = await entries.policy_deadlines(s)
        assert [i["id"] for i in deadlines["waiting_for_calendar"]] == ["kb-far"]
        assert "kb-far" not in [i["id"] for i in deadlines["late"] + deadlines["at_risk"]]
        assert await entries.report_late_policies(s) == 0


async def test_unanswered_questions_are_grouped_masked_and_due_in_five_working_days(database) -> None:
    from knowledge.service.conversations import record_unanswered

    now = dt.datetime.now(dt.UTC)
    async with database.transaction() as s:
        first = await record_unanswered(s, "公积金怎么提取付房租 我手机13912345678", None, "no_answer", None, now)
        second = await record_unanswered(s, "公积金提取付房租怎么办理 我手机13912345678", None, "low_confidence", None, now)
        other = await record_unanswered(s, "驾照到期了怎么换证", None, "no_answer", None, now)
    assert first.id == second.id and first.count == 2 and other.id != first.id
    assert "13912345678" not in first.question and "139****5678" in first.question
    assert default_calendar().working_days_between(entries.today(), first.due_date) == 5
