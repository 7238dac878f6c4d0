"""Helpers of the browser tests (tests/integration/web): viewports, accessibility, screenshots, login,
the applicant's good form, reading a QR code off the page."""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import zxingcpp
from PIL import Image
from playwright.async_api import Page

from support import WEB_ROOT

WEB = WEB_ROOT.parent
SCREENSHOTS = WEB / "screenshots"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}
# As the probe of this machine runs it: no sandbox as root, and nothing that reaches out to Google.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream"]

OpenPage = Callable[..., Awaitable[Page]]


async def check_accessibility(page: Page) -> list[dict[str, Any]]:
    """axe-core on the page as it is now; fails on serious or critical WCAG 2.1 A/AA violations and
    returns the minor ones (for the test to look at, if it wants)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's CSP does not govern (a script tag would be refused).
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
    violations = result["violations"]
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, json.dumps([{"id": v["id"], "help": v["help"], "nodes": [n["html"][:200] for n in v["nodes"][:5]]}
                                    for v in serious], ensure_ascii=False, indent=1)
    return [v for v in violations if v not in serious]


async def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot in web/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def log_in(page: Page, username: str, password: str = "demo") -> None:
    """Through the page's own login form (the development issuer)."""
    await page.get_by_label("用户名").or_(page.get_by_label("User name")).fill(username)
    await page.get_by_label("密码").or_(page.get_by_label("Password")).fill(password)
    await page.get_by_role("button", name="登录").or_(page.get_by_role("button", name="Log in")).last.click()


async def approve_on_workbench(page: Page, application_id: str, note: str = "同意") -> None:
    """A reviewer (logged in on ``page``) approves ``application_id`` on the staff workbench with ``note``:
    opens it, starts the review when it is still only accepted, approves, and waits until the page says so."""
    from playwright.async_api import expect

    await page.goto(f"/app/staff#/applications/{application_id}")
    actions = page.get_by_role("region", name="办理")
    approve = actions.get_by_role("button", name="批准", exact=True)
    start_review = actions.get_by_role("button", name="开始审查", exact=True)
    await expect(approve.or_(start_review)).to_be_visible()
    if await start_review.is_visible():
        await start_review.click()
        await actions.get_by_role("button", name="确认开始审查").click()
        await expect(actions.get_by_role("status")).to_have_text("已开始审查")
    await approve.click()
    await actions.get_by_label("审批意见").fill(note)
    await actions.get_by_role("button", name="确认批准").click()
    await expect(actions.get_by_role("status")).to_have_text("已批准")


# The applicant's journey (tests/integration/web): a company's construction-waste disposal approval,
# which ends in a licence it can show (亮证) and share live (亮数).
MATTER = "LR-XK-002"
MATTER_NAME = "城市建筑垃圾处置核准"
REQUIRED_MATERIALS = ["建筑垃圾处置计划", "建筑垃圾运输合同", "消纳协议", "运输车辆清单", "营业执照"]


async def fill_good_form(page: Page) -> None:
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    await page.get_by_label("联系人姓名").fill("王晓明")
    await page.get_by_label("联系人手机号码").fill("13912345678")
    await page.get_by_label("工程名称").fill("浦东新区世纪大道改造工程")
    await page.get_by_label("工地所在区").select_option("浦东新区")
    await page.get_by_label("工地详细地址").fill(f"上海市浦东新区世纪大道{int(time.time()) % 100000}号")
    await page.get_by_label("建筑垃圾处置量（立方米）").fill("1200.5")
    await page.get_by_label("消纳场所或资源化利用单位").fill("老港固废综合利用基地")
    await page.get_by_label("运输车辆数").fill("3")
    await page.get_by_label("运输路线").fill("世纪大道—罗山路—老港")
    await page.get_by_label("处置开始日期").fill(today.isoformat())
    await page.get_by_label("处置结束日期").fill((today + dt.timedelta(days=30)).isoformat())


def decode_qr(path: Path) -> str:
    results = zxingcpp.read_barcodes(Image.open(path))
    assert results, f"no QR code found in {path}"
    return results[0].text


async def qr_text(page: Page, name: str) -> str:
    """A screenshot of the QR code as the page shows it, decoded with zxing-cpp."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.get_by_role("img", name="亮证二维码").or_(page.get_by_role("img", name="亮数二维码")).or_(
        page.get_by_role("img", name="一人一码二维码")).screenshot(path=str(path))
    return decode_qr(path)
