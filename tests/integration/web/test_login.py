"""Logging in from the pages at the city's identity platform (``GATEWAY_WEB_LOGIN=oidc``): the
authorization code flow with PKCE (RFC 7636), as a real browser runs it. The identity platform is a
stand-in answering at its own origin (Playwright routes), its token endpoint handing out a real token
of the suite's issuer once the code verifier matches the challenge; the page is served with the policy
an OIDC gateway gives it (``gateway.web.content_security_policy``), so the exchange must pass it."""
from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from browser_support import OpenPage
from playwright.async_api import Route, expect

from gateway.settings import Settings
from gateway.web import content_security_policy, login_configuration

IDENTITY_PLATFORM = "https://id.example.test"
OIDC = Settings(web_root=Path("/unused"), web_login="oidc", web_oidc_client_id="lvrong-web",
                web_oidc_authorization_endpoint=f"{IDENTITY_PLATFORM}/realms/ywtb/auth",
                web_oidc_token_endpoint=f"{IDENTITY_PLATFORM}/realms/ywtb/token")


async def test_a_person_logs_in_at_the_identity_platform_with_pkce(open_page: OpenPage, token, suite) -> None:
    issued = await token("applicant-person")
    seen: dict[str, dict[str, list[str]]] = {}

    async def configuration(route: Route) -> None:
        await route.fulfill(json=login_configuration(OIDC), headers={"Cache-Control": "no-cache"})

    async def page_as_an_oidc_gateway_serves_it(route: Route) -> None:
        if route.request.resource_type != "document":
            await route.fallback()
            return
        response = await route.fetch()
        headers = {**response.headers, "content-security-policy": content_security_policy(OIDC)}
        await route.fulfill(response=response, headers=headers)

    async def authorize(route: Route) -> None:
        query = parse_qs(urlsplit(route.request.url).query)
        seen["authorize"] = query
        back = html.escape(f"{query['redirect_uri'][0]}?code=code-1&state={query['state'][0]}")
        # The platform's "you are logged in" page sends the person back (Playwright routes the new
        # navigation, which it would not do for a redirect).
        await route.fulfill(content_type="text/html",
                            body=f'<meta http-equiv="refresh" content="0;url={back}"><title>ok</title>')

    async def exchange(route: Route) -> None:
        form = parse_qs(route.request.post_data or "")
        seen["token"] = form
        cors: dict[str, Any] = {"Access-Control-Allow-Origin": suite.gateway}
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"][0].encode()).digest()).rstrip(b"=")
        if form.get("code") != ["code-1"] or challenge.decode() != seen["authorize"]["code_challenge"][0]:
            await route.fulfill(status=400, json={"error": "invalid_grant"}, headers=cors)
            return
        await route.fulfill(json={"access_token": issued, "token_type": "Bearer", "expires_in": 1800}, headers=cors)

    page = await open_page("/app/", routes={
        "**/app/config.json": configuration, f"{suite.gateway}/app/**": page_as_an_oidc_gateway_serves_it,
        f"{OIDC.web_oidc_authorization_endpoint}*": authorize, OIDC.web_oidc_token_endpoint: exchange})
    await page.get_by_role("button", name="通过一网通办统一身份认证登录").click()
    await expect(page.get_by_role("button", name="退出")).to_be_visible()

    authorize_query = seen["authorize"]
    assert authorize_query["response_type"] == ["code"] and authorize_query["client_id"] == ["lvrong-web"]
    assert authorize_query["code_challenge_method"] == ["S256"] and authorize_query["scope"] == ["openid"]
    assert authorize_query["redirect_uri"] == [f"{suite.gateway}/app/"]
    assert seen["token"]["grant_type"] == ["authorization_code"]
    assert seen["token"]["redirect_uri"] == authorize_query["redirect_uri"]
    # The code is gone from the address bar, the token is the tab's only.
    assert "code=" not in page.url
    assert await page.evaluate("sessionStorage.getItem('lvrong.token')") == issued
