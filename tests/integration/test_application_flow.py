"""One application from submission to the pre-review verdict, through the gateway, with every
refusal a front-end can meet on the way and proof that a refused request wrote nothing."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from support import all_materials, bearer, matter, valid_form, wait_for_verdict

pytestmark = pytest.mark.integration






# What filing an application writes; not the pre-review's steps and events for earlier applications,
# which keep arriving asynchronously while a test looks.
WRITTEN_BY_A_SUBMISSION = ("applications", "application_steps WHERE action IN ('submit', 'save_draft')",
                           "outbox WHERE envelope -> 'data' ->> 'from_status' IS NULL", "idempotency_keys")


async def count_rows(suite, table: str) -> int:
    conn = await suite.db("matters")
    try:
        return await conn.fetchval(f"SELECT count(*) FROM {table}")  # fixed table names
    finally:
        await conn.close()


async def test_catalogue_lists_18_matters_page_by_page(client: httpx.AsyncClient, token) -> None:
    tok = await token("applicant-person")
    codes: list[str] = []
    cursor = None
    pages = 0
    while True:
        r = await client.get("/v1/matters", params={"limit": 5, **({"cursor": cursor} if cursor else {})},
                             headers=bearer(tok))
        assert r.status_code == 200
        body = r.json()
        assert len(body["items"]) <= 5
        codes += [m["code"] for m in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    # The 18 matters come first; public-service items (公共服务事项) imported by ops may follow them.
    assert len(codes) == len(set(codes)) >= 18 and pages == -(-len(codes) // 5)
    assert codes[:18] == [f"LR-XK-{i:03d}" for i in range(1, 15)] + [f"LR-BA-{i:03d}" for i in range(1, 5)]
    licences = (await client.get("/v1/matters", params={"kind": "licence", "limit": 100}, headers=bearer(tok))).json()
    assert len(licences["items"]) == 14 and licences["next_cursor"] is None
    found = (await client.get("/v1/matters", params={"q": "迁移树木"}, headers=bearer(tok))).json()["items"]
    assert [m["name_zh"] for m in found] == ["对迁移树木的许可"]


async def test_matter_detail_has_typed_fields_and_materials(client: httpx.AsyncClient, token) -> None:
    m = await matter(client, await token("applicant-company"), "LR-XK-002")
    assert m["name_zh"] == "城市建筑垃圾处置核准" and m["kind"] == "licence"
    assert m["statutory_days"] >= m["promised_days"] > 0
    assert all({"key", "label", "type", "required"} <= set(f) for f in m["fields"])
    assert all({"code", "name", "required"} <= set(x) for x in m["materials"])
    assert all(f["options"] for f in m["fields"] if f["type"] == "enum")


@pytest.mark.parametrize(("query", "status"), [
    ({"cursor": "!!not-a-cursor!!"}, 400), ({"limit": 0}, 422), ({"limit": 101}, 422), ({"kind": "permit"}, 422),
])
async def test_catalogue_bad_queries(client: httpx.AsyncClient, token, query: dict, status: int) -> None:
    r = await client.get("/v1/matters", params=query, headers=bearer(await token("officer")))
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")


async def test_unknown_matter_is_404_problem(client: httpx.AsyncClient, token) -> None:
    r = await client.get("/v1/matters/LR-XK-999", headers=bearer(await token("officer")))
    assert r.status_code == 404 and r.json()["type"].endswith("/not-found")


def _field_case(typ: str, value: Any):
    def build(ms: list[dict[str, Any]]) -> dict[str, Any]:
        m, key = next((m, f["key"]) for m in ms for f in m["fields"] if f["type"] == typ)
        return {"matter_code": m["code"], "form": {key: value}}
    return build


BAD_SUBMISSIONS = {
    "unknown field": lambda ms: {"matter_code": ms[0]["code"], "form": {"no_such_field": 1}, "materials": {}},
    "integer given as text": _field_case("integer", "three"),
    "boolean as integer": _field_case("integer", True),
    "decimal given as text": _field_case("decimal", "12.5 平方米"),
    "enum value not offered": _field_case("enum", "nonsense"),
    "date not ISO": _field_case("date", "2026/12/01"),
    "impossible date": _field_case("date", "2026-02-30"),
    "boolean given as text": _field_case("boolean", "yes"),
    "text too long": _field_case("string", "长" * 5000),
    "identifier not text": _field_case("uscc", 913101151234567890),
    "unknown material": lambda ms: {"matter_code": ms[0]["code"], "materials": {"no_such_material": "mat-1"}},
    "empty material id": lambda ms: {"matter_code": ms[0]["code"], "materials": {ms[0]["materials"][0]["code"]: "  "}},
    "material id not text": lambda ms: {"matter_code": ms[0]["code"], "materials": {ms[0]["materials"][0]["code"]: 5}},
    "unknown matter": lambda ms: {"matter_code": "LR-XK-999", "form": {}},
    "missing matter_code": lambda ms: {"form": {}},
    "form not an object": lambda ms: {"matter_code": ms[0]["code"], "form": ["a"]},
    "extra top-level property": lambda ms: {"matter_code": ms[0]["code"], "status": "approved"},
}


def _key(m: dict[str, Any], typ: str) -> str:
    return next(f["key"] for f in m["fields"] if f["type"] == typ)


@pytest.fixture(scope="module")
async def all_matters(client: httpx.AsyncClient, token) -> list[dict[str, Any]]:
    tok = await token("applicant-company")
    listing = (await client.get("/v1/matters", params={"limit": 100}, headers=bearer(tok))).json()["items"]
    return [await matter(client, tok, m["code"]) for m in listing]


@pytest.mark.parametrize("case", sorted(BAD_SUBMISSIONS))
async def test_bad_submissions_are_422_and_write_nothing(suite, client, token, all_matters, case: str) -> None:
    tok = await token("applicant-company")
    before = [await count_rows(suite, t) for t in WRITTEN_BY_A_SUBMISSION]
    r = await client.post("/v1/applications", json=BAD_SUBMISSIONS[case](all_matters),
                          headers={**bearer(tok), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 422 and body["title_zh"] and body["title_en"] and body["errors"]
    assert all(e["field"] for e in body["errors"])
    after = [await count_rows(suite, t) for t in WRITTEN_BY_A_SUBMISSION]
    assert after == before


async def test_malformed_json_is_422(client: httpx.AsyncClient, token) -> None:
    r = await client.post("/v1/applications", content=b'{"matter_code": ', headers={
        **bearer(await token("applicant-person")), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("user", ["officer", "reviewer", "ops", "agent"])
async def test_staff_cannot_submit_applications(suite, client, token, user: str) -> None:
    tok = await token(user)
    m = await matter(client, tok, "LR-XK-008")
    uploaded = await all_materials(client, await token("applicant-person"), m)
    before = await count_rows(suite, "applications")
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": valid_form(m),
                                                    "materials": uploaded}, headers=bearer(tok))
    assert r.status_code == 403 and r.json()["type"].endswith(("/forbidden", "/insufficient-scope"))
    assert await count_rows(suite, "applications") == before


async def test_partner_cannot_submit_or_read_applications(client: httpx.AsyncClient) -> None:
    tok = (await client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "partner-ah",
                                                  "client_secret": "demo"})).json()["access_token"]
    r = await client.post("/v1/applications", json={"matter_code": "LR-XK-008"}, headers=bearer(tok))
    assert r.status_code == 403
    # Refused at the door: the partner's token has none of the scopes of /v1/applications.
    listing = await client.get("/v1/applications", headers=bearer(tok))
    assert listing.status_code == 403 and "applications:read" in listing.json()["required_scopes"]


async def test_complete_application_passes_pre_review(suite, client, token) -> None:
    tok = await token("applicant-person")
    m = await matter(client, tok, "LR-XK-008")
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": valid_form(m, 1),
                                                    "materials": await all_materials(client, tok, m)}, headers=bearer(tok))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "submitted" and created["matter_version"] == 1
    assert r.headers["location"] == f"/v1/applications/{created['id']}"
    done = await wait_for_verdict(client, tok, created["id"])
    assert done["status"] == "prereviewed", done
    assert done["status_label_zh"] == "预审通过"
    timeline = (await client.get(f"/v1/applications/{created['id']}/timeline", headers=bearer(tok))).json()["items"]
    assert [(s["status"], s["actor"]) for s in timeline] == [("submitted", "u-applicant-person"),
                                                            ("prereviewed", "svc-prequal")]
    assert timeline[0]["occurred_at"] <= timeline[1]["occurred_at"]
    assert timeline[1]["details"]["findings"] == []
    verdicts = await client.get(f"/v1/prequal/applications/{created['id']}/verdicts", headers=bearer(tok))
    assert verdicts.status_code == 200 and verdicts.json()["items"][0]["verdict"] == "passed"


async def test_incomplete_application_is_returned_with_reasons(client: httpx.AsyncClient, token) -> None:
    tok = await token("applicant-company")
    m = await matter(client, tok, "LR-XK-002")
    form = valid_form(m, 2)
    uscc_key = _key(m, "uscc")
    form[uscc_key] = form[uscc_key][:-1] + ("0" if form[uscc_key][-1] != "0" else "1")  # wrong check character
    required_material = next(x["code"] for x in m["materials"] if x["required"])
    materials = {k: v for k, v in (await all_materials(client, tok, m)).items() if k != required_material}
    r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": form, "materials": materials},
                          headers=bearer(tok))
    assert r.status_code == 201
    done = await wait_for_verdict(client, tok, r.json()["id"])
    assert done["status"] == "returned"
    step = done["last_step"]
    assert step["actor"] == "svc-prequal" and step["reason"]
    targets = {f["target"]: f["rule_id"] for f in step["details"]["findings"]}
    assert targets[f"form.{uscc_key}"] == "format-uscc"
    assert targets[f"materials.{required_material}"] == "required-material"
    assert all(f["message_zh"] and f["message_en"] for f in step["details"]["findings"])


async def test_idempotency_key_replays_the_same_application(suite, client, token) -> None:
    tok = await token("applicant-person")
    m = await matter(client, tok, "LR-XK-007")
    payload = {"matter_code": m["code"], "form": valid_form(m, 3), "materials": await all_materials(client, tok, m)}
    key = str(uuid.uuid4())
    before = await count_rows(suite, "applications")
    first = await client.post("/v1/applications", json=payload, headers={**bearer(tok), "Idempotency-Key": key})
    again = await client.post("/v1/applications", json=payload, headers={**bearer(tok), "Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert await count_rows(suite, "applications") == before + 1
    changed = await client.post("/v1/applications", json={**payload, "form": {}},
                                headers={**bearer(tok), "Idempotency-Key": key})
    assert changed.status_code == 422 and changed.json()["type"].endswith("/idempotency-key-reused")
    # The same key from another caller is another request.
    other = await client.post("/v1/applications", json={**payload, "materials": {}},
                              headers={**bearer(await token("applicant-company")), "Idempotency-Key": key})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_concurrent_requests_with_one_key_create_one_application(suite, client, token) -> None:
    tok = await token("applicant-person")
    m = await matter(client, tok, "LR-XK-005")
    payload = {"matter_code": m["code"], "form": valid_form(m, 4), "materials": await all_materials(client, tok, m)}
    key = str(uuid.uuid4())
    before = await count_rows(suite, "applications")
    answers = await asyncio.gather(*(client.post("/v1/applications", json=payload,
                                                 headers={**bearer(tok), "Idempotency-Key": key}) for _ in range(8)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert await count_rows(suite, "applications") == before + 1


async def test_only_the_applicant_and_staff_can_read_an_application(client: httpx.AsyncClient, token) -> None:
    owner = await token("applicant-person")
    m = await matter(client, owner, "LR-XK-008")
    created = (await client.post("/v1/applications", json={"matter_code": m["code"], "form": valid_form(m, 5),
                                                           "materials": await all_materials(client, owner, m)}, headers=bearer(owner))).json()
    path = f"/v1/applications/{created['id']}"
    stranger = await token("applicant-company")
    for p in (path, path + "/timeline", f"/v1/prequal/applications/{created['id']}/verdicts"):
        r = await client.get(p, headers=bearer(stranger))
        assert r.status_code == 404, p
    assert created["id"] not in {a["id"] for a in (await client.get("/v1/applications", headers=bearer(stranger))).json()["items"]}
    assert (await client.get(path, headers=bearer(await token("officer")))).status_code == 200
    assert (await client.get("/v1/applications/does-not-exist", headers=bearer(owner))).status_code == 404
    mine = (await client.get("/v1/applications", params={"matter_code": m["code"]}, headers=bearer(owner))).json()
    assert created["id"] in {a["id"] for a in mine["items"]}


async def test_application_list_paginates_newest_first(client: httpx.AsyncClient, token) -> None:
    tok = await token("applicant-company")
    m = await matter(client, tok, "LR-BA-001")
    ids = []
    for i in range(5):
        r = await client.post("/v1/applications", json={"matter_code": m["code"], "form": valid_form(m, 10 + i),
                                                        "materials": await all_materials(client, tok, m)}, headers=bearer(tok))
        ids.append(r.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, "matter_code": m["code"], **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/v1/applications", params=params, headers=bearer(tok))).json()
        seen += [a["id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen[:5] == list(reversed(ids)) and len(seen) == len(set(seen))
