"""The staff workbench (/app/staff): officers and reviewers work the department's applications by statutory
due date — claim, accept, assign, approve — with the pre-review per rule and the timeline; help-desk agents
claim and answer tickets within their SLA clocks. What the page shows is checked against what the API holds."""
from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from browser_support import OpenPage, approve_on_workbench, check_accessibility, log_in, screenshot
from playwright.async_api import Page, expect

from support import bearer, make_overdue, prereviewed_application, until

pytestmark = pytest.mark.integration


async def application(client: httpx.AsyncClient, tok: str, app_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/applications/{app_id}", headers=bearer(tok))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def overdue_application(suite, client: httpx.AsyncClient, token) -> str:
    """An accepted application whose statutory period ran out (moved back in the database: time cannot be waited for)."""
    app_id = await prereviewed_application(client, await token("applicant-person"), seed=501)
    r = await client.post(f"/v1/applications/{app_id}/actions/accept", json={}, headers=bearer(await token("officer")))
    assert r.status_code == 200, r.text
    await make_overdue(suite, app_id)
    return app_id


async def logged_in(open_page: OpenPage, user: str, viewport: str) -> Page:
    page = await open_page("/app/staff", viewport=viewport)
    await log_in(page, user)
    await expect(page.get_by_text(re.compile("当前用户"))).to_be_visible()
    return page


async def test_an_officer_claims_accepts_and_assigns_and_a_reviewer_approves(suite, client, token, open_page) -> None:
    officer, reviewer = await token("officer"), await token("reviewer")
    late = await overdue_application(suite, client, token)
    app_id = await prereviewed_application(client, await token("applicant-person"), seed=502)
    assert (await client.put("/v1/applications/handlers/me", headers=bearer(reviewer))).status_code == 200

    page = await logged_in(open_page, "officer", "desktop")
    queue = page.get_by_role("list", name="办件")
    rows = queue.get_by_role("listitem")
    # Earliest statutory due date first: the overdue one leads, said in words ("已超期"), not colour alone.
    # (The queue is shared with every test of the suite: the first page is checked for its order.)
    late_row = rows.filter(has=page.get_by_role("link", name=f"办件 {late[:8]}"))
    await expect(late_row).to_contain_text("已超期")
    texts = await rows.all_inner_texts()
    where = {kind: [i for i, text in enumerate(texts) if kind in text] for kind in ("已超期", "按期", "未计时")}
    assert where["已超期"] and max(where["已超期"]) < min(where["按期"] + where["未计时"], default=len(texts)), texts
    assert not where["按期"] or max(where["按期"]) < min(where["未计时"], default=len(texts)), texts
    await check_accessibility(page)
    await screenshot(page, "staff-desktop")
    # Filtered to what waits for acceptance and nobody holds: every row says so.
    await page.get_by_label("状态").select_option("prereviewed")
    await page.get_by_label("承办人").select_option("none")
    await expect(rows.first).to_be_visible()
    await expect(rows.filter(has_not_text="预审通过")).to_have_count(0)
    await expect(rows.filter(has_not_text="未认领")).to_have_count(0)
    # The new application (the queue is the whole suite's) is opened by its link, as from a notification.
    await page.goto(f"/app/staff#/applications/{app_id}")
    actions = page.get_by_role("region", name="办理")
    await actions.get_by_role("button", name="认领", exact=True).click()
    await actions.get_by_role("button", name="确认认领").click()
    await expect(actions.get_by_role("status")).to_have_text("已认领")
    assert (await application(client, officer, app_id))["assignee"] == "u-officer"
    await actions.get_by_role("button", name="受理", exact=True).click()
    await actions.get_by_label("受理意见").fill("材料齐全，予以受理")
    await actions.get_by_role("button", name="确认受理").click()
    await expect(actions.get_by_role("status")).to_have_text("已受理")
    await expect(page.get_by_test_id("application-status")).to_have_text("已受理")
    # Only what the officer may do now: no decision buttons for the window.
    await expect(actions.get_by_role("button", name="批准", exact=True)).to_have_count(0)
    view = await application(client, officer, app_id)
    assert view["status"] == "accepted" and view["clock"]["due_date"] is not None
    # The pre-review, rule by rule.
    rules = page.get_by_role("table", name="每条规则的结果")
    await expect(rules.get_by_role("row").nth(1)).to_be_visible()
    review = (await client.get(f"/v1/prequal/reviews/{app_id}", headers=bearer(officer))).json()
    assert await rules.get_by_role("row").count() == len(review["results"]) + 1
    await expect(rules).to_contain_text(review["results"][0]["rule_id"])
    # The timeline has the step, with the officer's note.
    timeline = page.get_by_role("region", name="办理过程")
    await expect(timeline).to_contain_text("材料齐全，予以受理")

    await actions.get_by_role("button", name="指派", exact=True).click()
    await actions.get_by_label("指派给").select_option("u-reviewer")
    await actions.get_by_role("button", name="确认指派").click()
    await expect(actions.get_by_role("status")).to_have_text("已指派")
    assert (await application(client, officer, app_id))["assignee"] == "u-reviewer"
    await check_accessibility(page)

    desk = await logged_in(open_page, "reviewer", "desktop")
    await desk.get_by_label("承办人").select_option("me")
    await expect(desk.get_by_role("link", name=f"办件 {app_id[:8]}")).to_be_visible()
    await approve_on_workbench(desk, app_id, note="符合条件，准予迁移")
    await expect(desk.get_by_test_id("application-status")).to_have_text("准予许可")
    await expect(desk.get_by_role("region", name="办理过程")).to_contain_text("符合条件，准予迁移")
    view = await application(client, reviewer, app_id)
    assert view["status"] in ("approved", "licence_issued")  # the licence may follow at once
    steps = (await client.get(f"/v1/applications/{app_id}/timeline", headers=bearer(reviewer))).json()["items"]
    actions = [s["action"] for s in steps]
    start = actions.index("claim")
    assert actions[start:start + 5] == ["claim", "accept", "assign", "review", "approve"], actions
    approval = steps[start + 4]
    assert approval["reason"] == "符合条件，准予迁移" and approval["actor"] == "u-reviewer"
    await check_accessibility(desk)


async def test_the_queue_on_a_phone(suite, client, token, open_page) -> None:
    await overdue_application(suite, client, token)
    page = await logged_in(open_page, "reviewer", "phone")
    await expect(page.get_by_role("list", name="办件").get_by_role("listitem").first).to_be_visible()
    await expect(page.get_by_role("list", name="办件")).to_contain_text("已超期")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await check_accessibility(page)
    await screenshot(page, "staff-phone")


async def test_an_agent_claims_and_answers_a_ticket_within_its_sla_clocks(client, token, open_page) -> None:
    r = await client.post("/v1/tickets", json={"subject": "工作台测试：迁移树木要多久？", "matter_code": "LR-XK-008"},
                          headers=bearer(await token("applicant-person")))
    assert r.status_code == 201, r.text
    ticket = r.json()
    page = await logged_in(open_page, "agent", "desktop")
    await expect(page.get_by_role("heading", name="帮办工单（最紧急的在前）")).to_be_visible()
    await expect(page.get_by_role("list", name="工单").get_by_role("listitem").first).to_be_visible()
    await check_accessibility(page)
    # The queue is shared with every test of the suite (most urgent first): the new ticket is opened by its link.
    await page.goto(f"/app/staff#/tickets/{ticket['id']}")
    clocks = page.get_by_role("table", name="响应与解决时限")
    # Within time or not, said in words (the suite's other tests may have set short SLA policies).
    for clock in ("首次响应", "解决"):
        await expect(clocks.get_by_role("row").filter(has_text=clock)).to_contain_text(re.compile("未超时|已超时"))
    await expect(clocks).to_contain_text("首次响应")
    await expect(clocks).to_contain_text("解决")
    await page.get_by_role("button", name="认领", exact=True).click()
    await expect(page.get_by_test_id("ticket-status")).to_have_text("处理中")
    agent = await token("agent")
    assert (await client.get(f"/v1/tickets/{ticket['id']}", headers=bearer(agent))).json()["assigned_agent"] == "u-agent"
    await page.get_by_label("答复").fill("迁移树木许可法定时限为20个工作日。")
    await page.get_by_role("button", name="发送答复").click()
    await expect(page.get_by_role("region", name="对话")).to_contain_text("迁移树木许可法定时限为20个工作日。")

    async def answered() -> bool:
        messages = (await client.get(f"/v1/tickets/{ticket['id']}/messages", headers=bearer(agent))).json()
        return any(m["author_kind"] == "agent" and m["body"] == "迁移树木许可法定时限为20个工作日。" for m in messages)
    await until(answered, "the agent's answer is on the ticket")
    await check_accessibility(page)
    await screenshot(page, "staff-tickets-desktop")
