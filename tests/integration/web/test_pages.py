"""Every page of the front end as the gateway serves it: the strict policy, the cache rules, the
login configuration, no error and no serious accessibility violation at phone and desktop size."""
from __future__ import annotations

import re

import httpx
import pytest
from browser_support import VIEWPORTS, OpenPage, check_accessibility

PAGES = ["/app/", "/app/verify", "/app/staff", "/app/cockpit"]


@pytest.mark.parametrize("path", PAGES)
async def test_a_page_is_served_with_a_strict_policy_and_revalidated(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, follow_redirects=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    # No inline script: every script of the page is a file of this origin.
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), html


async def test_assets_are_named_by_content_and_cached_for_a_year(client: httpx.AsyncClient) -> None:
    html = (await client.get("/app/")).text
    assets = re.findall(r'(?:src|href)="(/app/assets/[^"]+)"', html)
    assert assets, html
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        again = await client.get(asset, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304


async def test_a_missing_file_is_a_problem_not_a_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/assets/nothing-here.js")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    traversal = await client.get("/app/..%2f..%2fpyproject.toml")
    assert traversal.status_code == 404


async def test_the_root_leads_to_the_pages_and_the_login_configuration_is_published(client: httpx.AsyncClient) -> None:
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/app/"
    config = (await client.get("/app/config.json")).json()
    assert config == {"login": "password", "token_endpoint": "/auth/token"}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("path", PAGES)
async def test_every_page_opens_without_errors_and_is_accessible(open_page: OpenPage, path: str, viewport: str) -> None:
    page = await open_page(path, viewport=viewport)
    await page.wait_for_load_state("networkidle")
    assert await page.locator("h1").count() == 1
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    await check_accessibility(page)
    # Switched to English, the page says so to screen readers and is still accessible.
    await page.get_by_role("button", name="English").click()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await check_accessibility(page)
