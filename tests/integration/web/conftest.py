"""Browser tests: the pages of web/ in Debian's Chromium (driven by Playwright, no browser download),
served by the suite's gateway under /app/, as a person on a phone or at a desk would use them.

Every page a test opens is watched: a console error, an uncaught exception or a refused
Content-Security-Policy fails the test when its page closes — except the browser's own report of an API
answer whose status the test said it provokes (``expected_statuses``: a refusal the page shows).
``browser_support.check_accessibility`` runs axe-core (from web/node_modules) and fails on any serious or critical violation of WCAG 2.1 A/AA.
Screenshots go to web/screenshots/ (not committed)."""
from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

import pytest
from browser_support import CHROMIUM_ARGS, VIEWPORTS, OpenPage
from playwright.async_api import Browser, ConsoleMessage, Page, Route, async_playwright

from support import WEB_ROOT

RouteHandler = Callable[[Route], Awaitable[None]]
# How Chromium reports any 4xx/5xx answer in the console, whether or not the page handled it.
FAILED_RESOURCE = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})\b")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `make browser` installs it (make test does)")
    if not (WEB_ROOT / "index.html").exists():
        pytest.fail(f"the web front end is not built in {WEB_ROOT}: `make web` builds it (make test does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class WatchedPage:
    """A page and what went wrong on it."""

    page: Page
    viewport: str
    expected_statuses: frozenset[int] = frozenset()
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        failed = FAILED_RESOURCE.match(message.text)
        if failed and int(failed.group(1)) in self.expected_statuses:
            return
        self.errors.append(f"console: {message.text}")


@pytest.fixture
async def open_page(browser: Browser, suite) -> AsyncIterator[OpenPage]:
    """``await open_page("/app/verify", viewport="phone")``: a fresh browser context (no cookies or
    storage from another test) on the suite's gateway."""
    watched: list[WatchedPage] = []
    contexts = []

    async def open_(path: str, *, viewport: str = "phone", language: str = "zh-CN",
                    permissions: tuple[str, ...] = (), routes: Mapping[str, RouteHandler] | None = None,
                    expected_statuses: Collection[int] = ()) -> Page:
        context = await browser.new_context(base_url=suite.gateway, viewport=VIEWPORTS[viewport], locale=language,
                                            device_scale_factor=2 if viewport == "phone" else 1,
                                            # Not is_mobile: Chromium's mobile emulation lets the layout viewport drift from
                                            # the visual one after a scroll (innerHeight 892 in an 844 px viewport), and
                                            # clicks near the bottom land on what lies 48 px below.
                                            has_touch=viewport == "phone",
                                            permissions=list(permissions))
        contexts.append(context)
        # Stand-ins for what lies outside the platform (an identity platform), before the first request.
        for pattern, handler in (routes or {}).items():
            await context.route(pattern, handler)
        page = await context.new_page()
        entry = WatchedPage(page, viewport, frozenset(expected_statuses))
        page.on("console", entry.on_console)
        page.on("pageerror", lambda error: entry.errors.append(f"uncaught: {error}"))
        watched.append(entry)
        await page.goto(path)
        return page

    yield open_
    for context in contexts:
        await context.close()
    problems = [f"{w.page.url}: {e}" for w in watched for e in w.errors]
    assert not problems, "errors on the pages:\n" + "\n".join(problems)


