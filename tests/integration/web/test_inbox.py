"""The inbox (站内信) on the applicant's page and the workbench: a returned application's notification arrives
live over the stream (badge in the nav and the list, without a reload), opening it marks it read and clears the
badge, "mark all read" clears the rest; the preferences form shows the contacts masked and refuses bad input
with nothing written; an officer's statutory clock warning reaches the workbench's inbox live; the list is
newest first and pages on request."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
import pytest
from browser_support import OpenPage, check_accessibility, log_in, screenshot
from playwright.async_api import Page, expect

from kit.contracts import BenefitGranted, ClockWarning
from support import COMPANY_USCC, bearer, eventually, publish_as, returned_application

pytestmark = pytest.mark.integration


async def unread(client: httpx.AsyncClient, tok: str) -> int:
    r = await client.get("/v1/notifications/unread-count", headers=bearer(tok))
    assert r.status_code == 200, r.text
    return int(r.json()["unread"])


async def read_all(client: httpx.AsyncClient, tok: str) -> None:
    """The demo accounts' inboxes are the whole suite's: a test starts from nothing unread."""
    r = await client.post("/v1/notifications/read-all", headers=bearer(tok))
    assert r.status_code == 200, r.text


async def inbox_open_and_live(page: Page) -> None:
    """The inbox is shown and its stream connected: the count is only said once the stream is live."""
    await expect(page.get_by_role("heading", name="消息", level=2)).to_be_visible()
    await expect(page.get_by_test_id("unread-count")).to_have_text("没有未读消息")
    await expect(page.get_by_test_id("unread-badge")).to_have_count(0)


async def test_a_returned_application_arrives_live_and_reading_it_clears_the_badge(
        open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    company = await token("applicant-company")
    await read_all(client, company)
    page = await open_page("/app/#/messages", viewport="phone")
    await log_in(page, "applicant-company")
    await inbox_open_and_live(page)

    first = await returned_application(client, company, seed=2101)
    # Neither reloaded nor navigated: the nav's badge and the list have it, newest first, unread.
    badge = page.get_by_test_id("unread-badge")
    await expect(badge).to_have_text("1")
    await expect(page.get_by_role("link", name=re.compile(r"消息\s*1\s*条未读"))).to_be_visible()
    items = page.get_by_role("list", name="消息列表").get_by_role("listitem")
    newest = items.first
    await expect(newest).to_contain_text("未读")
    await expect(newest).to_contain_text("需要补正")
    await check_accessibility(page)
    await screenshot(page, "inbox-phone")

    # Opened: its text (with the application) and a link to it; read, so the badge goes.
    await newest.get_by_role("button").click()
    await expect(newest).to_contain_text(first)
    await expect(newest.get_by_role("link", name="查看详情")).to_have_attribute("href", f"#/applications/{first}")
    await expect(badge).to_have_count(0)
    await expect(newest).not_to_contain_text("未读")
    assert await unread(client, company) == 0

    # Another; "mark all read" clears it without opening it.
    await returned_application(client, company, seed=2102)
    await expect(badge).to_have_text("1")
    await page.get_by_role("button", name="全部标为已读").click()
    await expect(badge).to_have_count(0)
    await expect(page.get_by_test_id("unread-count")).to_have_text("没有未读消息")
    assert await unread(client, company) == 0
    # The link leads to the application on the same page.
    await newest.get_by_role("button").click()
    await newest.get_by_role("link", name="查看详情").click()
    await expect(page.get_by_role("heading", name=re.compile("办件 "), level=2)).to_be_visible()


async def test_preferences_show_contacts_masked_and_bad_input_writes_nothing(
        open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    person = await token("applicant-person")
    before = (await client.get("/v1/notifications/preferences", headers=bearer(person))).json()
    page = await open_page("/app/#/messages", viewport="desktop", expected_statuses={422})
    await log_in(page, "applicant-person")
    settings = page.get_by_role("region", name="通知设置")
    await expect(settings.get_by_role("button", name="保存设置")).to_be_visible()

    # Not a mainland mobile number: refused with the field named, and nothing changed.
    await settings.get_by_label("新手机号（不改请留空）").fill("12345")
    await settings.get_by_role("checkbox", name="退回补正 · 短信").uncheck()
    await settings.get_by_role("button", name="保存设置").click()
    await expect(settings.get_by_role("alert")).to_contain_text("phone")
    assert (await client.get("/v1/notifications/preferences", headers=bearer(person))).json() == before

    await settings.get_by_label("新邮箱（不改请留空）").fill("li.si@example.org")
    await settings.get_by_label("新手机号（不改请留空）").fill("13812345678")
    await settings.get_by_role("button", name="保存设置").click()
    await expect(settings.get_by_role("status")).to_have_text("已保存")
    saved = (await client.get("/v1/notifications/preferences", headers=bearer(person))).json()
    assert saved["channels"]["application_returned"]["sms"] is False
    assert saved["channels"]["application_returned"]["email"] is True
    # Shown as the API masks them, never in full.
    await expect(settings.get_by_test_id("email-now")).to_have_text(saved["email"])
    await expect(settings.get_by_test_id("phone-now")).to_have_text(saved["phone"])
    assert "*" in saved["phone"] and "13812345678" not in await settings.inner_text()
    await expect(settings.get_by_role("checkbox", name="退回补正 · 短信")).not_to_be_checked()
    await check_accessibility(page)

    # Removed again (the person's inbox is the suite's), and the channel back on.
    await settings.get_by_role("button", name="删除邮箱").click()
    await expect(settings.get_by_test_id("email-now")).to_have_text("未设置")
    await settings.get_by_role("button", name="删除手机号").click()
    await expect(settings.get_by_test_id("phone-now")).to_have_text("未设置")
    await settings.get_by_role("checkbox", name="退回补正 · 短信").check()
    await settings.get_by_role("button", name="保存设置").click()
    await expect(settings.get_by_role("status")).to_have_text("已保存")
    after = (await client.get("/v1/notifications/preferences", headers=bearer(person))).json()
    assert after["email"] is None and after["phone"] is None and after["channels"]["application_returned"]["sms"] is True


async def test_an_officer_gets_a_clock_warning_live_on_the_workbench(
        suite, open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    officer = await token("officer")
    await read_all(client, officer)
    page = await open_page("/app/staff#/messages", viewport="desktop")
    await log_in(page, "officer")
    await inbox_open_and_live(page)

    warned = f"app-{uuid.uuid4().hex[:12]}"
    warning = ClockWarning(application_id=warned, matter_code="LR-XK-008", department="市绿化市容局", percent=80,
                           due_date=(dt.date.today() + dt.timedelta(days=5)).isoformat(), working_days_left=3,
                           assignee_subject="u-officer")
    await publish_as(suite, "LVRONG_MATTERS", warning.envelope(subject=warned))
    await expect(page.get_by_test_id("unread-badge")).to_have_text("1")
    newest = page.get_by_role("list", name="消息列表").get_by_role("listitem").first
    await expect(newest).to_contain_text("法定时限预警")
    await expect(newest).to_contain_text(f"办件 {warned} 法定时限已用 80%")
    await check_accessibility(page)
    await newest.get_by_role("button").click()
    await expect(newest.get_by_role("link", name="查看详情")).to_have_attribute("href", f"#/applications/{warned}")
    await expect(page.get_by_test_id("unread-badge")).to_have_count(0)
    assert await unread(client, officer) == 0


async def test_the_list_is_newest_first_and_pages_on_request(
        suite, open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    company = await token("applicant-company")
    await read_all(client, company)
    tag = uuid.uuid4().hex[:6]
    for i in range(21):  # one more than a page
        application = f"app-{tag}-{i:02d}"
        granted = BenefitGranted(benefit=f"补贴{tag}-{i:02d}", uscc=COMPANY_USCC, business_name="上海演示绿化工程有限公司",
                                 application_id=application, matter_code="LR-GG-001", matched_rules=["r1"],
                                 granted_at=dt.datetime.now(dt.UTC))
        await publish_as(suite, "LVRONG_MATTERS", granted.envelope(subject=application))
    await eventually(lambda: unread(client, company), lambda n: n == 21, "21 grants in the company's inbox")

    # Newest first as the API holds them (the order they were made in, not the order they were sent in).
    first = (await client.get("/v1/notifications", params={"limit": 20}, headers=bearer(company))).json()
    second = (await client.get("/v1/notifications", params={"limit": 20, "cursor": first["next_cursor"]},
                               headers=bearer(company))).json()
    page = await open_page("/app/#/messages", viewport="phone")
    await log_in(page, "applicant-company")
    listed = page.get_by_role("list", name="消息列表")
    items = listed.get_by_role("listitem")
    await expect(items).to_have_count(20)
    await expect(page.get_by_test_id("unread-badge")).to_have_text("21")
    assert await listed.locator(".inbox-title").all_inner_texts() == [n["title_zh"] for n in first["items"]]
    await page.get_by_role("button", name="加载更多").click()
    await expect(items.nth(20)).to_have_text(re.compile(re.escape(second["items"][0]["title_zh"])))
    titles = await listed.locator(".inbox-title").all_inner_texts()
    assert titles == [n["title_zh"] for n in first["items"] + second["items"]][:len(titles)]
    assert {f"免申即享：补贴{tag}-{i:02d}" for i in range(21)} <= set(titles)
    await page.get_by_role("button", name="全部标为已读").click()
    await expect(page.get_by_test_id("unread-badge")).to_have_count(0)
