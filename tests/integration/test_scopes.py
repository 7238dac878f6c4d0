"""Scopes enforced where the work is: a token issued for less than its user's roles allow (down-scoped,
``scope=`` at the token endpoint) is refused what it was not issued for, with 403 problem+json naming the
missing scope, by the gateway AND by the service itself when asked directly, and nothing is written."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from support import all_materials, bearer, matter, public_service_item, valid_form, wait_for_verdict


async def scoped_token(client: httpx.AsyncClient, username: str, scope: str) -> str:
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": "demo",
                                               "scope": scope})
    assert r.status_code == 200 and r.json()["scope"] == scope, r.text
    return r.json()["access_token"]


def assert_insufficient(r: httpx.Response, missing: str) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/insufficient-scope") and body["title_zh"] and body["title_en"]
    assert body["missing_scopes"] == [missing] and missing in body["detail"]


async def count(suite, service: str, sql: str, *args: Any) -> int:
    conn = await suite.db(service)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def both_refuse(suite, client, service: str, method: str, path: str, tok: str, missing: str,
                      **kwargs: Any) -> None:
    """The gateway refuses it at the door, and the service refuses it too when reached directly."""
    assert_insufficient(await client.request(method, path, headers=bearer(tok), **kwargs), missing)
    async with httpx.AsyncClient(base_url=suite.direct(service), timeout=30) as direct:
        assert_insufficient(await direct.request(method, path, headers=bearer(tok), **kwargs), missing)


async def test_an_ops_token_issued_for_reading_the_catalogue_cannot_import_matters(suite, client, token) -> None:
    ops_read = await scoped_token(client, "ops", "matters:read")
    item = public_service_item("LR-GG-771")
    before = await count(suite, "matters", "SELECT count(*) FROM matter_versions")
    await both_refuse(suite, client, "matters", "POST", "/v1/matters/import", ops_read, "matters:admin", json=[item])
    assert await count(suite, "matters", "SELECT count(*) FROM matter_versions") == before
    assert await count(suite, "matters", "SELECT count(*) FROM matter_versions WHERE code = 'LR-GG-771'") == 0
    # What it was issued for works; the same item imports with the ops user's full token.
    assert (await client.get("/v1/matters/LR-XK-008", headers=bearer(ops_read))).status_code == 200
    r = await client.post("/v1/matters/import", json=[item], headers=bearer(await token("ops")))
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text


async def test_a_persons_read_only_token_cannot_withdraw_their_application(suite, client, token) -> None:
    person = await token("applicant-person")
    read_only = await scoped_token(client, "applicant-person", "applications:read")
    m = await matter(client, person, "LR-XK-008")
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": valid_form(m, 7),
                                                    "materials": await all_materials(client, person, m)},
                          headers={**bearer(person), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    application = await wait_for_verdict(client, person, r.json()["id"])
    path = f"/v1/applications/{application['id']}"
    await both_refuse(suite, client, "matters", "POST", f"{path}/actions/withdraw", read_only, "applications:write",
                      json={"reason": "不再需要"})
    # Still as it was: same status, no withdraw step; the token reads what it was issued for.
    now = await client.get(path, headers=bearer(read_only))
    assert now.status_code == 200 and now.json()["status"] == application["status"] != "withdrawn"
    timeline = (await client.get(f"{path}/timeline", headers=bearer(read_only))).json()["items"]
    assert "withdrawn" not in [s["status"] for s in timeline]
    assert await count(suite, "matters", "SELECT count(*) FROM application_steps WHERE application_id = $1 "
                                         "AND action = 'withdraw'", application["id"]) == 0
    r = await client.post(f"{path}/actions/withdraw", json={"reason": "不再需要"}, headers=bearer(person))
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text


# One write per service, each by the user whose role may do it, with a token issued for reading only.
WRITES = [
    ("matters", "applicant-company", "applications:read", "POST", "/v1/bundles", "applications:write",
     "SELECT count(*) FROM bundles"),
    ("prequal", "reviewer", "rulesets:read", "POST", "/v1/prequal/rulesets/LR-XK-008", "rulesets:write",
     "SELECT count(*) FROM rulesets"),
    ("licences", "applicant-company", "licences:read", "POST", "/v1/grants", "licences:write",
     "SELECT count(*) FROM grants"),
    ("helpdesk", "applicant-person", "helpdesk:read", "POST", "/v1/tickets", "helpdesk:write",
     "SELECT count(*) FROM tickets"),
    ("knowledge", "editor", "knowledge:read", "POST", "/v1/knowledge/entries", "knowledge:write",
     "SELECT count(*) FROM entries"),
    ("helpdesk", "ops", "helpdesk:read", "PUT", "/v1/calendar/2031", "helpdesk:admin",
     "SELECT count(*) FROM calendar_submissions"),
    ("licences", "reviewer", "licences:read", "POST", "/v1/licences/L-none/revoke", "licences:manage",
     "SELECT count(*) FROM licence_status_changes"),
    ("booking", "applicant-person", "booking:read", "POST", "/v1/booking/bookings", "booking:write",
     "SELECT count(*) FROM bookings"),
    ("booking", "gate", "booking:read", "POST", "/v1/booking/gate/entries", "booking:verify",
     "SELECT count(*) FROM bookings WHERE status = 'entered'"),
    ("booking", "ops", "booking:read", "POST", "/v1/booking/venues", "booking:admin",
     "SELECT count(*) FROM venues"),
]


@pytest.mark.parametrize(("service", "user", "scope", "method", "path", "missing", "rows"), WRITES,
                         ids=[f"{w[0]}:{w[3]} {w[4]}" for w in WRITES])
async def test_a_down_scoped_token_is_refused_writes_by_gateway_and_service(
        suite, client, service: str, user: str, scope: str, method: str, path: str, missing: str,
        rows: str) -> None:
    tok = await scoped_token(client, user, scope)
    before = await count(suite, service, rows)
    await both_refuse(suite, client, service, method, path, tok, missing, json={})
    assert await count(suite, service, rows) == before


async def test_a_token_endpoint_refuses_scopes_beyond_the_users_roles(client: httpx.AsyncClient) -> None:
    r = await client.post("/auth/token", data={"grant_type": "password", "username": "ops", "password": "demo",
                                               "scope": "matters:read applications:write"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    assert "applications:write" in r.json()["error_description"]


async def test_the_merged_openapi_carries_each_operations_scopes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    imported = paths["/v1/matters/import"]["post"]
    assert imported["x-required-scopes"] == ["matters:admin"] and imported["security"] == [{"bearerAuth": ["matters:admin"]}]
    act = paths["/v1/applications/{application_id}/actions/{action}"]["post"]
    assert act["x-required-scopes-by"]["values"]["withdraw"] == ["applications:write"]
    assert act["x-required-scopes-by"]["values"]["approve"] == ["applications:decide"]
    assert paths["/v1/trust-list"]["get"]["security"] == [] and paths["/v1/assistant/sessions"]["post"]["security"] == []
    assert all("x-required-scopes" in op for item in paths.values() for op in item.values() if isinstance(op, dict)
               and op.get("x-upstream"))


async def test_the_routing_table_lists_each_prefixs_declared_scopes(client: httpx.AsyncClient) -> None:
    routes = {r["prefix"]: r for r in (await client.get("/v1/gateway/routes")).json()}
    assert {"applications:read", "applications:write", "applications:accept", "applications:decide"} <= \
        set(routes["/v1/applications"]["scopes"])
    assert routes["/v1/assistant"]["public"] and routes["/v1/assistant"]["scopes"] == []


async def test_readiness_shows_whose_scope_declarations_the_door_enforces(client: httpx.AsyncClient, token) -> None:
    await client.get("/v1/gateway/routes")  # loads every service's declarations
    ready = (await client.get("/readyz")).json()
    assert ready["scope_declarations"] == {s: True for s in ("matters", "prequal", "licences", "helpdesk", "knowledge",
                                                             "notifications", "booking")}
