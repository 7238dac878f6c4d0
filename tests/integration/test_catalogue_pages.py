"""The catalogue's list and guides as cached pages (kit.page_cache): a strong ETag, ``If-None-Match`` →
304 with no body, the same answers straight from svc-matters and through the gateway, a change seen by
the importer's next read, and every bad request still refused — a held ETag opens nothing.

The two-replica case (a change made through one replica, seen by the other) is in
tests/scale/test_catalogue_pages_replicas.py.
"""
from __future__ import annotations

import httpx
import pytest

from support import bearer, public_service_item

pytestmark = pytest.mark.integration

GUIDE = "/v1/matters/LR-XK-001"
LIST = "/v1/matters"


async def fetch(client: httpx.AsyncClient, tok: str, path: str, **headers: str) -> httpx.Response:
    return await client.get(path, headers=bearer(tok) | headers)


@pytest.mark.parametrize("path", [LIST, f"{LIST}?limit=5&kind=licence", GUIDE])
async def test_a_held_etag_is_answered_304_without_a_body(client: httpx.AsyncClient, token, suite, path: str) -> None:
    tok = await token("applicant-person")
    first = await fetch(client, tok, path)
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "public, no-cache"

    again = await fetch(client, tok, path, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == "public, no-cache"
    for held in (f"W/{etag}", f'"something-else", {etag}', "*"):
        assert (await fetch(client, tok, path, **{"If-None-Match": held})).status_code == 304, held
    other = await fetch(client, tok, path, **{"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.json() == first.json() and other.headers["etag"] == etag

    # The gateway passes all of it through unchanged: straight from svc-matters, the same bytes and ETag.
    async with httpx.AsyncClient(base_url=suite.direct("matters"), timeout=30) as direct:
        straight = await fetch(direct, tok, path)
        assert straight.content == first.content and straight.headers["etag"] == etag
        held = await fetch(direct, tok, path, **{"If-None-Match": etag})
        assert held.status_code == 304 and held.content == b""


async def test_every_caller_and_language_gets_the_same_page(client: httpx.AsyncClient, token) -> None:
    """The body names, labels and notes each matter in Chinese and English fields, whoever asks: one
    representation, so one ETag (a different ETag per language would only make every cache keep two
    copies of the same bytes). What does follow Accept-Language — a problem's text — is never cached."""
    person, officer = await token("applicant-person"), await token("officer")
    for path in (LIST, GUIDE):
        answers = [await fetch(client, tok, path, **{"Accept-Language": language})
                   for tok in (person, officer) for language in ("zh-CN", "en", "en-GB,en;q=0.9")]
        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1 and len({a.headers["etag"] for a in answers}) == 1
    missing = {language: await fetch(client, person, "/v1/matters/LR-XK-999", **{"Accept-Language": language})
               for language in ("zh-CN", "en")}
    assert {r.status_code for r in missing.values()} == {404}
    assert missing["zh-CN"].json()["detail"] != missing["en"].json()["detail"]
    assert "etag" not in missing["en"].headers


async def test_the_importers_next_read_shows_the_new_version(client: httpx.AsyncClient, token) -> None:
    ops, reader = await token("ops"), await token("applicant-person")
    code = "LR-GG-931"
    r = await client.post("/v1/matters/import", json=[public_service_item(code)], headers=bearer(ops))
    assert r.status_code == 200, r.text
    v1 = await fetch(client, reader, f"/v1/matters/{code}")
    listed = await fetch(client, reader, LIST, **{"If-None-Match": "*"})
    assert v1.json()["version"] == 1 and listed.status_code == 304

    r = await client.post("/v1/matters/import", json=[public_service_item(code, promised_days=2)], headers=bearer(ops))
    assert r.json()["results"][0]["outcome"] == "new_version", r.text
    v2 = await fetch(client, reader, f"/v1/matters/{code}", **{"If-None-Match": v1.headers["etag"]})
    assert v2.status_code == 200 and (v2.json()["version"], v2.json()["promised_days"]) == (2, 2)
    assert v2.headers["etag"] != v1.headers["etag"]


@pytest.mark.parametrize(("path", "user", "status"), [
    (f"{LIST}?limit=0", "applicant-person", 422), (f"{LIST}?limit=101", "applicant-person", 422),
    (f"{LIST}?limit=many", "applicant-person", 422), (f"{LIST}?cursor=!!", "applicant-person", 400),
    (f"{LIST}?kind=permit-ish", "applicant-person", 422), (f"{LIST}?q={'x' * 51}", "applicant-person", 422),
    ("/v1/matters/LR-XK-999", "applicant-person", 404), ("/v1/matters/LR%20XK", "applicant-person", 422),
    (f"/v1/matters/{'A' * 33}", "applicant-person", 422),
    (LIST, None, 401), (GUIDE, None, 401), (LIST, "not-a-token", 401), (GUIDE, "not-a-token", 401),
])
async def test_bad_requests_are_refused_even_with_a_held_etag(client: httpx.AsyncClient, token, path: str,
                                                              user: str | None, status: int) -> None:
    tok = await token("applicant-person")
    good = await fetch(client, tok, LIST)
    headers = {"If-None-Match": good.headers["etag"]}
    if user == "not-a-token":
        headers |= {"Authorization": "Bearer not-a-token"}
    elif user:
        headers |= bearer(await token(user))
    for held in (good.headers["etag"], "*"):
        r = await client.get(path, headers=headers | {"If-None-Match": held})
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json") and "etag" not in r.headers
