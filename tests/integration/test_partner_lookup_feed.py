"""长三角 partners' systems, through the gateway: they look up OUR documents by number and holder code —
only the kinds recognised between the provinces and bound for their own province, one 404 for any pair
that does not match, audited — and follow the changes of the documents they rely on with a pull feed
(subscriptions created and deleted through the API; pages by a cursor, without gaps or repeats, only
the documents subscribed to, only changes after subscribing)."""
from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest

from kit.identifiers import mask_resident_id
from support import COMPANY_USCC, bearer, issue_quarantine_document, partner_token, valid_uscc

pytestmark = pytest.mark.integration


async def document(client: httpx.AsyncClient, officer: str, *, provinces: list[str], person_seed: int | None = None) -> dict[str, Any]:
    """A year's quarantine requirement document of the demo company (or of a person), bound for ``provinces``."""
    issued = await issue_quarantine_document(client, officer, "u-applicant-person" if person_seed is not None else
                                             "u-applicant-company", company=None if person_seed is not None else COMPANY_USCC,
                                             seed=person_seed or 0)
    if provinces != ["JS"]:  # the helper issues for Jiangsu; another set is a 变更 (new version) of it
        r = await client.post(f"/v1/licences/{issued['id']}/versions", headers=bearer(officer), json={
            "kind": "change", "reason": "调入地变更", "data_changes": {"destination_provinces": provinces}})
        assert r.status_code in (200, 201), r.text
        issued = r.json()
    return issued


async def look_up(client: httpx.AsyncClient, tok: str, number: str, holder_code: str) -> httpx.Response:
    return await client.post("/v1/partner/look-up", json={"number": number, "holder_code": holder_code},
                             headers=bearer(tok))


@pytest.fixture(scope="module")
async def officer(token) -> str:
    return await token("officer")


async def test_look_up_by_number_and_holder_code_within_the_partner_scope(client, token, officer) -> None:
    js, zj = await partner_token(client, "partner-js"), await partner_token(client, "partner-zj")
    company_doc = await document(client, officer, provinces=["JS"])
    person_doc = await document(client, officer, provinces=["JS"], person_seed=7)
    r = await look_up(client, js, company_doc["licence_number"], COMPANY_USCC)
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["licence"]["id"] == company_doc["id"] and found["status"] == "active"
    assert found["licence"]["holder_code"] != COMPANY_USCC and "*" in found["licence"]["holder_code"]  # masked
    assert found["credential"].count("~") == 1 and found["credential"].endswith("~")  # no personal disclosures
    assert found["status_list_uri"].endswith(f"/v1/licences/status-lists/{found['licence']['status_list']['id']}")
    checked = await client.post("/v1/verifications", json={"credential": found["credential"]}, headers=bearer(js))
    assert checked.status_code == 200 and checked.json()["result"] == "valid", checked.text
    # By its 证照标识 too; a person's document by the ID number in full or masked as we mask it.
    assert (await look_up(client, js, company_doc["identifier"], COMPANY_USCC.lower())).status_code == 200
    full_id = person_doc["holder_code"]
    for code in (full_id, mask_resident_id(full_id)):
        assert (await look_up(client, js, person_doc["licence_number"], code)).json()["licence"]["id"] == person_doc["id"]

    # One 404, whichever part is wrong, and for a document bound for another province.
    misses = [await look_up(client, js, company_doc["licence_number"], valid_uscc(random.Random(5))),
              await look_up(client, js, "沪绿证〔2026〕YD001第00000000号", COMPANY_USCC),
              await look_up(client, js, person_doc["licence_number"], COMPANY_USCC),
              await look_up(client, zj, company_doc["licence_number"], COMPANY_USCC)]
    assert {m.status_code for m in misses} == {404}
    assert len({(m.json()["title"], m.json()["detail"]) for m in misses}) == 1
    # Partners only: staff and applicants lack the scope at the door; no token, 401.
    for who in ("officer", "applicant-company"):
        refused = await look_up(client, await token(who), company_doc["licence_number"], COMPANY_USCC)
        assert refused.status_code == 403 and "partner:read" in refused.json()["missing_scopes"]
    assert (await client.post("/v1/partner/look-up", json={"number": "x", "holder_code": COMPANY_USCC})).status_code == 401
    for bad in ({"number": "x"}, {"number": "x", "holder_code": "123"}, {"number": "", "holder_code": COMPANY_USCC},
                {"number": "x", "holder_code": COMPANY_USCC, "extra": 1}):
        assert (await client.post("/v1/partner/look-up", json=bad, headers=bearer(js))).status_code == 422
    # Every answered look-up is in the audit trail, with the partner as its actor.
    audited = (await client.get("/v1/audit/licences/entries", params={"resource_id": company_doc["id"],
                                                                      "action": "licence.partner_lookup"},
                                headers=bearer(await token("ops")))).json()["items"]
    assert len(audited) == 2 and {a["actor_subject"] for a in audited} == {"c-partner-js"}


async def test_the_partner_routes_have_their_own_rate_limit(client, token) -> None:
    items = (await client.get("/v1/gateway/routes", headers=bearer(await token("ops")))).json()
    partner = next(r for r in items if r["prefix"] == "/v1/partner")
    default = next(r for r in items if r["prefix"] == "/v1/licences")
    assert partner["service"] == "licences"  # ops decide registrations under the same prefix
    assert set(partner["scopes"]) == {"partner:read", "partner:write", "recognition:admin"}
    assert partner["rate_limit"]["per_client"] < default["rate_limit"]["per_client"]


async def subscribe(client: httpx.AsyncClient, tok: str, doc: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/partner/subscriptions", json={"number": doc["licence_number"],
                                                                "holder_code": COMPANY_USCC}, headers=bearer(tok))


async def read_feed(client: httpx.AsyncClient, tok: str, after: str | None = None, limit: int = 100) -> dict[str, Any]:
    r = await client.get("/v1/partner/feed", params={"limit": limit, **({"after": after} if after else {})},
                         headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()


async def read_all(client: httpx.AsyncClient, tok: str, after: str | None = None, limit: int = 3) -> tuple[list[dict[str, Any]], str | None]:
    items: list[dict[str, Any]] = []
    while True:
        page = await read_feed(client, tok, after, limit)
        items += page["items"]
        if not page["items"]:
            return items, after
        after = page["next_cursor"]


async def status_action(client: httpx.AsyncClient, tok: str, licence_id: str, action: str) -> None:
    r = await client.post(f"/v1/licences/{licence_id}/{action}", json={"reason": "检查发现问题"}, headers=bearer(tok))
    assert r.status_code == 200, r.text


async def test_subscriptions_and_the_feed(suite, client, token, officer) -> None:
    js, zj, reviewer = await partner_token(client, "partner-js"), await partner_token(client, "partner-zj"), await token("reviewer")
    followed, other, unfollowed = (await document(client, officer, provinces=["JS", "ZJ"]),
                                   await document(client, officer, provinces=["JS", "ZJ"]),
                                   await document(client, officer, provinces=["JS"]))
    _, start = await read_all(client, js)
    await status_action(client, reviewer, followed["id"], "suspend")  # before subscribing: not in the feed
    r = await subscribe(client, js, followed)
    assert r.status_code == 201, r.text
    subscription = r.json()
    assert subscription["licence_id"] == followed["id"]
    assert (await subscribe(client, js, followed)).status_code == 409
    assert (await subscribe(client, zj, other)).status_code == 201  # Zhejiang follows the other one
    conn = await suite.db("licences")
    try:
        rows = await conn.fetchval("SELECT count(*) FROM partner_subscriptions")
        assert (await subscribe(client, zj, unfollowed)).status_code == 404  # bound for Jiangsu only
        assert (await client.post("/v1/partner/subscriptions", json={"number": followed["licence_number"]},
                                  headers=bearer(js))).status_code == 422
        assert (await subscribe(client, await token("applicant-company"), followed)).status_code == 403
        assert await conn.fetchval("SELECT count(*) FROM partner_subscriptions") == rows
    finally:
        await conn.close()
    listed = (await client.get("/v1/partner/subscriptions", headers=bearer(js))).json()["items"]
    assert subscription["id"] in [s["id"] for s in listed] and other["id"] not in [s["licence_id"] for s in listed]

    await status_action(client, reviewer, followed["id"], "reinstate")
    await status_action(client, reviewer, other["id"], "revoke")      # Zhejiang's, not Jiangsu's
    await status_action(client, reviewer, unfollowed["id"], "revoke")  # nobody's
    r = await client.post(f"/v1/licences/{followed['id']}/versions", headers=bearer(officer),
                          json={"kind": "change", "reason": "品种变更", "data_changes": {"plant_species": ["银杏"]}})
    assert r.status_code in (200, 201), r.text
    await status_action(client, reviewer, followed["id"], "revoke")
    items, end = await read_all(client, js, start, limit=1)
    assert [(i["licence_id"], i["change"]) for i in items] == [
        (followed["id"], "reinstated"), (followed["id"], "changed"), (followed["id"], "revoked")]
    assert items[-1]["status"] == "revoked" and items[1]["version"] == items[0]["version"] + 1
    # The cursor is stable: the same page again from the same place; nothing after the end.
    assert (await read_feed(client, js, start, 2))["items"] == items[:2]
    assert (await read_feed(client, js, end))["items"] == [] and (await read_feed(client, js, end))["next_cursor"] == end
    zj_items, _ = await read_all(client, zj)
    assert [(i["licence_id"], i["change"]) for i in zj_items] == [(other["id"], "revoked")]
    for bad in ("abc", "-1", "1.5"):
        assert (await client.get("/v1/partner/feed", params={"after": bad}, headers=bearer(js))).status_code == 422
    assert (await client.get("/v1/partner/feed", headers=bearer(await token("applicant-company")))).status_code == 403

    # Deleted: its changes leave the feed; deleting again, or another's subscription, is 404.
    zj_subscription = (await client.get("/v1/partner/subscriptions", headers=bearer(zj))).json()["items"][0]["id"]
    assert (await client.delete(f"/v1/partner/subscriptions/{zj_subscription}", headers=bearer(js))).status_code == 404
    assert (await client.delete(f"/v1/partner/subscriptions/{subscription['id']}", headers=bearer(js))).status_code == 204
    assert (await client.delete(f"/v1/partner/subscriptions/{subscription['id']}", headers=bearer(js))).status_code == 404
    assert (await read_all(client, js, start))[0] == []


async def test_the_feed_has_no_gap_and_no_repeat_under_concurrent_changes(client, token, officer) -> None:
    js, reviewer = await partner_token(client, "partner-js"), await token("reviewer")
    docs = [await document(client, officer, provinces=["JS"]) for _ in range(8)]
    _, start = await read_all(client, js)
    for doc in docs:
        assert (await subscribe(client, js, doc)).status_code == 201
    seen: list[dict[str, Any]] = []
    cursor = start
    done = asyncio.Event()

    async def poll() -> None:
        nonlocal cursor
        while not done.is_set():
            page = await read_feed(client, js, cursor, 5)
            seen.extend(page["items"])
            cursor = page["next_cursor"]

    async def churn(doc: dict[str, Any]) -> None:
        for action in ("suspend", "reinstate", "suspend", "reinstate"):
            await status_action(client, reviewer, doc["id"], action)

    poller = asyncio.create_task(poll())
    await asyncio.gather(*(churn(d) for d in docs))
    done.set()
    await poller
    rest, _ = await read_all(client, js, cursor)
    seen += rest
    everything, _ = await read_all(client, js, start, limit=100)
    assert len(everything) == 8 * 4
    assert [i["cursor"] for i in seen] == [i["cursor"] for i in everything]  # no gap, no repeat, in order


async def test_a_partner_token_issued_for_reading_cannot_subscribe(suite, client, token, officer) -> None:
    """Down-scoped at the token endpoint: the feed and the look-up work, a subscription is refused for its missing
    ``partner:write`` by the gateway and by svc-licences itself, and nothing is written."""
    r = await client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "partner-js",
                                               "client_secret": "demo", "scope": "partner:read"})
    assert r.status_code == 200 and r.json()["scope"] == "partner:read", r.text
    reader = r.json()["access_token"]
    doc = await document(client, officer, provinces=["JS"])
    body = {"number": doc["licence_number"], "holder_code": COMPANY_USCC}
    assert (await look_up(client, reader, doc["licence_number"], COMPANY_USCC)).status_code == 200
    assert (await client.get("/v1/partner/feed", headers=bearer(reader))).status_code == 200
    conn = await suite.db("licences")
    try:
        before = await conn.fetchval("SELECT count(*) FROM partner_subscriptions")
        for base in (None, suite.direct("licences")):
            async with httpx.AsyncClient(base_url=base or suite.gateway, timeout=30) as via:
                refused = await via.post("/v1/partner/subscriptions", json=body, headers=bearer(reader))
                assert refused.status_code == 403 and refused.json()["missing_scopes"] == ["partner:write"], refused.text
        assert await conn.fetchval("SELECT count(*) FROM partner_subscriptions") == before
    finally:
        await conn.close()
