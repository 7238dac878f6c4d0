"""The applicant H5 (/app/) on a phone, as a company uses it: log in, read a guide, apply with the
platform's pre-fill (each field's source shown), see every problem of a bad form before anything is
submitted, upload the materials, submit, watch staff act live, find the licence, show it (亮证) with a
QR code renewed before it expires and verified by an inspector, share its live data (亮数), and be told
plainly that a suspended licence cannot be shown."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from browser_support import (
    MATTER,
    MATTER_NAME,
    REQUIRED_MATERIALS,
    OpenPage,
    check_accessibility,
    fill_good_form,
    log_in,
    qr_text,
    screenshot,
)
from playwright.async_api import Locator, Page, expect

from support import PDF, bearer

pytestmark = pytest.mark.integration

# 亮证 codes live two minutes (svc-licences' default); the page's own clock is moved on (Playwright's
# clock) to see it renew a code before it expires, without waiting for it.
PRESENTATION_TTL_SECONDS = 120

async def my_applications(client: httpx.AsyncClient, tok: str) -> list[str]:
    r = await client.get("/v1/applications", params={"limit": 100}, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()["items"]]


async def act(client: httpx.AsyncClient, tok: str, app_id: str, action: str) -> None:
    r = await client.post(f"/v1/applications/{app_id}/actions/{action}", json={"reason": "符合条件"}, headers=bearer(tok))
    assert r.status_code == 200, r.text


def status_badge(page: Page) -> Locator:
    return page.get_by_test_id("application-status")


async def test_a_company_applies_follows_live_and_shows_its_licence_on_a_phone(
        open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    company, officer, reviewer, inspector = (await token("applicant-company"), await token("officer"),
                                             await token("reviewer"), await token("inspector"))
    before = await my_applications(client, company)
    page = await open_page("/app/", viewport="phone")
    await check_accessibility(page)  # the login form
    await log_in(page, "applicant-company")

    # 办事指南: the list, then one matter's guide with its time limits, fee and legal basis.
    await page.get_by_role("link", name=MATTER_NAME).click()
    await expect(page.get_by_role("heading", name=MATTER_NAME)).to_be_visible()
    await expect(page.get_by_text("20 个工作日")).to_be_visible()
    await expect(page.get_by_text("5 个工作日")).to_be_visible()
    await expect(page.get_by_text("核准不收费")).to_be_visible()
    await expect(page.get_by_text("《城市建筑垃圾管理规定》第七条")).to_be_visible()
    await expect(page.get_by_role("link", name="观看办事指引视频（新窗口）")).to_have_attribute(
        "href", f"https://lhsr.sh.gov.cn/videos/{MATTER}.mp4")
    await check_accessibility(page)

    # Apply: the platform filled the company's code, and says from where and as of when.
    await page.get_by_role("link", name="在线申请").click()
    uscc = page.get_by_label("申请单位统一社会信用代码")
    await expect(uscc).to_have_value("91310115MA1H7GXQ3E")
    await expect(uscc).to_have_accessible_description(re.compile("来源：.*数据截至"))
    await expect(page.get_by_text("智能预填：已为您填好")).to_be_visible()
    await check_accessibility(page)

    # A bad form: the dry run lists every problem (per field, per rule) and nothing is submitted. (Pre-fill
    # may have brought the company's earlier project from its other applications: the name is cleared.)
    await page.get_by_label("工程名称").fill("")
    await page.get_by_label("联系人手机号码").fill("123")
    await page.get_by_role("button", name="预审检查").click()
    await expect(page.get_by_text("需修改的问题")).to_be_visible()
    problems = page.locator("#check-result li")
    assert await problems.count() >= 2, await page.locator("#check-result").inner_text()
    await expect(page.get_by_label("工程名称")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("联系人手机号码")).to_have_attribute("aria-invalid", "true")
    await page.get_by_role("button", name="提交申请").click()  # submit runs the same check first
    await expect(page.get_by_role("button", name="提交申请")).to_be_enabled()
    await expect(page.get_by_text("需修改的问题")).to_be_visible()
    await check_accessibility(page)
    assert await my_applications(client, company) == before
    await page.get_by_role("button", name="English").click()  # the same problems in English
    await expect(page.get_by_text("problem(s) to fix")).to_be_visible()
    await page.get_by_role("button", name="中文").click()

    # The good form and its materials, uploaded one by one.
    await fill_good_form(page)
    for name in REQUIRED_MATERIALS:
        await page.get_by_label(name).first.set_input_files(
            files=[{"name": f"{name}.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        await expect(page.get_by_label(name).first).to_have_accessible_description(re.compile(f"已上传.*{name}.pdf"))
    await page.get_by_role("button", name="预审检查").click()
    await expect(page.get_by_text("检查通过")).to_be_visible()
    await screenshot(page, "applicant-phone")
    await page.get_by_role("button", name="提交申请").click()

    # The application, followed live while staff act through the API.
    await expect(page).to_have_url(re.compile(r"#/applications/"))
    app_id = page.url.rsplit("/", 1)[1]
    assert set(await my_applications(client, company)) - set(before) == {app_id}
    await expect(status_badge(page)).to_have_text("预审通过", timeout=15_000)
    await expect(page.get_by_text("实时更新中")).to_be_visible()
    # 预审 done: the application waits for acceptance (受理), the current stage, said in words.
    await expect(page.locator("[aria-current='step']")).to_contain_text("受理当前")
    await check_accessibility(page)
    await act(client, officer, app_id, "accept")
    await expect(status_badge(page)).to_have_text("已受理")
    await expect(page.locator("[aria-current='step']")).to_contain_text("审查当前")
    await expect(page.get_by_test_id("clock")).to_contain_text("计时中")
    await expect(page.get_by_test_id("clock")).to_contain_text("20 个工作日")
    await act(client, reviewer, app_id, "review")
    await expect(status_badge(page)).to_have_text("审查中")
    await act(client, reviewer, app_id, "approve")
    await expect(status_badge(page)).to_have_text("已出证", timeout=15_000)
    await expect(page.get_by_test_id("timeline")).to_contain_text("准予许可")
    await expect(page.locator("[aria-current='step']")).to_contain_text("出证当前")

    # My licences: the certificate, its status and validity.
    await page.get_by_role("link", name="我的证照").click()
    await page.get_by_role("link", name="建筑垃圾处置证").first.click()
    await expect(page.get_by_text("有效", exact=True)).to_be_visible()
    licence_id = page.url.rsplit("/", 1)[1]
    await check_accessibility(page)

    # 亮证: the QR code decodes to a presentation an inspector verifies; renewed before it expires.
    # The page's timers and Date from here on are Playwright's clock, flowing as time does until moved on.
    await page.clock.install()
    await page.reload()
    await page.get_by_role("link", name="亮证").click()
    await expect(page.get_by_role("img", name="亮证二维码")).to_be_visible()
    first = await qr_text(page, "applicant-qr-first")
    await expect(page.get_by_text("秒后失效，到期前自动更新")).to_be_visible()
    await check_accessibility(page)
    await screenshot(page, "applicant-licence-qr-phone")
    # Five sixths of the code's life later (as if the phone had lain there), it has been renewed: before it expired.
    await page.clock.fast_forward(PRESENTATION_TTL_SECONDS * 1000 * 5 // 6)
    await expect(page.get_by_text("已自动更新 1 次", exact=True)).to_be_visible()
    second = await qr_text(page, "applicant-qr-renewed")
    assert second != first and second.startswith("LR1:")
    r = await client.post("/v1/verifications", json={"presentation": second}, headers=bearer(inspector))
    assert r.status_code == 200 and r.json()["result"] == "valid", r.text
    held = (await client.get(f"/v1/licences/{licence_id}", headers=bearer(company))).json()
    assert r.json()["licence"]["identifier"] == held["identifier"]

    # 亮数: a one-time handle; once an inspector redeems it, the list says who and when.
    await page.goto(f"/app/#/licences/{licence_id}/data")
    await page.get_by_role("button", name="生成亮数码").click()
    await expect(page.get_by_role("img", name="亮数二维码")).to_be_visible()
    url = await qr_text(page, "applicant-data-handle")
    handle = urlsplit(url).fragment.removeprefix("data=")  # the verifier page's link: /app/verify#data=<handle>
    r = await client.post(f"/v1/verifications/data/{handle}", headers=bearer(inspector))
    assert r.status_code == 200, r.text
    await page.reload()
    await expect(page.get_by_role("table")).to_contain_text("已使用")
    await check_accessibility(page)

    # Suspended: the page says plainly it cannot be shown (the API would answer 409; the page does not ask).
    r = await client.post(f"/v1/licences/{licence_id}/suspend", json={"reason": "运输车辆未按规定路线行驶"},
                          headers=bearer(reviewer))
    assert r.status_code == 200, r.text
    await page.goto(f"/app/#/licences/{licence_id}/show")
    await page.reload()
    await expect(page.get_by_role("alert")).to_contain_text("此证照不能亮证")
    await expect(page.get_by_role("alert")).to_contain_text("已暂停")
    await expect(page.get_by_role("img", name="亮证二维码")).to_have_count(0)
    await check_accessibility(page)


async def test_my_applications_on_a_desktop_in_english_with_large_text(open_page: OpenPage) -> None:
    page = await open_page("/app/", viewport="desktop")
    await log_in(page, "applicant-person")
    await expect(page.get_by_role("heading", name="办事指南", level=2)).to_be_visible()
    await page.get_by_role("button", name="English").click()
    await page.get_by_role("button", name="Large text").click()
    assert await page.evaluate("document.documentElement.classList.contains('large-text')")
    await page.get_by_role("link", name="My applications").click()
    await expect(page.get_by_role("heading", name="My applications", level=2)).to_be_visible()
    await page.get_by_role("link", name="Service guides").click()
    await expect(page.get_by_role("link", name="Approval of urban construction-waste disposal")).to_be_visible()
    await check_accessibility(page)
    await screenshot(page, "applicant-desktop")


async def test_a_person_says_an_answer_did_not_help_and_is_passed_to_a_person(
        open_page: OpenPage, client: httpx.AsyncClient, token, suite) -> None:
    """智能客服: under the answer, 这个回答解决了您的问题吗; "未解决" offers a human desk, which takes it."""
    page = await open_page("/app/#/assistant", viewport="phone")
    await log_in(page, "applicant-person")
    await expect(page.get_by_role("heading", name="智能客服")).to_be_visible()
    await page.get_by_label("请输入您的问题").fill("建筑垃圾处置证办下来要几个工作日")
    await page.get_by_role("button", name="提问").click()
    turn = page.locator("#turn-0")
    await expect(turn.get_by_text("这个回答解决了您的问题吗？")).to_be_visible()
    await check_accessibility(page)
    await turn.get_by_role("button", name="未解决").click()
    await expect(turn).to_contain_text("需要为您转接人工帮办吗")
    await turn.get_by_role("button", name="转人工帮办").click()
    await expect(turn).to_contain_text("已为您转接人工帮办")
    await screenshot(page, "assistant-handed-over-phone")
    conn = await suite.db("knowledge")
    try:
        row = await conn.fetchrow("SELECT resolved, handed_over FROM answer_confirmations ORDER BY confirmed_at DESC LIMIT 1")
    finally:
        await conn.close()
    assert row["resolved"] is False and row["handed_over"] is True
