"""一人（企）一码 on the applicant's page: the company chooses what may be shown, shows its code (read back from
the screen with zxing-cpp), an inspector scans it, and the company sees who scanned it."""
from __future__ import annotations

import httpx
import pytest
from browser_support import OpenPage, check_accessibility, log_in, qr_text
from playwright.async_api import expect

from support import bearer

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
    await expect(page.get_by_role("listitem").filter(has_text="监督检查人员")).to_contain_text("已出示")
