"""Helpers of the browser tests (tests/integration/web): viewports, accessibility, screenshots, login."""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from support import WEB_ROOT

WEB = WEB_ROOT.parent
SCREENSHOTS = WEB / "screenshots"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}

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
