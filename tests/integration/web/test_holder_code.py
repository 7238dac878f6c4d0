"""一人（企）一码 on the applicant's page: the company chooses what may be shown, shows its code (read back from
the screen with zxing-cpp), an inspector scans it, and the company sees who scanned it. On the workbench: a
window officer pastes a holder's code and sees only what was consented to; an inspector is told, in Chinese
or English, why a code is refused (expired, superseded, not a code of ours)."""
from __future__ import annotations

import httpx
import pytest
from browser_support import OpenPage, check_accessibility, log_in, qr_text, screenshot
from playwright.async_api import Page, expect

from support import COMPANY_USCC, bearer, holder_code_cti

pytestmark = pytest.mark.integration


async def test_a_company_shows_its_code_with_its_consent_and_sees_who_scanned_it(
        open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    inspector = await token("inspector")
    page = await open_page("/app/", viewport="phone")
    await log_in(page, "applicant-company")
    await page.get_by_role("link", name="一人一码").click()
    await expect(page.get_by_role("heading", name="一人（企）一码", level=2)).to_be_visible()
    # Nothing consented to: no code can be asked for.
    await page.get_by_role("checkbox", name="有效证照").uncheck()
    await expect(page.get_by_role("button", name="生成我的码")).to_be_disabled()
    await page.get_by_role("checkbox", name="在办事项").check()
    await page.get_by_role("button", name="生成我的码").click()
    await expect(page.get_by_role("img", name="一人一码二维码")).to_be_visible()
    await expect(page.get_by_text("秒后失效")).to_be_visible()
    await check_accessibility(page)

    code = await qr_text(page, "holder-code")
    r = await client.post("/v1/licences/holder-codes/scan", json={"code": code}, headers=bearer(inspector))
    assert r.status_code == 200, r.text
    assert r.json()["consent"] == ["applications"] and r.json()["licences"] is None

    await page.reload()
    await expect(page.get_by_role("heading", name="扫码记录")).to_be_visible()
    # The company's scans of other tests are listed too, newest first: this scan is the first.
    await expect(page.get_by_role("listitem").filter(has_text="监督检查人员").first).to_contain_text("已出示")


async def holder_code(client: httpx.AsyncClient, tok: str, consent: list[str]) -> str:
    r = await client.post("/v1/licences/holder-codes", json={"consent": consent}, headers=bearer(tok))
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


async def scan_on_the_page(page: Page, code: str) -> None:
    await page.get_by_label("或粘贴持码人的码（LC1: 开头）").fill(code)
    await page.get_by_role("button", name="查看", exact=True).click()


async def test_a_window_officer_scans_a_holders_code_and_sees_only_what_was_consented_to(
        open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    company, inspector = await token("applicant-company"), await token("inspector")
    code = await holder_code(client, company, ["licences"])
    page = await open_page("/app/staff", viewport="desktop")
    await log_in(page, "officer")
    await page.get_by_role("link", name="扫码查看").click()
    await expect(page.get_by_role("heading", name="扫描一人（企）一码")).to_be_visible()
    await scan_on_the_page(page, code)

    result = page.get_by_role("region", name="持码人同意出示的内容")
    await expect(result.get_by_role("heading", name="有效证照")).to_be_visible()
    await expect(result.get_by_role("heading", name="在办事项")).to_have_count(0)
    await expect(result).to_contain_text("持码人未同意出示：在办事项")
    holder = result.get_by_test_id("scan-holder")
    await expect(holder).to_contain_text("企业")
    assert "*" in await holder.inner_text() and COMPANY_USCC not in await result.inner_text()
    # The licences shown are those the API shows for the same code (it may be scanned again while it lasts).
    r = await client.post("/v1/licences/holder-codes/scan", json={"code": code}, headers=bearer(inspector))
    assert r.status_code == 200, r.text
    for licence in r.json()["licences"]:
        await expect(result).to_contain_text(licence["licence_number"])
    await check_accessibility(page)
    await screenshot(page, "staff-holder-code-desktop")


async def test_an_inspector_is_told_why_a_code_is_refused(
        suite, open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    company = await token("applicant-company")
    older = await holder_code(client, company, ["licences", "applications"])
    newer = await holder_code(client, company, ["licences", "applications"])
    # Its time over (moved into the past: time cannot be waited for).
    connection = await suite.db("licences")
    try:
        expired = await connection.execute("UPDATE holder_codes SET expires_at = now() - interval '1 second' WHERE cti = $1",
                                           holder_code_cti(newer))
    finally:
        await connection.close()
    assert expired == "UPDATE 1"

    page = await open_page("/app/staff", viewport="phone", expected_statuses={409, 422})
    await log_in(page, "inspector")
    # An inspector's workbench is the scan (no queue of applications).
    await expect(page.get_by_role("heading", name="扫描一人（企）一码")).to_be_visible()
    refusal = page.get_by_test_id("scan-refusal")
    result = page.get_by_role("region", name="持码人同意出示的内容")

    await scan_on_the_page(page, newer)
    await expect(refusal).to_have_text("码已过期")
    await expect(page.get_by_role("alert")).to_contain_text("该码已过期")
    await expect(result).to_have_count(0)
    await check_accessibility(page)
    await screenshot(page, "staff-holder-code-expired-phone")
    await page.get_by_role("button", name="English").click()
    await expect(refusal).to_have_text("The code has expired")
    await page.get_by_role("button", name="中文").click()

    await scan_on_the_page(page, older)
    await expect(refusal).to_have_text("持码人已生成新码，此码已失效")
    await scan_on_the_page(page, "LC1:not-a-code")
    await expect(refusal).to_have_text("无效码")
    await expect(result).to_have_count(0)
