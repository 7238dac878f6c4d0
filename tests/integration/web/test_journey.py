"""One journey across the four pages, as the people of the plan live it: a company applies on a phone,
a window officer accepts and a reviewer approves on the workbench, the licence appears on the phone,
its 亮证 QR is photographed off the screen and verified on /app/verify offline in the inspector's
browser; after a revocation the same QR shows revoked, and a forged one forged; ops see the day's
work in the cockpit's charts. Only pages and the public API; screenshots of every page."""
from __future__ import annotations

import re

import base45
import httpx
import pytest
from browser_support import (
    REQUIRED_MATERIALS,
    SCREENSHOTS,
    OpenPage,
    approve_on_workbench,
    check_accessibility,
    decode_qr,
    fill_good_form,
    log_in,
    screenshot,
)
from playwright.async_api import Page, expect

from support import PDF, bearer

pytestmark = pytest.mark.integration


async def verdict(page: Page, expected: str) -> None:
    await expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", expected)


async def test_apply_approve_show_verify_revoke(open_page: OpenPage, client: httpx.AsyncClient, token) -> None:
    # A company applies on its phone.
    phone = await open_page("/app/", viewport="phone")
    await log_in(phone, "applicant-company")
    await phone.get_by_role("link", name="城市建筑垃圾处置核准").click()
    await phone.get_by_role("link", name="在线申请").click()
    await expect(phone.get_by_label("申请单位统一社会信用代码")).to_have_value("91310115MA1H7GXQ3E")
    await fill_good_form(phone)
    for name in REQUIRED_MATERIALS:
        await phone.get_by_label(name).first.set_input_files(
            files=[{"name": f"{name}.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        await expect(phone.get_by_label(name).first).to_have_accessible_description(re.compile("已上传"))
    await phone.get_by_role("button", name="提交申请").click()
    await expect(phone).to_have_url(re.compile(r"#/applications/"))
    application_id = phone.url.rsplit("/", 1)[1]
    await expect(phone.get_by_test_id("application-status")).to_have_text("预审通过", timeout=15_000)

    # The window officer accepts it on the workbench, at a desk.
    desk = await open_page("/app/staff", viewport="desktop")
    await log_in(desk, "officer")
    await desk.goto(f"/app/staff#/applications/{application_id}")
    actions = desk.get_by_role("region", name="办理")
    await actions.get_by_role("button", name="受理", exact=True).click()
    await actions.get_by_label("受理意见").fill("材料齐全，予以受理")
    await actions.get_by_role("button", name="确认受理").click()
    await expect(actions.get_by_role("status")).to_have_text("已受理")
    await screenshot(desk, "journey-staff-desktop")
    # The applicant's phone follows live.
    await expect(phone.get_by_test_id("application-status")).to_have_text("已受理")

    # A reviewer approves it on the workbench; the licence is issued.
    review_desk = await open_page("/app/staff", viewport="desktop")
    await log_in(review_desk, "reviewer")
    await approve_on_workbench(review_desk, application_id, note="符合《城市建筑垃圾管理规定》，准予核准")
    await expect(phone.get_by_test_id("application-status")).to_have_text("已出证", timeout=15_000)

    # The licence appears on the phone; 亮证 shows its QR, photographed off the screen.
    await phone.get_by_role("link", name="我的证照").click()
    await phone.get_by_role("link", name="建筑垃圾处置证").first.click()
    await expect(phone.get_by_text("有效", exact=True)).to_be_visible()
    licence_id = phone.url.rsplit("/", 1)[1]
    await phone.get_by_role("link", name="亮证").click()
    qr = phone.get_by_role("img", name="亮证二维码")
    await expect(qr).to_be_visible()
    await screenshot(phone, "journey-licence-qr-phone")
    SCREENSHOTS.mkdir(exist_ok=True)
    photo = SCREENSHOTS / "journey-qr-photo.png"
    await qr.screenshot(path=str(photo))
    shown = decode_qr(photo)
    assert shown.startswith("LR1:")

    # An inspector, not logged in, scans the photo on /app/verify: valid, checked in the browser.
    inspector = await open_page("/app/verify", viewport="phone")
    await inspector.get_by_label("或上传二维码图片").set_input_files(str(photo))
    await verdict(inspector, "valid")
    await expect(inspector.get_by_role("heading", name="有效")).to_be_visible()
    await check_accessibility(inspector)
    await screenshot(inspector, "journey-verify-valid-phone")
    # With the network cut, the same QR still verifies from the keys and the list cached on the device.
    await inspector.context.set_offline(True)
    await inspector.get_by_label("或上传二维码图片").set_input_files(str(photo))
    await verdict(inspector, "valid")
    await expect(inspector.locator("[data-check=online]")).to_contain_text("未联网")
    await inspector.context.set_offline(False)

    # The licence is revoked: the same QR now shows revoked (the refreshed status list says so).
    r = await client.post(f"/v1/licences/{licence_id}/revoke", json={"reason": "以欺骗手段取得许可"},
                          headers=bearer(await token("reviewer")))
    assert r.status_code == 200, r.text
    await inspector.get_by_label("或上传二维码图片").set_input_files(str(photo))
    await verdict(inspector, "revoked")
    await expect(inspector.get_by_role("heading", name="已撤销")).to_be_visible()
    await screenshot(inspector, "journey-verify-revoked-phone")

    # A forged QR (one bit of the signature changed) shows forged.
    signed = bytearray(base45.b45decode(shown.removeprefix("LR1:")))
    signed[-1] ^= 0x01  # the last byte of the COSE signature
    forged = "LR1:" + base45.b45encode(bytes(signed)).decode()
    await inspector.get_by_label("或粘贴亮证码（LR1: 或 LS1: 开头）").fill(forged)
    await inspector.get_by_role("button", name="核验", exact=True).click()
    await verdict(inspector, "forged")

    # Ops see the day's work in the cockpit's charts.
    cockpit = await open_page("/app/cockpit", viewport="desktop")
    await log_in(cockpit, "ops")
    charts = cockpit.locator("canvas[role=img]")
    await expect(charts.first).to_be_visible()
    # Promises, volume, stage times, backlog (the stalls ranking is a sentence while there are none).
    assert await charts.count() >= 4
    painted = await cockpit.evaluate("""() => [...document.querySelectorAll('canvas[role=img]')].map(c => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++; return n; })""")
    assert all(pixels > 500 for pixels in painted), painted
    await check_accessibility(cockpit)
